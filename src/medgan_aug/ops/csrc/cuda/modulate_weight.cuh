// modulate_weight kernel (StyleGAN2 weight modulation and demodulation) with
// its launch configuration and the host launcher shared by the CUDA and the
// emulated library.
#pragma once

#include <math.h>

#include <cstdint>
#include <tuple>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include "cuda/kernel_common.cuh"

namespace medgan_aug::cuda {

// A power of two: the block reduction halves the active threads each step.
constexpr int kModulateMaxThreads = 256;
static_assert((kModulateMaxThreads & (kModulateMaxThreads - 1)) == 0,
              "the tree reduction needs a power-of-two block");

template <typename scalar_t, typename acc_t>
struct ModulateArgs {
  const scalar_t* weight;  // [O, I, kh, kw]
  const acc_t* styles;     // [N, I]
  scalar_t* w;             // [N, O, I, kh, kw]
  scalar_t* d;             // [N, O]
  int64_t out_channels, in_channels, kernel_area;
  bool demodulate;
  acc_t eps;
};

__host__ __device__ inline float reciprocal_sqrt(float v) { return 1.0f / sqrtf(v); }
__host__ __device__ inline double reciprocal_sqrt(double v) { return 1.0 / sqrt(v); }

// One block per (n, o): the block sums the squares of the modulated weights
// of output channel o in shared memory, then writes them scaled by d[n, o].
// The modulated weights are computed twice rather than stored, so no
// intermediate tensor exists besides the output.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kModulateMaxThreads)
    modulate_weight_kernel(const ModulateArgs<scalar_t, acc_t> a) {
  __shared__ acc_t partial[kModulateMaxThreads];
  __shared__ acc_t scale;
  const int tid = int(threadIdx.x);
  const int threads = int(blockDim.x);
  const int64_t n = blockIdx.x / a.out_channels;
  const int64_t o = blockIdx.x % a.out_channels;
  const int64_t size = a.in_channels * a.kernel_area;
  const scalar_t* weight = a.weight + o * size;
  const acc_t* styles = a.styles + n * a.in_channels;
  const auto modulated = [&](int64_t j) {
    return acc_t(weight[j]) * styles[j / a.kernel_area];
  };

  if (a.demodulate) {
    acc_t sum(0);
    for (int64_t j = tid; j < size; j += threads) {
      const acc_t v = modulated(j);
      sum += v * v;
    }
    partial[tid] = sum;
    __syncthreads();
    for (int active = threads / 2; active > 0; active /= 2) {
      if (tid < active) partial[tid] += partial[tid + active];
      __syncthreads();
    }
  }
  if (tid == 0) {
    scale = a.demodulate ? reciprocal_sqrt(partial[0] + a.eps) : acc_t(1);
    a.d[blockIdx.x] = static_cast<scalar_t>(scale);
  }
  __syncthreads();
  scalar_t* w = a.w + int64_t(blockIdx.x) * size;
  for (int64_t j = tid; j < size; j += threads) w[j] = static_cast<scalar_t>(modulated(j) * scale);
}

// One block per (n, o); the smallest power-of-two block (at least a warp)
// that gives every thread work, so small kernels do not idle most threads.
inline dim3 modulate_weight_block(int64_t size) {
  int threads = 32;
  while (threads < kModulateMaxThreads && threads < size) threads *= 2;
  return dim3(threads);
}

template <typename Launch>
std::tuple<at::Tensor, at::Tensor> modulate_weight_op(const at::Tensor& weight,
                                                      const at::Tensor& styles,
                                                      bool demodulate, double eps) {
  TORCH_CHECK(weight.dim() == 4, "modulate_weight: weight must be [O, I, kh, kw], got ",
              weight.sizes());
  TORCH_CHECK(styles.dim() == 2 && styles.size(1) == weight.size(1),
              "modulate_weight: styles must be [N, ", weight.size(1), "], got ", styles.sizes());
  TORCH_CHECK(weight.is_floating_point() && styles.is_floating_point(),
              "modulate_weight: weight and styles must be floating point, got ",
              weight.scalar_type(), " and ", styles.scalar_type());
  TORCH_CHECK(styles.device() == weight.device(), "modulate_weight: weight is on ",
              weight.device(), " but styles is on ", styles.device());
  const int64_t batch = styles.size(0);
  const int64_t out_channels = weight.size(0);
  TORCH_CHECK(batch * out_channels <= kMaxGridX,
              "modulate_weight: N * O = ", batch * out_channels, " exceeds the grid limit");
  const typename Launch::DeviceGuard guard(weight.device());
  at::Tensor w = at::empty({batch, out_channels, weight.size(1), weight.size(2), weight.size(3)},
                           weight.options());
  at::Tensor d = at::empty({batch, out_channels}, weight.options());
  if (d.numel() == 0) return {w, d};
  const at::Tensor weight_c = weight.contiguous();
  const int64_t kernel_area = weight.size(2) * weight.size(3);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, weight.scalar_type(), "modulate_weight", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        const at::Tensor styles_c = styles.to(c10::CppTypeToScalarType<acc_t>::value).contiguous();
        const ModulateArgs<scalar_t, acc_t> args{weight_c.data_ptr<scalar_t>(),
                                                 styles_c.data_ptr<acc_t>(),
                                                 w.data_ptr<scalar_t>(),
                                                 d.data_ptr<scalar_t>(),
                                                 out_channels,
                                                 weight.size(1),
                                                 kernel_area,
                                                 demodulate,
                                                 acc_t(eps)};
        Launch{}(modulate_weight_kernel<scalar_t, acc_t>, dim3(unsigned(d.numel())),
                 modulate_weight_block(weight.size(1) * kernel_area), args);
      });
  return {w, d};
}

}  // namespace medgan_aug::cuda
