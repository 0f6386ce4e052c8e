// Index arithmetic and launch limits shared by the kernel headers.  Every
// kernel header is compiled twice: by nvcc into the CUDA library and by a
// host compiler into the emulation library, where the CUDA keywords come
// from emulation/cuda_emulation.h.
#pragma once

#include <cstdint>

#if !defined(__CUDACC__)
#include "emulation/cuda_emulation.h"
#endif

namespace medgan_aug::cuda {

constexpr int64_t kMaxGridX = 2147483647;
constexpr int64_t kMaxGridYZ = 65535;
// Grid-stride kernels: two waves of 256-thread blocks fill the largest GPUs;
// beyond that each thread simply loops over more elements.
constexpr int64_t kMaxGridStrideBlocks = 2048;

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Floor and ceiling division by b > 0 for signed numerators: C++ division
// truncates toward zero, and padding makes numerators negative.
__host__ __device__ inline int floor_div(int a, int b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
__host__ __device__ inline int ceil_div_signed(int a, int b) {
  return -floor_div(-a, b);
}
__host__ __device__ inline int min_int(int a, int b) {
  return a < b ? a : b;
}
// The representative of a modulo b in [0, b).
__host__ __device__ inline int positive_mod(int a, int b) {
  const int r = a % b;
  return r < 0 ? r + b : r;
}

// Grid of a grid-stride loop over n >= 1 elements.
inline dim3 grid_stride_grid(int64_t n, int threads) {
  const int64_t blocks = ceil_div(n, threads);
  return dim3(unsigned(blocks < kMaxGridStrideBlocks ? blocks : kMaxGridStrideBlocks));
}

// First index and stride of the calling thread in a grid-stride loop.
__device__ __forceinline__ int64_t grid_stride_begin() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride_step() {
  return int64_t(gridDim.x) * blockDim.x;
}

}  // namespace medgan_aug::cuda
