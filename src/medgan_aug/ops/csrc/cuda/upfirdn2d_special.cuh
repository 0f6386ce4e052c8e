// Compile-time specialisations of upfirdn2d for StyleGAN2's and ADA's hot
// cases, and the table that selects them.
//
// Which calls are specialised
//   2-D filters up to 4x4 taps (setup_filter([1, 3, 3, 1]) and smaller) with
//   the same factors on both axes: up 2 (upsample2d), down 2 (downsample2d)
//   and up 1 down 1 (filter2d); and 1-D (separable) filters up to 4 and up to
//   12 taps (ADA's wavelet filters) with the same three factor pairs, run as
//   a horizontal and a vertical K-tap pass fused in one launch.  channels_last
//   (NHWC) inputs with the same factors and filters up to 4x4 (1-D ones as
//   their outer product) take the 2-D rows through a direct NHWC kernel.
//   Everything else (other factors, per-axis factors that differ, larger
//   filters, 1-D filters over 4 taps in NHWC) runs on the generic kernels of
//   upfirdn2d.cuh.
//
// How they save instructions
//   UP, DOWN and the tap bound K are template parameters.  Every thread
//   computes UP x UP outputs, one per polyphase phase, so which taps meet an
//   input pixel is fixed per thread: its K/UP x K/UP taps per output sit in
//   registers, the tap loops are fully unrolled (2x2 for up 2 with 4 taps),
//   and all divisions by UP and DOWN are by constants (shifts).  A filter
//   smaller than K is handled by a per-thread predicate computed once (a
//   skipped tap is never multiplied, so an infinite input never turns into
//   NaN through a zero tap).
//
// Tile shapes (outputs per block, see kUpfirdn2dSpecialisations)
//   A block of up to 32 x 8 threads computes one output tile per plane: it
//   stages the tile's input (zeros for padding) in shared memory with
//   coalesced row loads, then reads it from there; the same block then moves
//   on to the plane gridDim.y further, reusing the staged taps.  Tiles are 64
//   outputs wide (32 for down 2, whose input rows are twice as wide) so a
//   warp's stores are whole 128-byte lines, and as tall as keeps the float64
//   instantiation under 48 KiB of static shared memory; the halo (K - 1
//   input pixels per axis) then costs 5-25 % extra loads instead of the
//   50-200 % of 8 x 8 tiles.  For down 2 the staged tile is about
//   66 x 66 pixels (17 KiB in float32), for up 2 about 34 x 18, so several
//   blocks fit per SM at float32.  The separable kernel also keeps the
//   horizontal pass's result (staged rows x tile width) in shared memory,
//   which is why its tiles are half as tall for filter and down 2.
//
// NHWC
//   The NHWC kernel stages no input tile: consecutive threads take
//   consecutive channels of one output quad, so every tap's load is one
//   coalesced run over C, and neighbouring quads' reuse of an input pixel is
//   left to the L1 cache.  Its phases are the same for every quad (quads
//   start at multiples of UP), so its taps sit in registers as in the NCHW
//   kernel.
#pragma once

#include <cstdint>
#include <type_traits>

#include "cuda/kernel_common.cuh"
#include "cuda/upfirdn2d_taps.cuh"

namespace medgan_aug::cuda {

constexpr int kUpfirdnThreads = 256;

struct Upfirdn2dSpecialisation {
  int up, down;        // the same on both axes
  int max_taps;        // K: filters of 1..K taps per axis
  bool separable;      // a 1-D filter, run as two K-tap passes
  int tile_w, tile_h;  // outputs per block and plane
};

// The selection table: the first row that matches a call is used, so rows of
// one kind go from the smallest tap bound up.
constexpr Upfirdn2dSpecialisation kUpfirdn2dSpecialisations[] = {
    // 2-D filters up to 4x4.
    {2, 1, 4, false, 64, 32},  // upsample2d
    {1, 2, 4, false, 32, 32},  // downsample2d
    {1, 1, 4, false, 64, 32},  // filter2d
    // 1-D filters: horizontal then vertical pass.
    {2, 1, 4, true, 64, 32},
    {1, 2, 4, true, 32, 16},
    {1, 1, 4, true, 64, 16},
    {2, 1, 12, true, 64, 32},
    {1, 2, 12, true, 32, 16},
    {1, 1, 12, true, 64, 16},
};
constexpr int kUpfirdn2dSpecialisationCount =
    int(sizeof(kUpfirdn2dSpecialisations) / sizeof(kUpfirdn2dSpecialisations[0]));

// Most input pixels `tile` consecutive outputs read along one axis.
__host__ __device__ constexpr int upfirdn_input_span(int tile, int up, int down, int taps) {
  return ((tile - 1) * down + taps + up - 1) / up;
}

// The compile-time constants of specialisation S.
template <int S>
struct Upfirdn2dSpec {
  static constexpr Upfirdn2dSpecialisation row = kUpfirdn2dSpecialisations[S];
  static constexpr int up = row.up, down = row.down, k = row.max_taps, j = k / up;
  static constexpr int out_w = row.tile_w, out_h = row.tile_h;
  static constexpr int in_w = upfirdn_input_span(out_w, up, down, k);
  static constexpr int in_h = upfirdn_input_span(out_h, up, down, k);
  static_assert(up == 1 || down == 1, "a specialisation resamples one way");
  static_assert(up == 1 || up == 2, "phases are computed with up - 1 as a mask");
  static_assert(k % up == 0 && out_w % up == 0 && out_h % up == 0, "whole phases per tile");
  // Staged input, taps, and for separable filters the horizontal pass's rows,
  // in the widest accumulator (double).
  static constexpr int shared_elements = in_w * in_h + (row.separable ? in_h * out_w + k : k * k);
  static_assert(shared_elements * sizeof(double) <= 48 * 1024,
                "static shared memory is limited to 48 KiB per block");
};

// Index of the specialisation that runs a call, or -1 for the generic kernels.
// NHWC calls use the 2-D rows whatever the filter's rank.
inline int upfirdn2d_specialisation(const Upfirdn2dGeometry& g, bool separable, bool nhwc) {
  if (g.up_x != g.up_y || g.down_x != g.down_y) return -1;
  for (int i = 0; i < kUpfirdn2dSpecialisationCount; ++i) {
    const Upfirdn2dSpecialisation& s = kUpfirdn2dSpecialisations[i];
    if (s.separable == (separable && !nhwc) && s.up == g.up_x && s.down == g.down_x &&
        g.taps_w <= s.max_taps && g.taps_h <= s.max_taps) {
      return i;
    }
  }
  return -1;
}

// How a tile's outputs meet its staged input along one axis.  The tile starts
// at output o0 (a multiple of UP).  Thread q computes outputs o0 + UP*q + d,
// d in [0, UP); output d reads staged inputs q*DOWN + offset[d] + j with
// correlation taps phase[d] + UP*j, j in [0, K/UP).  first is the input index
// of staged element 0.
template <int UP>
struct PolyAxis {
  int first;
  int offset[UP];
  int phase[UP];
};

template <int UP, int DOWN>
__device__ __forceinline__ PolyAxis<UP> poly_axis(int o0, int pad0) {
  PolyAxis<UP> p;
  // Upsampled position of the first output's tap 0.
  const int v = o0 * DOWN - pad0;
  p.first = ceil_div_signed(v, UP);
#pragma unroll
  for (int d = 0; d < UP; ++d) {
    // The first tap that meets an input pixel (a multiple of UP); DOWN is 1
    // whenever UP is 2, so output o0 + d sits at v + d.
    const int phase = -(v + d) & (UP - 1);
    p.phase[d] = phase;
    p.offset[d] = (v + d + phase) / UP - p.first;  // exact: a multiple of UP
  }
  return p;
}

// Each output phase's taps, held in registers by the 2-D kernels: w[dy][dx]
// are the J x J taps of output phase (dx, dy), read from the staged K x K
// taps; live_x/live_y mark the taps inside a filter smaller than K.
template <typename acc_t, int UP, int J>
struct PhaseTaps {
  acc_t w[UP][UP][J][J];
  bool live_x[UP][J], live_y[UP][J];
};

template <typename acc_t, int UP, int K, int J>
__device__ __forceinline__ PhaseTaps<acc_t, UP, J> phase_taps(const acc_t* taps,
                                                              const PolyAxis<UP>& px,
                                                              const PolyAxis<UP>& py,
                                                              const Upfirdn2dGeometry& g) {
  PhaseTaps<acc_t, UP, J> t;
#pragma unroll
  for (int d = 0; d < UP; ++d) {
#pragma unroll
    for (int j = 0; j < J; ++j) {
      t.live_x[d][j] = px.phase[d] + UP * j < g.taps_w;
      t.live_y[d][j] = py.phase[d] + UP * j < g.taps_h;
    }
  }
#pragma unroll
  for (int dy = 0; dy < UP; ++dy)
#pragma unroll
    for (int dx = 0; dx < UP; ++dx)
#pragma unroll
      for (int jy = 0; jy < J; ++jy)
#pragma unroll
        for (int jx = 0; jx < J; ++jx)
          t.w[dy][dx][jy][jx] = taps[(py.phase[dy] + UP * jy) * K + px.phase[dx] + UP * jx];
  return t;
}

// Extent of one tile: outputs per thread row and the staged input that they read.
template <int UP, int DOWN, int J>
struct TileExtent {
  int quads, staged;
};
template <int UP, int DOWN, int J>
__host__ __device__ __forceinline__ TileExtent<UP, DOWN, J> tile_extent(int outputs) {
  const int quads = (outputs + UP - 1) / UP;
  return {quads, (quads - 1) * DOWN + UP - 1 + J};
}

// Stage the input pixels [first_y, + rows) x [first_x, + cols) of one plane
// in tile (row pitch `pitch`), zeros outside the image.
template <typename scalar_t, typename acc_t>
__device__ __forceinline__ void stage_input_tile(const scalar_t* src, const Upfirdn2dGeometry& g,
                                                 acc_t* tile, int pitch, int first_x,
                                                 int first_y, int cols, int rows) {
  for (int r = int(threadIdx.y); r < rows; r += int(blockDim.y)) {
    const int iy = first_y + r;
    const bool row_inside = iy >= 0 && iy < g.in_h;
    const scalar_t* line = src + int64_t(iy) * g.in_w;
    for (int c = int(threadIdx.x); c < cols; c += int(blockDim.x)) {
      const int ix = first_x + c;
      tile[r * pitch + c] = row_inside && ix >= 0 && ix < g.in_w ? acc_t(line[ix]) : acc_t(0);
    }
  }
}

// A 2-D filter of up to K x K taps.
template <typename scalar_t, typename acc_t, int S>
__global__ void __launch_bounds__(kUpfirdnThreads)
    upfirdn2d_poly2d_kernel(const Upfirdn2dArgs<scalar_t> a) {
  using P = Upfirdn2dSpec<S>;
  constexpr int UP = P::up, DOWN = P::down, K = P::k, J = P::j;
  __shared__ acc_t taps[K * K];
  __shared__ acc_t tile[P::in_h * P::in_w];
  const Upfirdn2dGeometry& g = a.geo;
  const int tid = int(threadIdx.y * blockDim.x + threadIdx.x);
  stage_taps_2d(a.filter, taps, K, K, tid, int(blockDim.x * blockDim.y));

  const int tiles_x = int(ceil_div(g.out_w, P::out_w));
  const int ox0 = int(blockIdx.x) % tiles_x * P::out_w;
  const int oy0 = int(blockIdx.x) / tiles_x * P::out_h;
  const PolyAxis<UP> px = poly_axis<UP, DOWN>(ox0, g.pad_x0);
  const PolyAxis<UP> py = poly_axis<UP, DOWN>(oy0, g.pad_y0);
  const auto ex = tile_extent<UP, DOWN, J>(min_int(P::out_w, g.out_w - ox0));
  const auto ey = tile_extent<UP, DOWN, J>(min_int(P::out_h, g.out_h - oy0));
  __syncthreads();

  const bool all_live = g.taps_w == K && g.taps_h == K;
  const PhaseTaps<acc_t, UP, J> pt = phase_taps<acc_t, UP, K, J>(taps, px, py, g);
  const auto& w = pt.w;
  const auto& live_x = pt.live_x;
  const auto& live_y = pt.live_y;

  const int64_t in_plane = int64_t(g.in_h) * g.in_w;
  const int64_t out_plane = int64_t(g.out_h) * g.out_w;
  for (int64_t plane = blockIdx.y; plane < g.planes; plane += gridDim.y) {
    stage_input_tile(a.x + plane * in_plane, g, tile, P::in_w, px.first, py.first, ex.staged,
                     ey.staged);
    __syncthreads();
    scalar_t* dst = a.y + plane * out_plane;
    // Instantiated twice: without tests when every tap is live (a full
    // K x K filter, the common case), with the per-tap predicate otherwise.
    const auto compute = [&](auto full) {
      for (int qy = int(threadIdx.y); qy < ey.quads; qy += int(blockDim.y)) {
        for (int qx = int(threadIdx.x); qx < ex.quads; qx += int(blockDim.x)) {
          acc_t sum[UP][UP];
#pragma unroll
          for (int dy = 0; dy < UP; ++dy) {
#pragma unroll
            for (int dx = 0; dx < UP; ++dx) sum[dy][dx] = acc_t(0);
#pragma unroll
            for (int jy = 0; jy < J; ++jy) {
              const acc_t* row = tile + (qy * DOWN + py.offset[dy] + jy) * P::in_w + qx * DOWN;
#pragma unroll
              for (int dx = 0; dx < UP; ++dx)
#pragma unroll
                for (int jx = 0; jx < J; ++jx)
                  if (decltype(full)::value || (live_y[dy][jy] && live_x[dx][jx]))
                    sum[dy][dx] += w[dy][dx][jy][jx] * row[px.offset[dx] + jx];
            }
          }
#pragma unroll
          for (int dy = 0; dy < UP; ++dy) {
            const int oy = oy0 + qy * UP + dy;
#pragma unroll
            for (int dx = 0; dx < UP; ++dx) {
              const int ox = ox0 + qx * UP + dx;
              if (ox < g.out_w && oy < g.out_h)
                dst[int64_t(oy) * g.out_w + ox] = static_cast<scalar_t>(sum[dy][dx]);
            }
          }
        }
      }
    };
    if (all_live) {
      compute(std::true_type{});
    } else {
      compute(std::false_type{});
    }
    // The next plane overwrites the tile.
    __syncthreads();
  }
}

// A 1-D filter of up to K taps: a horizontal pass over every staged row into
// shared memory, then a vertical pass from there to the output.
template <typename scalar_t, typename acc_t, int S>
__global__ void __launch_bounds__(kUpfirdnThreads)
    upfirdn2d_separable_kernel(const Upfirdn2dArgs<scalar_t> a) {
  using P = Upfirdn2dSpec<S>;
  constexpr int UP = P::up, DOWN = P::down, K = P::k, J = P::j;
  __shared__ acc_t taps[K];
  __shared__ acc_t tile[P::in_h * P::in_w];
  __shared__ acc_t mid[P::in_h * P::out_w];
  const Upfirdn2dGeometry& g = a.geo;
  const int tid = int(threadIdx.y * blockDim.x + threadIdx.x);
  for (int t = tid; t < K; t += int(blockDim.x * blockDim.y))
    taps[t] = t < g.taps_w ? filter_tap_1d<acc_t>(a.filter, t) : acc_t(0);

  const int tiles_x = int(ceil_div(g.out_w, P::out_w));
  const int ox0 = int(blockIdx.x) % tiles_x * P::out_w;
  const int oy0 = int(blockIdx.x) / tiles_x * P::out_h;
  const PolyAxis<UP> px = poly_axis<UP, DOWN>(ox0, g.pad_x0);
  const PolyAxis<UP> py = poly_axis<UP, DOWN>(oy0, g.pad_y0);
  const auto ex = tile_extent<UP, DOWN, J>(min_int(P::out_w, g.out_w - ox0));
  const auto ey = tile_extent<UP, DOWN, J>(min_int(P::out_h, g.out_h - oy0));
  const int mid_cols = ex.quads * UP;
  __syncthreads();

  acc_t wx[UP][J], wy[UP][J];
  bool live_x[UP][J], live_y[UP][J];
  const bool all_live = g.taps_w == K && g.taps_h == K;
#pragma unroll
  for (int d = 0; d < UP; ++d) {
#pragma unroll
    for (int j = 0; j < J; ++j) {
      live_x[d][j] = px.phase[d] + UP * j < g.taps_w;
      live_y[d][j] = py.phase[d] + UP * j < g.taps_h;
      wx[d][j] = taps[px.phase[d] + UP * j];
      wy[d][j] = taps[py.phase[d] + UP * j];
    }
  }

  const int64_t in_plane = int64_t(g.in_h) * g.in_w;
  const int64_t out_plane = int64_t(g.out_h) * g.out_w;
  for (int64_t plane = blockIdx.y; plane < g.planes; plane += gridDim.y) {
    stage_input_tile(a.x + plane * in_plane, g, tile, P::in_w, px.first, py.first, ex.staged,
                     ey.staged);
    __syncthreads();
    // Horizontal pass: the tile's output columns for every staged row.
    // (Both passes are instantiated with and without the per-tap test, as in
    // the 2-D kernel.)
    const auto horizontal = [&](auto full) {
      for (int r = int(threadIdx.y); r < ey.staged; r += int(blockDim.y)) {
        const acc_t* row = tile + r * P::in_w;
        for (int qx = int(threadIdx.x); qx < ex.quads; qx += int(blockDim.x)) {
#pragma unroll
          for (int dx = 0; dx < UP; ++dx) {
            acc_t sum(0);
#pragma unroll
            for (int j = 0; j < J; ++j)
              if (decltype(full)::value || live_x[dx][j])
                sum += wx[dx][j] * row[qx * DOWN + px.offset[dx] + j];
            mid[r * P::out_w + qx * UP + dx] = sum;
          }
        }
      }
    };
    if (all_live) {
      horizontal(std::true_type{});
    } else {
      horizontal(std::false_type{});
    }
    __syncthreads();
    // Vertical pass, one output column per thread of a row.
    scalar_t* dst = a.y + plane * out_plane;
    const auto vertical = [&](auto full) {
      for (int qy = int(threadIdx.y); qy < ey.quads; qy += int(blockDim.y)) {
        for (int lx = int(threadIdx.x); lx < mid_cols; lx += int(blockDim.x)) {
          const int ox = ox0 + lx;
#pragma unroll
          for (int dy = 0; dy < UP; ++dy) {
            acc_t sum(0);
#pragma unroll
            for (int j = 0; j < J; ++j)
              if (decltype(full)::value || live_y[dy][j])
                sum += wy[dy][j] * mid[(qy * DOWN + py.offset[dy] + j) * P::out_w + lx];
            const int oy = oy0 + qy * UP + dy;
            if (ox < g.out_w && oy < g.out_h)
              dst[int64_t(oy) * g.out_w + ox] = static_cast<scalar_t>(sum);
          }
        }
      }
    };
    if (all_live) {
      vertical(std::true_type{});
    } else {
      vertical(std::false_type{});
    }
    // The next plane overwrites the tile and the horizontal pass.
    __syncthreads();
  }
}

// A 2-D filter of up to K x K taps on NHWC tensors: each thread computes the
// UP x UP outputs of one quad for channels threadIdx.x, + blockDim.x, ...,
// reading the input straight from global memory.
template <typename scalar_t, typename acc_t, int S>
__global__ void __launch_bounds__(kUpfirdnThreads)
    upfirdn2d_poly2d_nhwc_kernel(const Upfirdn2dArgs<scalar_t> a) {
  using P = Upfirdn2dSpec<S>;
  constexpr int UP = P::up, DOWN = P::down, K = P::k, J = P::j;
  __shared__ acc_t taps[K * K];
  const Upfirdn2dGeometry& g = a.geo;
  stage_taps_2d(a.filter, taps, K, K, int(threadIdx.y * blockDim.x + threadIdx.x),
                int(blockDim.x * blockDim.y));
  // Quads start at multiples of UP, so one plan serves them all: quad q
  // reads inputs q*DOWN + first + offset[d] + j.
  const PolyAxis<UP> px = poly_axis<UP, DOWN>(0, g.pad_x0);
  const PolyAxis<UP> py = poly_axis<UP, DOWN>(0, g.pad_y0);
  __syncthreads();

  const PhaseTaps<acc_t, UP, J> pt = phase_taps<acc_t, UP, K, J>(taps, px, py, g);
  const auto& w = pt.w;
  const auto& live_x = pt.live_x;
  const auto& live_y = pt.live_y;

  const int channels = g.channels;
  const int quads_w = (g.out_w + UP - 1) / UP;
  const int quads_h = (g.out_h + UP - 1) / UP;
  const int64_t quads = g.planes / channels * quads_h * quads_w;
  const int64_t row_pitch = int64_t(g.in_w) * channels;
  // Threads in x take consecutive channels of one quad (coalesced loads and
  // stores); threads in y, and the grid, take quads.  A quad's positions and
  // bounds are worked out once for all its channels.
  for (int64_t quad = int64_t(blockIdx.x) * blockDim.y + threadIdx.y; quad < quads;
       quad += int64_t(gridDim.x) * blockDim.y) {
    const int qx = int(quad % quads_w);
    const int qy = int(quad / quads_w % quads_h);
    const int64_t n = quad / quads_w / quads_h;
    const scalar_t* src = a.x + n * g.in_h * row_pitch;
    scalar_t* dst = a.y + n * g.out_h * g.out_w * channels;
    // Offsets of the taps' rows and columns; a tap outside the image (or
    // the filter) is dropped by a false *_in.
    int64_t row_at[UP][J], col_at[UP][J];
    bool row_in[UP][J], col_in[UP][J];
#pragma unroll
    for (int d = 0; d < UP; ++d) {
#pragma unroll
      for (int j = 0; j < J; ++j) {
        const int iy = qy * DOWN + py.first + py.offset[d] + j;
        const int ix = qx * DOWN + px.first + px.offset[d] + j;
        row_in[d][j] = live_y[d][j] && iy >= 0 && iy < g.in_h;
        col_in[d][j] = live_x[d][j] && ix >= 0 && ix < g.in_w;
        row_at[d][j] = int64_t(iy) * row_pitch;
        col_at[d][j] = int64_t(ix) * channels;
      }
    }
    for (int c = int(threadIdx.x); c < channels; c += int(blockDim.x)) {
      acc_t sum[UP][UP];
#pragma unroll
      for (int dy = 0; dy < UP; ++dy) {
#pragma unroll
        for (int dx = 0; dx < UP; ++dx) sum[dy][dx] = acc_t(0);
#pragma unroll
        for (int jy = 0; jy < J; ++jy) {
          const scalar_t* line = src + row_at[dy][jy] + c;
#pragma unroll
          for (int dx = 0; dx < UP; ++dx)
#pragma unroll
            for (int jx = 0; jx < J; ++jx)
              if (row_in[dy][jy] && col_in[dx][jx])
                sum[dy][dx] += w[dy][dx][jy][jx] * acc_t(line[col_at[dx][jx]]);
        }
      }
#pragma unroll
      for (int dy = 0; dy < UP; ++dy) {
        const int oy = qy * UP + dy;
#pragma unroll
        for (int dx = 0; dx < UP; ++dx) {
          const int ox = qx * UP + dx;
          if (ox < g.out_w && oy < g.out_h)
            dst[(int64_t(oy) * g.out_w + ox) * channels + c] = static_cast<scalar_t>(sum[dy][dx]);
        }
      }
    }
  }
}

// Block of the NHWC kernel: 32 channels (fewer when C is smaller) by enough
// quads for 256 threads.
inline dim3 upfirdn2d_nhwc_block(int channels) {
  int bx = 1;
  while (bx < channels && bx < 32) bx *= 2;
  return dim3(unsigned(bx), unsigned(kUpfirdnThreads / bx));
}

// Block shape of a specialised launch: up to 32 x 8 threads, fewer for tiles
// smaller than that (tiny planes need fewer threads).
inline dim3 upfirdn2d_special_block(int staged_w, int staged_h) {
  const int bx = staged_w < 32 ? staged_w : 32;
  const int max_by = kUpfirdnThreads / bx;
  const int by = staged_h < max_by ? staged_h : max_by;
  return dim3(unsigned(bx), unsigned(by));
}

}  // namespace medgan_aug::cuda
