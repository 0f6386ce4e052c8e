// Registers the upfirdn2d CUDA kernels of cuda/upfirdn2d.cuh, run on the host by the
// emulator, as medgan_aug_emulated:: CPU operators.
#include <torch/library.h>

#include "cuda/upfirdn2d.cuh"
#include "emulation/cuda_emulation.h"

using medgan_aug::emulation::EmulatedLaunch;

TORCH_LIBRARY_IMPL(medgan_aug_emulated, CPU, m) {
  m.impl("upfirdn2d", &medgan_aug::cuda::upfirdn2d_op<EmulatedLaunch>);
}
