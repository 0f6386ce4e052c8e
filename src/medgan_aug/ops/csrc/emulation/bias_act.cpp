// Registers the bias_act CUDA kernels of cuda/bias_act.cuh, run on the host by the
// emulator, as medgan_aug_emulated:: CPU operators.
#include <torch/library.h>

#include "cuda/bias_act.cuh"
#include "emulation/cuda_emulation.h"

using medgan_aug::emulation::EmulatedLaunch;

TORCH_LIBRARY_IMPL(medgan_aug_emulated, CPU, m) {
  m.impl("bias_act", &medgan_aug::cuda::bias_act_op<EmulatedLaunch>);
  m.impl("bias_act_grad", &medgan_aug::cuda::bias_act_grad_op<EmulatedLaunch>);
}
