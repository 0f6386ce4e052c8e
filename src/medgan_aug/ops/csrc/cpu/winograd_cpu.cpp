// Winograd F(4x4, 3x3) transforms: the C++ CPU backend's 3x3 stride-1
// convolutions (documented in docs/ops.rst, "Winograd convolutions").
//
// A 3x3 correlation computes each 4x4 block of outputs from a 6x6 window of
// inputs, and in the Winograd domain (Lavin & Gray, 2016)
//
//     Y = A^T [ (G g G^T) . (B^T d B) ] A
//
// where the product is element-wise over the 36 transform points.  Summed
// over input channels, the 36 points are 36 independent matrix products
// (at::bmm on the Python side), which take 36 multiply-adds per 16 outputs
// where the direct convolution takes 144; oneDNN's direct convolution already
// runs at the CPU's matmul peak, so this is where a CPU step gets faster.
//
// The interpolation points are 0, 1, -1, 2, -1/2 and infinity.  Against the
// textbook 0, +-1, +-2 they cut the largest float32 error from 5.0e-5 to
// 1.8e-5 on unit-variance 512-channel layers (root mean square 2.7e-6 to
// 1.7e-6), measured over a few point sets.  Each matrix here is derived from
// the points by the Toom-Cook construction: A^T evaluates at the points, G
// interpolates with the Lagrange normalisation, and B^T is the unique matrix
// completing the identity.
//
// The four kernels are two linear maps and their adjoints (so autograd, at
// any order, is these same kernels):
//
//   winograd_input            6x6 windows of x      -> B^T d B    [36, C, T]
//   winograd_input_backward   B V B^T, overlap-added -> x's shape
//   winograd_output           A^T M A, 4x4 blocks    -> y         [N, O, h, w]
//   winograd_output_backward  A dY A^T               -> [36, O, T]
//
// T counts tiles, (n * tiles_y + i) * tiles_x + j.  The 36-point tensors are
// [36, C, T] in memory for NCHW images and [36, T, C] (the same logical shape,
// transposed strides) for channels_last ones, so every loop runs over a
// contiguous innermost dimension: tiles of a row for NCHW, channels for NHWC.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "common/output_pages.h"
#include "common/vector_clones.h"

namespace {

constexpr int64_t kBlock = 4;   // outputs per tile side
constexpr int64_t kWindow = 6;  // inputs per tile side
constexpr int64_t kPoints = kWindow * kWindow;

struct Matrix {
  int rows;
  int cols;
  double v[kWindow][kWindow];
};

constexpr Matrix transposed(const Matrix& m) {
  Matrix t{m.cols, m.rows, {}};
  for (int r = 0; r < m.rows; ++r) {
    for (int c = 0; c < m.cols; ++c) t.v[c][r] = m.v[r][c];
  }
  return t;
}

constexpr Matrix kBt{6,
                     6,
                     {{1, 1.5, -2, -1.5, 1, 0},
                      {0, -1, -2.5, -0.5, 1, 0},
                      {0, 1, 0.5, -2.5, 1, 0},
                      {0, -0.5, -1, 0.5, 1, 0},
                      {0, 2, -1, -2, 1, 0},
                      {0, 1, 1.5, -2, -1.5, 1}}};
constexpr Matrix kB = transposed(kBt);
constexpr Matrix kAt{4,
                     6,
                     {{1, 1, 1, 1, 1, 0},
                      {0, 1, -1, 2, -0.5, 0},
                      {0, 1, 1, 4, 0.25, 0},
                      {0, 1, -1, 8, -0.125, 1}}};
constexpr Matrix kA = transposed(kAt);

// sum_k M[row][k] * v[k]; the zero entries are dropped at compile time (the
// compiler may not drop 0 * v itself, which is NaN for infinite v).
template <const Matrix& M, int Row, typename T, int... K>
inline T combine(const T* v, std::integer_sequence<int, K...>) {
  T acc = T(0);
  ((M.v[Row][K] != 0.0 ? (acc += static_cast<T>(M.v[Row][K]) * v[K]) : acc),
   ...);
  return acc;
}

// The element-wise loops below read and write distinct buffers; saying so
// lets the compiler vectorise them without a run-time check per pointer pair
// (there are up to 72 pairs, beyond what it would version for).
#if defined(__clang__)
#define MEDGAN_INDEPENDENT_ITERATIONS \
  _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define MEDGAN_INDEPENDENT_ITERATIONS _Pragma("GCC ivdep")
#else
#define MEDGAN_INDEPENDENT_ITERATIONS
#endif

// out[r][i] (+)= sum_k M[r][k] * in[k][i] for every row r of M and i < n:
// one matrix applied to `n` columns at once, vectorised over i.
template <const Matrix& M, bool kAccumulate, typename T, int... R>
inline void apply_rows(const T* const* in, T* const* out, int64_t n,
                       std::integer_sequence<int, R...>) {
  constexpr auto cols = std::make_integer_sequence<int, M.cols>{};
  MEDGAN_INDEPENDENT_ITERATIONS
  for (int64_t i = 0; i < n; ++i) {
    T v[M.cols];
    for (int k = 0; k < M.cols; ++k) v[k] = in[k][i];
    if constexpr (kAccumulate) {
      ((out[R][i] += combine<M, R>(v, cols)), ...);
    } else {
      ((out[R][i] = combine<M, R>(v, cols)), ...);
    }
  }
}

template <const Matrix& M, bool kAccumulate, typename T>
MEDGAN_VECTOR_CLONES void apply(const T* const* in, T* const* out,
                                int64_t n) {
  apply_rows<M, kAccumulate>(in, out, n,
                             std::make_integer_sequence<int, M.rows>{});
}

// Geometry shared by the four kernels: `height` x `width` planes cut into
// tiles_y x tiles_x tiles whose windows start at 4 * i - pad_y, 4 * j - pad_x.
struct Tiling {
  int64_t batch, channels, height, width;
  int64_t pad_y, pad_x, tiles_y, tiles_x;
  int64_t tiles() const { return batch * tiles_y * tiles_x; }
  // The columns [first, second) of a scratch row `row_width` wide that lie in
  // the plane; scratch column u is plane column u - pad_x.
  std::pair<int64_t, int64_t> plane_columns(int64_t row_width) const {
    return {std::max<int64_t>(pad_x, 0), std::min(row_width, width + pad_x)};
  }
};

// Plane -> transform domain: each `L.cols`-wide window w of every plane
// becomes L w L^T (L.rows x L.rows points).  NCHW: a band of tiles at a time,
// the vertical pass over whole zero-margined rows, the horizontal one over
// the band's tiles after splitting each row by position within the tile.
template <const Matrix& L, typename T>
void gather_nchw(const T* x, T* domain, const Tiling& g) {
  constexpr int64_t q = L.cols;
  constexpr int64_t p = L.rows;
  const int64_t tiles = g.tiles();
  const int64_t row_width = kBlock * g.tiles_x + q - kBlock;
  at::parallel_for(0, g.batch * g.channels, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> rows(q * row_width, T(0));
    std::vector<T> vertical(p * row_width);
    std::vector<T> phases(q * g.tiles_x);
    const T* row_ptr[q];
    T* vertical_ptr[p];
    const T* phase_ptr[q];
    for (int64_t k = 0; k < p; ++k) vertical_ptr[k] = &vertical[k * row_width];
    for (int64_t r = 0; r < q; ++r) phase_ptr[r] = &phases[r * g.tiles_x];
    // Only the plane's columns of a scratch row are written; the rest stay
    // zero.
    const auto [x0, x1] = g.plane_columns(row_width);
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / g.channels;
      const int64_t c = plane % g.channels;
      const T* src = x + plane * g.height * g.width;
      for (int64_t i = 0; i < g.tiles_y; ++i) {
        for (int64_t k = 0; k < q; ++k) {
          T* row = &rows[k * row_width];
          const int64_t y = kBlock * i - g.pad_y + k;
          if (y < 0 || y >= g.height) {
            std::fill(row + x0, row + std::max(x0, x1), T(0));
          } else {
            std::copy(src + y * g.width + x0 - g.pad_x,
                      src + y * g.width + x1 - g.pad_x, row + x0);
          }
          row_ptr[k] = row;
        }
        apply<L, false>(row_ptr, vertical_ptr, row_width);
        const int64_t t0 = (n * g.tiles_y + i) * g.tiles_x;
        for (int64_t k = 0; k < p; ++k) {
          const T* v = vertical_ptr[k];
          for (int64_t j = 0; j < g.tiles_x; ++j) {
            for (int64_t r = 0; r < q; ++r) {
              phases[r * g.tiles_x + j] = v[kBlock * j + r];
            }
          }
          T* out_ptr[p];
          for (int64_t s = 0; s < p; ++s) {
            out_ptr[s] = domain + ((k * p + s) * g.channels + c) * tiles + t0;
          }
          apply<L, false>(phase_ptr, out_ptr, g.tiles_x);
        }
      }
    }
  });
}

// The same map for NHWC planes, vectorised over the channels of each pixel.
template <const Matrix& L, typename T>
void gather_nhwc(const T* x, T* domain, const Tiling& g) {
  constexpr int64_t q = L.cols;
  constexpr int64_t p = L.rows;
  const int64_t tiles = g.tiles();
  const int64_t ch = g.channels;
  const std::vector<T> zeros(ch, T(0));
  at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> vertical(p * q * ch);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t j = t % g.tiles_x;
      const int64_t i = (t / g.tiles_x) % g.tiles_y;
      const int64_t n = t / (g.tiles_x * g.tiles_y);
      for (int64_t r = 0; r < q; ++r) {
        const int64_t xc = kBlock * j - g.pad_x + r;
        const T* column[q];
        for (int64_t k = 0; k < q; ++k) {
          const int64_t y = kBlock * i - g.pad_y + k;
          const bool inside = y >= 0 && y < g.height && xc >= 0 && xc < g.width;
          column[k] = inside ? x + ((n * g.height + y) * g.width + xc) * ch
                             : zeros.data();
        }
        T* out[p];
        for (int64_t k = 0; k < p; ++k) out[k] = &vertical[(k * q + r) * ch];
        apply<L, false>(column, out, ch);
      }
      for (int64_t k = 0; k < p; ++k) {
        const T* in[q];
        for (int64_t r = 0; r < q; ++r) in[r] = &vertical[(k * q + r) * ch];
        T* out[p];
        for (int64_t s = 0; s < p; ++s) {
          out[s] = domain + ((k * p + s) * tiles + t) * ch;
        }
        apply<L, false>(in, out, ch);
      }
    }
  });
}

// Transform domain -> plane: the L.rows-wide window of each tile receives
// L D L^T, written (kAccumulate = false; windows must not overlap) or added
// (overlapping windows).  Windows are clipped to the plane.  NCHW: per band,
// the horizontal pass over the band's tiles, the vertical one, then each row
// interleaved from its within-tile positions.  An accumulated plane is zeroed
// here, just before its bands add into it, while it is in cache, rather than
// in a separate pass over the whole output.
template <const Matrix& L, bool kAccumulate, typename T>
void scatter_nchw(const T* domain, T* y, const Tiling& g) {
  constexpr int64_t q = L.rows;
  constexpr int64_t p = L.cols;
  const int64_t tiles = g.tiles();
  const int64_t row_width = kBlock * g.tiles_x + q - kBlock;
  const auto [x0, x1] = g.plane_columns(row_width);
  at::parallel_for(0, g.batch * g.channels, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> horizontal(p * q * g.tiles_x);
    std::vector<T> window(q * q * g.tiles_x);
    std::vector<T> row(row_width);
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / g.channels;
      const int64_t c = plane % g.channels;
      T* dst = y + plane * g.height * g.width;
      if constexpr (kAccumulate) std::fill(dst, dst + g.height * g.width, T(0));
      for (int64_t i = 0; i < g.tiles_y; ++i) {
        const int64_t t0 = (n * g.tiles_y + i) * g.tiles_x;
        for (int64_t k = 0; k < p; ++k) {
          const T* in[p];
          for (int64_t s = 0; s < p; ++s) {
            in[s] = domain + ((k * p + s) * g.channels + c) * tiles + t0;
          }
          T* out[q];
          for (int64_t r = 0; r < q; ++r) {
            out[r] = &horizontal[(k * q + r) * g.tiles_x];
          }
          apply<L, false>(in, out, g.tiles_x);
        }
        for (int64_t r = 0; r < q; ++r) {
          const T* in[p];
          for (int64_t k = 0; k < p; ++k) {
            in[k] = &horizontal[(k * q + r) * g.tiles_x];
          }
          T* out[q];
          for (int64_t k = 0; k < q; ++k) {
            out[k] = &window[(k * q + r) * g.tiles_x];
          }
          apply<L, false>(in, out, g.tiles_x);
        }
        for (int64_t k = 0; k < q; ++k) {
          const int64_t yy = kBlock * i - g.pad_y + k;
          if (yy < 0 || yy >= g.height) continue;
          std::fill(row.begin(), row.end(), T(0));
          for (int64_t r = 0; r < q; ++r) {
            const T* w = &window[(k * q + r) * g.tiles_x];
            for (int64_t j = 0; j < g.tiles_x; ++j) row[kBlock * j + r] += w[j];
          }
          T* out_row = dst + yy * g.width - g.pad_x;
          for (int64_t xx = x0; xx < x1; ++xx) {
            if constexpr (kAccumulate) {
              out_row[xx] += row[xx];
            } else {
              out_row[xx] = row[xx];
            }
          }
        }
      }
    }
  });
}

// The same map for NHWC planes.  Overlapping windows touch the tiles next to
// them, so tiles of the same band are done by one thread, and bands two apart
// (which never overlap) in parallel: even bands first, then odd ones.  An
// accumulated output must start zeroed.
template <const Matrix& L, bool kAccumulate, typename T>
void scatter_nhwc(const T* domain, T* y, const Tiling& g) {
  constexpr int64_t q = L.rows;
  constexpr int64_t p = L.cols;
  const int64_t tiles = g.tiles();
  const int64_t ch = g.channels;
  const int64_t bands = g.batch * g.tiles_y;
  const int passes = kAccumulate ? 2 : 1;
  for (int parity = 0; parity < passes; ++parity) {
    at::parallel_for(0, bands, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> horizontal(p * q * ch);
      std::vector<T> discard(ch);
      for (int64_t band = begin; band < end; ++band) {
        const int64_t i = band % g.tiles_y;
        const int64_t n = band / g.tiles_y;
        if (kAccumulate && i % 2 != parity) continue;
        for (int64_t j = 0; j < g.tiles_x; ++j) {
          const int64_t t = band * g.tiles_x + j;
          for (int64_t k = 0; k < p; ++k) {
            const T* in[p];
            for (int64_t s = 0; s < p; ++s) {
              in[s] = domain + ((k * p + s) * tiles + t) * ch;
            }
            T* out[q];
            for (int64_t r = 0; r < q; ++r) {
              out[r] = &horizontal[(k * q + r) * ch];
            }
            apply<L, false>(in, out, ch);
          }
          for (int64_t r = 0; r < q; ++r) {
            const int64_t xc = kBlock * j - g.pad_x + r;
            const T* in[p];
            for (int64_t k = 0; k < p; ++k) {
              in[k] = &horizontal[(k * q + r) * ch];
            }
            T* out[q];
            for (int64_t k = 0; k < q; ++k) {
              const int64_t yy = kBlock * i - g.pad_y + k;
              const bool inside =
                  yy >= 0 && yy < g.height && xc >= 0 && xc < g.width;
              out[k] = inside ? y + ((n * g.height + yy) * g.width + xc) * ch
                              : discard.data();
            }
            apply<L, kAccumulate>(in, out, ch);
          }
        }
      }
    });
  }
}

int64_t tile_count(int64_t outputs) {
  return (outputs + kBlock - 1) / kBlock;
}

bool is_channels_last(const at::Tensor& t) {
  return t.dim() == 4 &&
         t.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
}

// A [36, C, T] tensor laid out [36, C, T] (NCHW) or [36, T, C] (NHWC).
at::Tensor empty_domain(int64_t channels, int64_t tiles, bool channels_last,
                        const at::TensorOptions& options) {
  if (channels_last) {
    return at::empty({kPoints, tiles, channels}, options).transpose(1, 2);
  }
  return at::empty({kPoints, channels, tiles}, options);
}

// A dense copy of a [36, C, T] tensor in the layout the kernels read.
at::Tensor dense_domain(const at::Tensor& d, bool channels_last) {
  return channels_last ? d.transpose(1, 2).contiguous() : d.contiguous();
}

void check_domain(const at::Tensor& d, const char* name) {
  TORCH_CHECK(d.dim() == 3 && d.size(0) == kPoints, name,
              ": expected a [36, C, T] tensor of Winograd points, got shape ",
              d.sizes());
  TORCH_CHECK(d.scalar_type() == at::kFloat || d.scalar_type() == at::kDouble,
              name, ": only float32 and float64 are supported, got ",
              d.scalar_type());
}

void check_image(const at::Tensor& x, const char* name) {
  TORCH_CHECK(x.dim() == 4, name, ": expected a 4-D [N, C, H, W] tensor, got ",
              x.dim(), "-D");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              name, ": only float32 and float64 are supported, got ",
              x.scalar_type());
}

template <const Matrix& L>
void gather(const at::Tensor& image, at::Tensor& domain, const Tiling& g,
            bool channels_last) {
  AT_DISPATCH_FLOATING_TYPES(image.scalar_type(), "winograd_gather", [&] {
    const scalar_t* src = image.const_data_ptr<scalar_t>();
    scalar_t* dst = domain.mutable_data_ptr<scalar_t>();
    if (channels_last) {
      gather_nhwc<L>(src, dst, g);
    } else {
      gather_nchw<L>(src, dst, g);
    }
  });
}

template <const Matrix& L, bool kAccumulate>
void scatter(const at::Tensor& domain, at::Tensor& image, const Tiling& g,
             bool channels_last) {
  AT_DISPATCH_FLOATING_TYPES(domain.scalar_type(), "winograd_scatter", [&] {
    const scalar_t* src = domain.const_data_ptr<scalar_t>();
    scalar_t* dst = image.mutable_data_ptr<scalar_t>();
    if (channels_last) {
      scatter_nhwc<L, kAccumulate>(src, dst, g);
    } else {
      scatter_nchw<L, kAccumulate>(src, dst, g);
    }
  });
}

at::Tensor winograd_input_cpu(const at::Tensor& x, int64_t pad_y,
                              int64_t pad_x) {
  check_image(x, "winograd_input");
  TORCH_CHECK(pad_y >= 0 && pad_x >= 0,
              "winograd_input: padding must be >= 0, got (", pad_y, ", ",
              pad_x, ")");
  const int64_t out_h = x.size(2) + 2 * pad_y - 2;
  const int64_t out_w = x.size(3) + 2 * pad_x - 2;
  TORCH_CHECK(out_h >= 1 && out_w >= 1,
              "winograd_input: a 3x3 convolution of a ", x.size(2), " x ",
              x.size(3), " image with padding (", pad_y, ", ", pad_x,
              ") is empty");
  const bool channels_last = is_channels_last(x);
  const Tiling g{x.size(0), x.size(1), x.size(2),         x.size(3),
                 pad_y,     pad_x,     tile_count(out_h), tile_count(out_w)};
  at::Tensor domain =
      empty_domain(g.channels, g.tiles(), channels_last, x.options());
  if (domain.numel() == 0) return domain;
  medgan_aug::advise_huge_pages(domain.data_ptr(), domain.nbytes());
  const at::Tensor image = x.contiguous(channels_last
                                            ? at::MemoryFormat::ChannelsLast
                                            : at::MemoryFormat::Contiguous);
  gather<kBt>(image, domain, g, channels_last);
  return domain;
}

at::Tensor winograd_input_backward_cpu(const at::Tensor& grad, int64_t batch,
                                       int64_t height, int64_t width,
                                       int64_t pad_y, int64_t pad_x,
                                       bool channels_last) {
  check_domain(grad, "winograd_input_backward");
  const Tiling g{batch,
                 grad.size(1),
                 height,
                 width,
                 pad_y,
                 pad_x,
                 tile_count(height + 2 * pad_y - 2),
                 tile_count(width + 2 * pad_x - 2)};
  TORCH_CHECK(grad.size(2) == g.tiles(), "winograd_input_backward: ",
              grad.size(2), " tiles given, ", g.tiles(), " expected for a ",
              batch, " x ", height, " x ", width, " input");
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast
                                    : at::MemoryFormat::Contiguous;
  at::Tensor dx = at::empty({batch, g.channels, height, width},
                            grad.options().memory_format(format));
  if (dx.numel() == 0) return dx;
  medgan_aug::advise_huge_pages(dx.data_ptr(), dx.nbytes());
  if (channels_last) dx.zero_();
  scatter<kB, true>(dense_domain(grad, channels_last), dx, g, channels_last);
  return dx;
}

at::Tensor winograd_output_cpu(const at::Tensor& m, int64_t batch,
                               int64_t height, int64_t width,
                               bool channels_last) {
  check_domain(m, "winograd_output");
  TORCH_CHECK(batch >= 0 && height >= 1 && width >= 1,
              "winograd_output: invalid output size ", batch, " x ", height,
              " x ", width);
  const Tiling g{batch, m.size(1), height, width, 0, 0, tile_count(height),
                 tile_count(width)};
  TORCH_CHECK(m.size(2) == g.tiles(), "winograd_output: ", m.size(2),
              " tiles given, ", g.tiles(), " expected for a ", batch, " x ",
              height, " x ", width, " output");
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast
                                    : at::MemoryFormat::Contiguous;
  at::Tensor y = at::empty({batch, g.channels, height, width},
                           m.options().memory_format(format));
  if (y.numel() == 0) return y;
  medgan_aug::advise_huge_pages(y.data_ptr(), y.nbytes());
  scatter<kAt, false>(dense_domain(m, channels_last), y, g, channels_last);
  return y;
}

at::Tensor winograd_output_backward_cpu(const at::Tensor& grad) {
  check_image(grad, "winograd_output_backward");
  const bool channels_last = is_channels_last(grad);
  const Tiling g{grad.size(0),
                 grad.size(1),
                 grad.size(2),
                 grad.size(3),
                 0,
                 0,
                 tile_count(grad.size(2)),
                 tile_count(grad.size(3))};
  at::Tensor domain =
      empty_domain(g.channels, g.tiles(), channels_last, grad.options());
  if (domain.numel() == 0) return domain;
  medgan_aug::advise_huge_pages(domain.data_ptr(), domain.nbytes());
  const at::Tensor image = grad.contiguous(
      channels_last ? at::MemoryFormat::ChannelsLast
                    : at::MemoryFormat::Contiguous);
  gather<kA>(image, domain, g, channels_last);
  return domain;
}

}  // namespace

// CPU only: on CUDA the convolutions are cuDNN's, which picks its own
// algorithms (Winograd included).
TORCH_LIBRARY_FRAGMENT(medgan_aug, m) {
  m.def("winograd_input(Tensor x, int pad_y, int pad_x) -> Tensor");
  m.def("winograd_input_backward(Tensor grad, int batch, int height, "
        "int width, int pad_y, int pad_x, bool channels_last) -> Tensor");
  m.def("winograd_output(Tensor m, int batch, int height, int width, "
        "bool channels_last) -> Tensor");
  m.def("winograd_output_backward(Tensor grad) -> Tensor");
}

TORCH_LIBRARY_IMPL(medgan_aug, CPU, m) {
  m.impl("winograd_input", &winograd_input_cpu);
  m.impl("winograd_input_backward", &winograd_input_backward_cpu);
  m.impl("winograd_output", &winograd_output_cpu);
  m.impl("winograd_output_backward", &winograd_output_backward_cpu);
}
