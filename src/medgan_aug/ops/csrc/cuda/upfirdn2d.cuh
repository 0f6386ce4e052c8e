// upfirdn2d kernels (upsample by zero insertion, pad, FIR filter, downsample),
// their launch configuration and the host launcher shared by the CUDA and
// the emulated library.  The generic kernels here run every call that the
// specialisations of upfirdn2d_special.cuh do not take.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include "cuda/kernel_common.cuh"
#include "cuda/upfirdn2d_special.cuh"
#include "cuda/upfirdn2d_taps.cuh"

namespace medgan_aug::cuda {

// Shared memory of the generic tiled kernel, in accumulator elements: an input
// tile and the filter taps.
constexpr int kUpfirdnTileCapacity = 4096;
constexpr int kUpfirdnMaxTiledTaps = 256;
static_assert((kUpfirdnTileCapacity + kUpfirdnMaxTiledTaps) * sizeof(double) <= 48 * 1024,
              "static shared memory is limited to 48 KiB per block");
// Output tile sides: tiles start at kUpfirdnMaxTileOut and shrink until
// their input fits; below kUpfirdnMinTileOut the direct kernel is used, as
// the tile would be mostly halo.
constexpr int kUpfirdnMaxTileOut = 64;
constexpr int kUpfirdnMinTileOut = 8;

// One output pixel.  Its taps sit at upsampled positions o * down - pad0 + t;
// only those at multiples of `up` hold an input pixel, so the loops start at
// the first such tap and step by `up`: inserted zeros are never multiplied.
// sample(ix, iy) returns input pixel (ix, iy), zero outside the image.
// tap(ty, tx) returns correlation tap (ty, tx).
template <typename acc_t, typename Tap, typename Sample>
__device__ __forceinline__ acc_t polyphase_sum(const Upfirdn2dGeometry& g, const Tap& tap, int ox,
                                               int oy, const Sample& sample) {
  const int vx = ox * g.down_x - g.pad_x0;
  const int vy = oy * g.down_y - g.pad_y0;
  const int tx0 = positive_mod(-vx, g.up_x);
  const int ty0 = positive_mod(-vy, g.up_y);
  acc_t sum(0);
  int iy = (vy + ty0) / g.up_y;
  for (int ty = ty0; ty < g.taps_h; ty += g.up_y, ++iy) {
    int ix = (vx + tx0) / g.up_x;
    for (int tx = tx0; tx < g.taps_w; tx += g.up_x, ++ix) sum += tap(ty, tx) * sample(ix, iy);
  }
  return sum;
}

// The input pixels along one axis that outputs [first_out, first_out + count)
// read: [first, first + size), possibly partly outside the image.
struct InputSpan {
  int first, size;
};
__host__ __device__ inline InputSpan input_span(int first_out, int count, int up, int down,
                                                int pad0, int taps) {
  const int begin = first_out * down - pad0;
  const int last = (first_out + count - 1) * down - pad0 + taps - 1;
  const int first = ceil_div_signed(begin, up);
  return {first, floor_div(last, up) - first + 1};
}

// Each block computes one output tile of tile_w x tile_h pixels for the
// planes blockIdx.y, blockIdx.y + gridDim.y, ...: it stages the taps and the
// input pixels the tile reads (zeros for padding) in shared memory, then every
// thread computes outputs from there.  NCHW only.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kUpfirdnThreads)
    upfirdn2d_tiled_kernel(const Upfirdn2dArgs<scalar_t> a) {
  __shared__ acc_t taps[kUpfirdnMaxTiledTaps];
  __shared__ acc_t tile[kUpfirdnTileCapacity];
  const Upfirdn2dGeometry& g = a.geo;
  const int tid = int(threadIdx.x);
  const int threads = int(blockDim.x);
  stage_taps_2d(a.filter, taps, g.taps_h, g.taps_w, tid, threads);
  const auto tap = [&](int ty, int tx) { return taps[ty * g.taps_w + tx]; };

  const int tiles_x = int(ceil_div(g.out_w, a.tile_w));
  const int ox0 = int(blockIdx.x) % tiles_x * a.tile_w;
  const int oy0 = int(blockIdx.x) / tiles_x * a.tile_h;
  const int tile_w = a.tile_w < g.out_w - ox0 ? a.tile_w : g.out_w - ox0;
  const int tile_h = a.tile_h < g.out_h - oy0 ? a.tile_h : g.out_h - oy0;
  const InputSpan sx = input_span(ox0, tile_w, g.up_x, g.down_x, g.pad_x0, g.taps_w);
  const InputSpan sy = input_span(oy0, tile_h, g.up_y, g.down_y, g.pad_y0, g.taps_h);
  const auto sample = [&](int ix, int iy) {
    return tile[(iy - sy.first) * sx.size + (ix - sx.first)];
  };

  for (int64_t plane = blockIdx.y; plane < g.planes; plane += gridDim.y) {
    const scalar_t* src = a.x + plane * g.in_h * g.in_w;
    for (int i = tid; i < sx.size * sy.size; i += threads) {
      const int ix = sx.first + i % sx.size;
      const int iy = sy.first + i / sx.size;
      const bool inside = ix >= 0 && ix < g.in_w && iy >= 0 && iy < g.in_h;
      tile[i] = inside ? acc_t(src[int64_t(iy) * g.in_w + ix]) : acc_t(0);
    }
    __syncthreads();
    scalar_t* dst = a.y + plane * g.out_h * g.out_w;
    for (int i = tid; i < tile_w * tile_h; i += threads) {
      const int ox = ox0 + i % tile_w;
      const int oy = oy0 + i / tile_w;
      const acc_t value = polyphase_sum<acc_t>(g, tap, ox, oy, sample);
      dst[int64_t(oy) * g.out_w + ox] = static_cast<scalar_t>(value);
    }
    // The next plane overwrites the tile.
    __syncthreads();
  }
}

// Fallback for what the tiled kernels do not take (tiles that do not fit in
// shared memory, channels_last): one output per thread, read straight from
// global memory.  Outputs are numbered in memory order, so with NHWC the
// threads of a warp are adjacent in C and their loads and stores coalesce.
// The taps are staged in shared memory when they fit, else computed per use.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kUpfirdnThreads)
    upfirdn2d_direct_kernel(const Upfirdn2dArgs<scalar_t> a, bool nhwc) {
  __shared__ acc_t taps[kUpfirdnMaxTiledTaps];
  const Upfirdn2dGeometry& g = a.geo;
  const bool staged = int64_t(g.taps_w) * g.taps_h <= kUpfirdnMaxTiledTaps;
  if (staged) {
    stage_taps_2d(a.filter, taps, g.taps_h, g.taps_w, int(threadIdx.x), int(blockDim.x));
    __syncthreads();
  }
  const int64_t total = g.planes * g.out_h * g.out_w;
  // Instantiated once per tap source, so the staged case's inner loop holds
  // no code of the other.
  const auto run = [&](const auto& tap) {
    for (int64_t i = grid_stride_begin(); i < total; i += grid_stride_step()) {
      int ox, oy;
      const scalar_t* src;
      int64_t pixel_stride;  // between horizontally adjacent input pixels
      if (nhwc) {
        const int64_t c = i % g.channels;
        const int64_t pixel = i / g.channels;
        ox = int(pixel % g.out_w);
        oy = int(pixel / g.out_w % g.out_h);
        const int64_t n = pixel / g.out_w / g.out_h;
        src = a.x + n * g.in_h * g.in_w * g.channels + c;
        pixel_stride = g.channels;
      } else {
        ox = int(i % g.out_w);
        oy = int(i / g.out_w % g.out_h);
        src = a.x + i / g.out_w / g.out_h * g.in_h * g.in_w;
        pixel_stride = 1;
      }
      const auto sample = [&](int ix, int iy) {
        const bool inside = ix >= 0 && ix < g.in_w && iy >= 0 && iy < g.in_h;
        return inside ? acc_t(src[(int64_t(iy) * g.in_w + ix) * pixel_stride]) : acc_t(0);
      };
      a.y[i] = static_cast<scalar_t>(polyphase_sum<acc_t>(g, tap, ox, oy, sample));
    }
  };
  if (staged) {
    run([&](int ty, int tx) { return taps[ty * g.taps_w + tx]; });
  } else {
    run([&](int ty, int tx) { return filter_tap_2d<acc_t>(a.filter, ty, tx); });
  }
}

enum class Upfirdn2dKernel { kDirect, kTiled, kSpecialised, kSpecialisedNhwc };

struct Upfirdn2dLaunchConfig {
  Upfirdn2dKernel kernel;
  int specialisation;  // row of kUpfirdn2dSpecialisations for kSpecialised
  dim3 grid, block;
  int tile_w, tile_h;
};

// Upper bound of the input pixels `tile` consecutive outputs read on one axis.
inline int64_t max_input_span(int64_t tile, int up, int down, int taps) {
  return ceil_div((tile - 1) * down + taps, up);
}

// The kernel and launch shape of a call: a specialisation when one matches,
// else the generic tiled kernel, else the direct one.
inline Upfirdn2dLaunchConfig upfirdn2d_launch_config(const Upfirdn2dGeometry& g,
                                                     bool separable, bool nhwc) {
  const int64_t plane_blocks = g.planes < kMaxGridYZ ? g.planes : kMaxGridYZ;
  const int special = upfirdn2d_specialisation(g, separable, nhwc);
  if (special >= 0 && nhwc) {
    const int up = kUpfirdn2dSpecialisations[special].up;
    const int64_t quads = g.planes / g.channels * ceil_div(g.out_w, up) * ceil_div(g.out_h, up);
    const dim3 block = upfirdn2d_nhwc_block(g.channels);
    const int64_t blocks = ceil_div(quads, block.y);
    return {Upfirdn2dKernel::kSpecialisedNhwc, special,
            dim3(unsigned(blocks < kMaxGridStrideBlocks ? blocks : kMaxGridStrideBlocks)), block,
            0, 0};
  }
  if (special >= 0) {
    const Upfirdn2dSpecialisation& s = kUpfirdn2dSpecialisations[special];
    const int64_t tiles = ceil_div(g.out_w, s.tile_w) * ceil_div(g.out_h, s.tile_h);
    if (tiles <= kMaxGridX) {
      // The first tile is the largest: its staged input sets the block shape.
      const auto extent = [&](int outputs, int tile) {
        const int n = outputs < tile ? outputs : tile;
        const int quads = (n + s.up - 1) / s.up;
        return (quads - 1) * s.down + s.up - 1 + s.max_taps / s.up;
      };
      return {Upfirdn2dKernel::kSpecialised, special, dim3(unsigned(tiles), unsigned(plane_blocks)),
              upfirdn2d_special_block(extent(g.out_w, s.tile_w), extent(g.out_h, s.tile_h)),
              s.tile_w, s.tile_h};
    }
  }
  const int64_t outputs = g.planes * g.out_h * g.out_w;
  const Upfirdn2dLaunchConfig direct{Upfirdn2dKernel::kDirect, -1,
                                     grid_stride_grid(outputs, kUpfirdnThreads),
                                     dim3(kUpfirdnThreads), 0, 0};
  if (nhwc) return direct;
  int tile_w = g.out_w < kUpfirdnMaxTileOut ? g.out_w : kUpfirdnMaxTileOut;
  int tile_h = g.out_h < kUpfirdnMaxTileOut ? g.out_h : kUpfirdnMaxTileOut;
  const auto footprint = [&] {
    return max_input_span(tile_w, g.up_x, g.down_x, g.taps_w) *
           max_input_span(tile_h, g.up_y, g.down_y, g.taps_h);
  };
  while (footprint() > kUpfirdnTileCapacity && (tile_w > 1 || tile_h > 1)) {
    if (tile_w >= tile_h) {
      tile_w = (tile_w + 1) / 2;
    } else {
      tile_h = (tile_h + 1) / 2;
    }
  }
  const int64_t tiles = ceil_div(g.out_w, tile_w) * ceil_div(g.out_h, tile_h);
  const bool tiled = int64_t(g.taps_w) * g.taps_h <= kUpfirdnMaxTiledTaps &&
                     footprint() <= kUpfirdnTileCapacity && tiles <= kMaxGridX &&
                     (tile_w >= kUpfirdnMinTileOut || tile_w == g.out_w) &&
                     (tile_h >= kUpfirdnMinTileOut || tile_h == g.out_h);
  if (!tiled) return direct;
  // Whole warps, enough for the larger of the two per-block loops.
  const int64_t work = footprint() > tile_w * tile_h ? footprint() : tile_w * tile_h;
  const int64_t threads = ceil_div(work, 32) * 32;
  return {Upfirdn2dKernel::kTiled, -1, dim3(unsigned(tiles), unsigned(plane_blocks)),
          dim3(unsigned(threads < kUpfirdnThreads ? threads : kUpfirdnThreads)), tile_w, tile_h};
}

// Launches the specialisation config.specialisation: the switch maps each
// row of kUpfirdn2dSpecialisations to its kernel instantiation.
template <typename Launch, typename scalar_t, typename acc_t, int S = 0>
void launch_upfirdn2d_specialisation(const Upfirdn2dLaunchConfig& config,
                                     const Upfirdn2dArgs<scalar_t>& args) {
  if constexpr (S < kUpfirdn2dSpecialisationCount) {
    if (config.specialisation != S) {
      launch_upfirdn2d_specialisation<Launch, scalar_t, acc_t, S + 1>(config, args);
    } else if constexpr (kUpfirdn2dSpecialisations[S].separable) {
      Launch{}(upfirdn2d_separable_kernel<scalar_t, acc_t, S>, config.grid, config.block, args);
    } else if (config.kernel == Upfirdn2dKernel::kSpecialisedNhwc) {
      Launch{}(upfirdn2d_poly2d_nhwc_kernel<scalar_t, acc_t, S>, config.grid, config.block, args);
    } else {
      Launch{}(upfirdn2d_poly2d_kernel<scalar_t, acc_t, S>, config.grid, config.block, args);
    }
  }
}

// Output length along one axis, after checking that every coordinate the
// kernels derive on this axis fits in an int.
inline int upfirdn2d_output_size(int64_t in, int64_t up, int64_t down, int64_t pad0,
                                 int64_t pad1, int64_t taps, const char* axis) {
  constexpr int64_t kLimit = std::numeric_limits<int>::max();
  const auto fits = [&](int64_t v) { return v >= -kLimit && v <= kLimit; };
  TORCH_CHECK(fits(in) && fits(up) && fits(down) && fits(pad0) && fits(pad1) && fits(taps),
              "upfirdn2d: a size or factor along ", axis, " exceeds the int range");
  const int64_t padded = in * up + pad0 + pad1 - taps;
  const int64_t out = (padded >= 0 ? padded / down : -((-padded + down - 1) / down)) + 1;
  TORCH_CHECK(out >= 1, "upfirdn2d: the output ", axis, " size would be ", out,
              " (input ", in, ", up ", up, ", down ", down, ", padding ", pad0, ", ", pad1,
              ", filter ", taps, "); it must be at least 1");
  TORCH_CHECK(in * up + (pad0 < 0 ? -pad0 : pad0) + (pad1 < 0 ? -pad1 : pad1) + taps +
                      out * down <= kLimit,
              "upfirdn2d: coordinates along ", axis, " exceed the int range");
  return int(out);
}

// The sizes of a call on x [N, C, H, W] with filter f, validated.
inline Upfirdn2dGeometry upfirdn2d_geometry(const at::Tensor& x, const at::Tensor& f, int64_t upx,
                                            int64_t upy, int64_t downx, int64_t downy,
                                            int64_t padx0, int64_t padx1, int64_t pady0,
                                            int64_t pady1) {
  Upfirdn2dGeometry g{};
  g.out_w = upfirdn2d_output_size(x.size(3), upx, downx, padx0, padx1, f.size(-1), "x");
  g.out_h = upfirdn2d_output_size(x.size(2), upy, downy, pady0, pady1, f.size(0), "y");
  g.planes = x.size(0) * x.size(1);
  g.channels = int(x.size(1));
  g.in_w = int(x.size(3));
  g.in_h = int(x.size(2));
  g.up_x = int(upx);
  g.up_y = int(upy);
  g.down_x = int(downx);
  g.down_y = int(downy);
  g.pad_x0 = int(padx0);
  g.pad_y0 = int(pady0);
  g.taps_w = int(f.size(-1));
  g.taps_h = int(f.size(0));
  return g;
}

// The raw filter as the kernels read it (see FilterSource).  The gain is
// applied in f's own dtype, as gain ** (f.dim() / 2): a 1-D filter is scaled
// by sqrt(gain) for each of its two passes, matching the rounding of
// StyleGAN2-ADA.  Filters of a dtype the kernels do not read are converted to
// float32 first (the only case with an extra launch).
inline FilterSource upfirdn2d_filter_source(at::Tensor& f, bool flip_filter, double gain) {
  FilterSource s{};
  switch (f.scalar_type()) {
    case at::kFloat:
      s.dtype = kFilterFloat;
      break;
    case at::kDouble:
      s.dtype = kFilterDouble;
      break;
    case at::kHalf:
      s.dtype = kFilterHalf;
      break;
    case at::kBFloat16:
      s.dtype = kFilterBFloat16;
      break;
    default:
      f = f.to(at::kFloat);
      s.dtype = kFilterFloat;
  }
  s.data = f.data_ptr();
  s.dim = int(f.dim());
  s.stride0 = f.stride(0);
  s.stride1 = f.dim() == 2 ? f.stride(1) : 0;
  s.taps_w = int(f.size(-1));
  s.taps_h = int(f.size(0));
  // The taps are correlated, so a true convolution needs them reversed.
  s.reverse = !flip_filter;
  s.scale = f.dim() == 1 ? std::sqrt(gain) : gain;
  return s;
}

template <typename Launch>
at::Tensor upfirdn2d_op(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                        int64_t downx, int64_t downy, int64_t padx0, int64_t padx1,
                        int64_t pady0, int64_t pady1, bool flip_filter, double gain) {
  TORCH_CHECK(x.dim() == 4, "upfirdn2d: x must be [N, C, H, W], got ", x.sizes());
  TORCH_CHECK(f.dim() == 1 || f.dim() == 2, "upfirdn2d: f must be 1-D or 2-D, got ",
              f.sizes());
  TORCH_CHECK(f.numel() >= 1, "upfirdn2d: f is empty");
  TORCH_CHECK(x.is_floating_point() && f.is_floating_point(),
              "upfirdn2d: x and f must be floating point, got ", x.scalar_type(), " and ",
              f.scalar_type());
  TORCH_CHECK(f.device() == x.device(), "upfirdn2d: x is on ", x.device(), " but f is on ",
              f.device());
  TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1,
              "upfirdn2d: up and down factors must be >= 1, got up (", upx, ", ", upy,
              "), down (", downx, ", ", downy, ")");
  const Upfirdn2dGeometry g = upfirdn2d_geometry(x, f, upx, upy, downx, downy, padx0, padx1,
                                                 pady0, pady1);
  const typename Launch::DeviceGuard guard(x.device());
  // The output keeps x's layout: channels_last stays channels_last (NHWC),
  // anything else becomes NCHW.
  const bool nhwc = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  const at::MemoryFormat format = nhwc ? at::MemoryFormat::ChannelsLast
                                       : at::MemoryFormat::Contiguous;
  at::Tensor y = at::empty({x.size(0), x.size(1), g.out_h, g.out_w},
                           x.options().memory_format(format));
  if (y.numel() == 0) return y;
  const at::Tensor xc = x.contiguous(format);
  at::Tensor filter = f;
  const FilterSource source = upfirdn2d_filter_source(filter, flip_filter, gain);
  const Upfirdn2dLaunchConfig config = upfirdn2d_launch_config(g, f.dim() == 1, nhwc);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "upfirdn2d", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const Upfirdn2dArgs<scalar_t> args{xc.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), g,
                                       source, config.tile_w, config.tile_h};
    switch (config.kernel) {
      case Upfirdn2dKernel::kSpecialised:
      case Upfirdn2dKernel::kSpecialisedNhwc:
        launch_upfirdn2d_specialisation<Launch, scalar_t, acc_t>(config, args);
        break;
      case Upfirdn2dKernel::kTiled:
        Launch{}(upfirdn2d_tiled_kernel<scalar_t, acc_t>, config.grid, config.block, args);
        break;
      case Upfirdn2dKernel::kDirect:
        Launch{}(upfirdn2d_direct_kernel<scalar_t, acc_t>, config.grid, config.block, args,
                 nhwc);
        break;
    }
  });
  return y;
}

}  // namespace medgan_aug::cuda
