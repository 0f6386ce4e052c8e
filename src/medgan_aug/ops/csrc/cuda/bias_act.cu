// Registers the bias_act CUDA kernels; cuda/bias_act.cuh holds them and the launcher
// shared with the emulation library, which differs only in the launch policy.
#include <torch/library.h>

#include "cuda/bias_act.cuh"
#include "cuda/cuda_launch.cuh"

using medgan_aug::cuda::CudaLaunch;

TORCH_LIBRARY_IMPL(medgan_aug, CUDA, m) {
  m.impl("bias_act", &medgan_aug::cuda::bias_act_op<CudaLaunch>);
  m.impl("bias_act_grad", &medgan_aug::cuda::bias_act_grad_op<CudaLaunch>);
}
