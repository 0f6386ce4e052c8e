// Launch policy of the shared host launchers for real GPUs: the kernel runs on
// the current stream of the input's device.
#pragma once

// c10's stream header rather than ATen/cuda/CUDAContext.h, which also needs
// the cuBLAS and cuSPARSE headers that minimal toolkits lack.
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace medgan_aug::cuda {

struct CudaLaunch {
  // Makes the input's device current, so the stream and the allocations
  // belong to it even when it is not the default device.
  using DeviceGuard = c10::cuda::CUDAGuard;

  template <typename... Params, typename... Args>
  void operator()(void (*kernel)(Params...), dim3 grid, dim3 block,
                  const Args&... args) const {
    kernel<<<grid, block, 0, c10::cuda::getCurrentCUDAStream()>>>(args...);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

}  // namespace medgan_aug::cuda
