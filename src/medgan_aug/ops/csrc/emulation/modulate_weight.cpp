// Registers the modulate_weight CUDA kernel of cuda/modulate_weight.cuh, run on the host by the
// emulator, as medgan_aug_emulated:: CPU operators.
#include <torch/library.h>

#include "cuda/modulate_weight.cuh"
#include "emulation/cuda_emulation.h"

using medgan_aug::emulation::EmulatedLaunch;

TORCH_LIBRARY_IMPL(medgan_aug_emulated, CPU, m) {
  m.impl("modulate_weight", &medgan_aug::cuda::modulate_weight_op<EmulatedLaunch>);
}
