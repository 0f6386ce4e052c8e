// CPU kernel of sample_planes: samples a [D0, D1, D2] volume at the points
// origin[p] + r * step[p][0] + c * step[p][1] (voxel index coordinates) of P
// planes of H x W points, with the rules of scipy.ndimage.map_coordinates in
// mode="constant" (documented in plane_sampling.py): a point outside
// [0, n - 1] along any axis gets `fill`, a point inside interpolates, and the
// taps of its stencil that fall past an edge read the whole-sample mirror
// of the volume (..., 2, 1, | 0, 1, ..., n-1, | n-2, ...).
//
// Every output row is a straight line through the volume, so the columns
// whose whole stencil lies inside the volume form one interval per row.
// That interval is computed once per row (shrunk by a margin far larger than
// the rounding of the coordinates), and its columns run a fast path that
// reads the stencil with no bounds checks or mirroring; only the columns
// before and after it take the checked path.  Coordinates are double and
// computed from the row's start, not accumulated along the row, so a point
// exactly on an edge (integer or other exactly representable coordinates)
// is classified as the reference classifies it.  Rows of all planes are
// shared among the OpenMP threads in small dynamic chunks, because rows
// differ widely in cost (a row outside the volume is nearly free).

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

// The library is compiled for the baseline instruction set; the row loop
// also gets an x86-64-v3 (AVX2, FMA) build that the dynamic loader selects
// where available.
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__)
#define MEDGAN_SAMPLE_CLONES \
  __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MEDGAN_SAMPLE_CLONES
#endif

namespace {

constexpr int kDims = 3;

struct Volume {
  int64_t size[kDims];
  int64_t stride[kDims];
};

// Whole-sample mirror ("mirror" in scipy.ndimage) of tap index i into
// [0, n - 1]; a single sample mirrors onto itself.
inline int64_t mirror(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * n - 2;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// Cubic B-spline weights of the taps floor(x) - 1 ... floor(x) + 2 for
// t = x - floor(x) in [0, 1).
template <typename T>
inline void cubic_weights(T t, T* w) {
  const T u = T(1) - t;
  const T t2 = t * t;
  const T u2 = u * u;
  w[0] = u2 * u * T(1.0 / 6.0);
  w[1] = T(2.0 / 3.0) - t2 + T(0.5) * t2 * t;
  w[2] = T(2.0 / 3.0) - u2 + T(0.5) * u2 * u;
  w[3] = t2 * t * T(1.0 / 6.0);
}

// First tap and weights of an order-kOrder stencil along one axis.
template <int kOrder, typename T>
inline int64_t axis_stencil(double x, T* w) {
  if constexpr (kOrder == 0) {
    w[0] = T(1);
    return static_cast<int64_t>(std::floor(x + 0.5));
  } else {
    const double first = std::floor(x);
    const T t = static_cast<T>(x - first);
    if constexpr (kOrder == 1) {
      w[0] = T(1) - t;
      w[1] = t;
      return static_cast<int64_t>(first);
    } else {
      cubic_weights(t, w);
      return static_cast<int64_t>(first) - 1;
    }
  }
}

// The checked path: any point, with the exact inside test and mirrored taps,
// accumulated in double.
template <int kOrder, typename scalar_t>
inline scalar_t sample_checked(const scalar_t* data, const Volume& v,
                               const double* x, scalar_t fill) {
  constexpr int kTaps = kOrder + 1;
  int64_t offset[kDims][kTaps];
  double weight[kDims][kTaps];
  for (int k = 0; k < kDims; ++k) {
    // Written so that a NaN coordinate counts as outside.
    if (!(x[k] >= 0.0 && x[k] <= static_cast<double>(v.size[k] - 1))) {
      return fill;
    }
    const int64_t first = axis_stencil<kOrder>(x[k], weight[k]);
    for (int j = 0; j < kTaps; ++j) {
      offset[k][j] = mirror(first + j, v.size[k]) * v.stride[k];
    }
  }
  double sum = 0.0;
  for (int a = 0; a < kTaps; ++a) {
    double plane = 0.0;
    for (int b = 0; b < kTaps; ++b) {
      const scalar_t* line = data + offset[0][a] + offset[1][b];
      double row = 0.0;
      for (int c = 0; c < kTaps; ++c) {
        row += weight[2][c] * static_cast<double>(line[offset[2][c]]);
      }
      plane += weight[1][b] * row;
    }
    sum += weight[0][a] * plane;
  }
  return static_cast<scalar_t>(sum);
}

// The fast path: a point whose whole stencil is inside, so every coordinate
// is >= 0 (truncation is floor) and no tap needs mirroring.
template <int kOrder, typename scalar_t, typename acc_t>
inline scalar_t sample_inside(const scalar_t* data, const Volume& v,
                              const double* x) {
  if constexpr (kOrder == 0) {
    const int64_t i0 = static_cast<int64_t>(x[0] + 0.5);
    const int64_t i1 = static_cast<int64_t>(x[1] + 0.5);
    const int64_t i2 = static_cast<int64_t>(x[2] + 0.5);
    return data[i0 * v.stride[0] + i1 * v.stride[1] + i2];
  } else if constexpr (kOrder == 1) {
    const int64_t i0 = static_cast<int64_t>(x[0]);
    const int64_t i1 = static_cast<int64_t>(x[1]);
    const int64_t i2 = static_cast<int64_t>(x[2]);
    const acc_t t0 = static_cast<acc_t>(x[0] - static_cast<double>(i0));
    const acc_t t1 = static_cast<acc_t>(x[1] - static_cast<double>(i1));
    const acc_t t2 = static_cast<acc_t>(x[2] - static_cast<double>(i2));
    const int64_t s0 = v.stride[0];
    const int64_t s1 = v.stride[1];
    const scalar_t* p = data + i0 * s0 + i1 * s1 + i2;
    const auto lerp = [](acc_t a, acc_t b, acc_t t) {
      return (acc_t(1) - t) * a + t * b;
    };
    const acc_t a0 = lerp(p[0], p[1], t2);
    const acc_t a1 = lerp(p[s1], p[s1 + 1], t2);
    const acc_t b0 = lerp(p[s0], p[s0 + 1], t2);
    const acc_t b1 = lerp(p[s0 + s1], p[s0 + s1 + 1], t2);
    return static_cast<scalar_t>(lerp(lerp(a0, a1, t1), lerp(b0, b1, t1), t0));
  } else {
    acc_t w0[4], w1[4], w2[4];
    const int64_t i0 = axis_stencil<3>(x[0], w0);
    const int64_t i1 = axis_stencil<3>(x[1], w1);
    const int64_t i2 = axis_stencil<3>(x[2], w2);
    const int64_t s0 = v.stride[0];
    const int64_t s1 = v.stride[1];
    const scalar_t* p = data + i0 * s0 + i1 * s1 + i2;
    // The 16 runs of 4 contiguous taps along axis 2 are summed as 4-wide
    // vectors weighted by w0 * w1 (the compilers do not find this
    // vectorisation themselves); w2 is applied once at the end.
#if defined(__GNUC__)
    typedef acc_t Quad __attribute__((vector_size(4 * sizeof(acc_t))));
    Quad acc = {};
    for (int a = 0; a < 4; ++a) {
      for (int b = 0; b < 4; ++b) {
        const scalar_t* q = p + a * s0 + b * s1;
        Quad taps;
        if constexpr (std::is_same_v<scalar_t, acc_t>) {
          std::memcpy(&taps, q, sizeof(taps));
        } else {
          taps = Quad{acc_t(q[0]), acc_t(q[1]), acc_t(q[2]), acc_t(q[3])};
        }
        acc += (w0[a] * w1[b]) * taps;
      }
    }
#else
    acc_t acc[4] = {acc_t(0), acc_t(0), acc_t(0), acc_t(0)};
    for (int a = 0; a < 4; ++a) {
      for (int b = 0; b < 4; ++b) {
        const scalar_t* q = p + a * s0 + b * s1;
        for (int c = 0; c < 4; ++c) {
          acc[c] += (w0[a] * w1[b]) * static_cast<acc_t>(q[c]);
        }
      }
    }
#endif
    return static_cast<scalar_t>(acc[0] * w2[0] + acc[1] * w2[1] +
                                 acc[2] * w2[2] + acc[3] * w2[3]);
  }
}

// Columns [first, last) of a row whose coordinates base + c * step lie in
// [low, high] along every axis, each bound tightened by a margin that dwarfs
// the rounding of the coordinates, so every column in it really is inside.
std::pair<int64_t, int64_t> inner_columns(const double* base,
                                          const double* step,
                                          const double* low,
                                          const double* high, int64_t width) {
  double first = 0.0;
  double last = static_cast<double>(width - 1);
  for (int k = 0; k < kDims; ++k) {
    const double margin =
        1e-9 * (1.0 + std::abs(base[k]) +
                std::abs(step[k]) * static_cast<double>(width) +
                std::abs(high[k]));
    const double below = low[k] + margin - base[k];
    const double above = high[k] - margin - base[k];
    if (step[k] == 0.0) {
      if (!(below <= 0.0 && 0.0 <= above)) return {0, 0};
      continue;
    }
    double from = below / step[k];
    double to = above / step[k];
    if (step[k] < 0.0) std::swap(from, to);
    if (std::isnan(from) || std::isnan(to)) return {0, 0};
    first = std::max(first, std::ceil(from));
    last = std::min(last, std::floor(to));
  }
  if (!(first <= last)) return {0, 0};
  return {static_cast<int64_t>(first), static_cast<int64_t>(last) + 1};
}

// One output row of `width` points starting at `base`.
template <int kOrder, typename scalar_t>
MEDGAN_SAMPLE_CLONES void sample_row(const scalar_t* data, const Volume& v,
                                     const double* base, const double* step,
                                     int64_t width, scalar_t fill,
                                     scalar_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  // The fast path needs floor(x) - 1 >= 0 and floor(x) + 2 <= n - 1 for
  // cubic, floor(x) + 1 <= n - 1 for linear, and only 0 <= x <= n - 1 for
  // nearest (floor(x + 0.5) <= n - 1 then holds).
  double low[kDims];
  double high[kDims];
  for (int k = 0; k < kDims; ++k) {
    const double last = static_cast<double>(v.size[k] - 1);
    low[k] = kOrder == 3 ? 1.0 : 0.0;
    high[k] = kOrder == 3 ? last - 1.0 : last;
  }
  const auto [first, last] = inner_columns(base, step, low, high, width);
  const auto point = [&](int64_t c, double* x) {
    for (int k = 0; k < kDims; ++k) {
      x[k] = base[k] + static_cast<double>(c) * step[k];
    }
  };
  double x[kDims];
  for (int64_t c = 0; c < first; ++c) {
    point(c, x);
    out[c] = sample_checked<kOrder>(data, v, x, fill);
  }
  for (int64_t c = first; c < last; ++c) {
    point(c, x);
    out[c] = sample_inside<kOrder, scalar_t, acc_t>(data, v, x);
  }
  for (int64_t c = std::max(first, last); c < width; ++c) {
    point(c, x);
    out[c] = sample_checked<kOrder>(data, v, x, fill);
  }
}

template <int kOrder, typename scalar_t>
void sample_all(const scalar_t* data, const Volume& v, const double* origins,
                const double* steps, int64_t planes, int64_t height,
                int64_t width, scalar_t fill, scalar_t* out) {
  const int64_t rows = planes * height;
  // Chunks of ~16k points make the scheduling cost negligible while still
  // balancing threads whose rows differ in cost.
  const int64_t chunk = std::max<int64_t>(1, 16384 / width);
  const int threads = at::get_num_threads();
#pragma omp parallel for schedule(dynamic, chunk) num_threads(threads) \
    if (rows * width > 32768 && threads > 1 && !at::in_parallel_region())
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t p = row / height;
    const int64_t r = row % height;
    const double* origin = origins + p * kDims;
    const double* row_step = steps + p * 2 * kDims;
    const double* col_step = row_step + kDims;
    double base[kDims];
    for (int k = 0; k < kDims; ++k) {
      base[k] = origin[k] + static_cast<double>(r) * row_step[k];
    }
    sample_row<kOrder>(data, v, base, col_step, width, fill,
                       out + row * width);
  }
}

at::Tensor sample_planes_cpu(const at::Tensor& volume,
                             const at::Tensor& origins,
                             const at::Tensor& steps, int64_t height,
                             int64_t width, int64_t order, double fill) {
  TORCH_CHECK(volume.dim() == 3, "sample_planes: volume must be 3-D, got ",
              volume.dim(), "-D");
  TORCH_CHECK(volume.scalar_type() == at::kFloat ||
                  volume.scalar_type() == at::kDouble,
              "sample_planes: volume must be float32 or float64, got ",
              volume.scalar_type());
  TORCH_CHECK(volume.numel() > 0, "sample_planes: volume must not be empty");
  TORCH_CHECK(origins.dim() == 2 && origins.size(1) == kDims,
              "sample_planes: origins must be [P, 3]");
  TORCH_CHECK(steps.dim() == 3 && steps.size(0) == origins.size(0) &&
                  steps.size(1) == 2 && steps.size(2) == kDims,
              "sample_planes: steps must be [P, 2, 3] with origins' P");
  TORCH_CHECK(origins.scalar_type() == at::kDouble &&
                  steps.scalar_type() == at::kDouble,
              "sample_planes: origins and steps must be float64");
  TORCH_CHECK(volume.device().is_cpu() && origins.device().is_cpu() &&
                  steps.device().is_cpu(),
              "sample_planes: all tensors must be on the CPU");
  TORCH_CHECK(height >= 1 && width >= 1,
              "sample_planes: height and width must be >= 1");
  TORCH_CHECK(order == 0 || order == 1 || order == 3,
              "sample_planes: order must be 0, 1 or 3, got ", order);

  const at::Tensor input = volume.contiguous();
  const at::Tensor origin = origins.contiguous();
  const at::Tensor step = steps.contiguous();
  const int64_t planes = origins.size(0);
  at::Tensor out = at::empty({planes, height, width}, volume.options());
  if (planes == 0) return out;
  const Volume v{{input.size(0), input.size(1), input.size(2)},
                 {input.size(1) * input.size(2), input.size(2), 1}};

  AT_DISPATCH_FLOATING_TYPES(volume.scalar_type(), "sample_planes_cpu", [&] {
    const scalar_t* data = input.const_data_ptr<scalar_t>();
    const double* o = origin.const_data_ptr<double>();
    const double* s = step.const_data_ptr<double>();
    scalar_t* dst = out.mutable_data_ptr<scalar_t>();
    const auto value = static_cast<scalar_t>(fill);
    if (order == 0) {
      sample_all<0>(data, v, o, s, planes, height, width, value, dst);
    } else if (order == 1) {
      sample_all<1>(data, v, o, s, planes, height, width, value, dst);
    } else {
      sample_all<3>(data, v, o, s, planes, height, width, value, dst);
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(medgan_aug, CPU, m) {
  m.impl("sample_planes", &sample_planes_cpu);
}
