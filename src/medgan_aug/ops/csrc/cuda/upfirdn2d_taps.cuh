// The arguments every upfirdn2d kernel receives: the call's geometry and its
// filter as the caller passed it.  Every kernel stages its correlation taps
// from the raw filter tensor, so the gain, the flip and the outer product of a
// 1-D filter cost no extra launch.
#pragma once

#include <cstdint>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "cuda/kernel_common.cuh"

namespace medgan_aug::cuda {

// Element types a raw filter may have; others are converted to float on the host.
enum FilterDtype : int { kFilterFloat = 0, kFilterDouble, kFilterHalf, kFilterBFloat16 };

// The raw filter tensor and how to turn it into correlation taps.
struct FilterSource {
  const void* data;
  int64_t stride0, stride1;  // in elements; stride1 only for 2-D filters
  int dtype;                 // FilterDtype
  int dim;                   // 1 (separable) or 2
  int taps_w, taps_h;        // a 1-D filter of k taps: k and k
  bool reverse;              // correlate with the reversed filter (not flip_filter)
  double scale;              // gain ** (dim / 2)
};

// Element `offset` of the raw filter times the scale, rounded as f.mul(scale)
// rounds in f's own dtype (its opmath type, the scale cast to it, the product
// cast back), then converted to the accumulation type as .to(acc) does.
template <typename acc_t>
__host__ __device__ __forceinline__ acc_t scaled_filter_value(const FilterSource& s,
                                                              int64_t offset) {
  switch (s.dtype) {
    case kFilterDouble:
      return acc_t(static_cast<const double*>(s.data)[offset] * s.scale);
    case kFilterHalf: {
      const float v = float(static_cast<const c10::Half*>(s.data)[offset]) * float(s.scale);
      return acc_t(float(c10::Half(v)));
    }
    case kFilterBFloat16: {
      const float v = float(static_cast<const c10::BFloat16*>(s.data)[offset]) * float(s.scale);
      return acc_t(float(c10::BFloat16(v)));
    }
    default:
      return acc_t(static_cast<const float*>(s.data)[offset] * float(s.scale));
  }
}

// Correlation tap t of a 1-D filter (the same taps serve both axes).
template <typename acc_t>
__host__ __device__ __forceinline__ acc_t filter_tap_1d(const FilterSource& s, int t) {
  const int k = s.reverse ? s.taps_w - 1 - t : t;
  return scaled_filter_value<acc_t>(s, int64_t(k) * s.stride0);
}

// Correlation tap (ty, tx) of the 2-D filter; for a 1-D filter that is the
// outer product of its scaled taps, multiplied in the accumulation type as
// at::outer does.
template <typename acc_t>
__host__ __device__ __forceinline__ acc_t filter_tap_2d(const FilterSource& s, int ty, int tx) {
  if (s.dim == 1) return filter_tap_1d<acc_t>(s, ty) * filter_tap_1d<acc_t>(s, tx);
  const int ky = s.reverse ? s.taps_h - 1 - ty : ty;
  const int kx = s.reverse ? s.taps_w - 1 - tx : tx;
  return scaled_filter_value<acc_t>(s, int64_t(ky) * s.stride0 + int64_t(kx) * s.stride1);
}

// The calling thread's share of writing the taps into `taps` [rows, cols]
// (zeros past the filter).  The caller synchronises before reading them.
template <typename acc_t>
__device__ __forceinline__ void stage_taps_2d(const FilterSource& s, acc_t* taps, int rows,
                                              int cols, int tid, int threads) {
  for (int i = tid; i < rows * cols; i += threads) {
    const int ty = i / cols;
    const int tx = i - ty * cols;
    taps[i] = ty < s.taps_h && tx < s.taps_w ? filter_tap_2d<acc_t>(s, ty, tx) : acc_t(0);
  }
}

// Sizes of one call.  Per-axis values are ints: the host launcher checks that
// every coordinate the kernels derive from them fits.
struct Upfirdn2dGeometry {
  int64_t planes;  // N * C
  int channels;    // C
  int in_w, in_h, out_w, out_h;
  int up_x, up_y, down_x, down_y;
  int pad_x0, pad_y0;
  int taps_w, taps_h;
};

template <typename scalar_t>
struct Upfirdn2dArgs {
  const scalar_t* x;  // [N, C, in_h, in_w], NCHW- or NHWC-contiguous
  scalar_t* y;        // [N, C, out_h, out_w], in the layout of x
  Upfirdn2dGeometry geo;
  FilterSource filter;
  int tile_w, tile_h;  // outputs per block of the generic tiled kernel
};

}  // namespace medgan_aug::cuda
