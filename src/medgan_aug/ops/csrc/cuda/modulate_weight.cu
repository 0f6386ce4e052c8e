// Registers the modulate_weight CUDA kernel; cuda/modulate_weight.cuh holds it and the launcher
// shared with the emulation library, which differs only in the launch policy.
#include <torch/library.h>

#include "cuda/cuda_launch.cuh"
#include "cuda/modulate_weight.cuh"

using medgan_aug::cuda::CudaLaunch;

TORCH_LIBRARY_IMPL(medgan_aug, CUDA, m) {
  m.impl("modulate_weight", &medgan_aug::cuda::modulate_weight_op<CudaLaunch>);
}
