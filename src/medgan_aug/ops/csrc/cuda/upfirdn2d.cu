// Registers the upfirdn2d CUDA kernels; cuda/upfirdn2d.cuh holds them and the launcher
// shared with the emulation library, which differs only in the launch policy.
#include <torch/library.h>

#include "cuda/cuda_launch.cuh"
#include "cuda/upfirdn2d.cuh"

using medgan_aug::cuda::CudaLaunch;

TORCH_LIBRARY_IMPL(medgan_aug, CUDA, m) {
  m.impl("upfirdn2d", &medgan_aug::cuda::upfirdn2d_op<CudaLaunch>);
}
