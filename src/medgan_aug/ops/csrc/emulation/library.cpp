// The emulated operators get their own namespace, so that they can be loaded
// and compared side by side with the CPU kernels of medgan_aug::.
#include <torch/library.h>

#include "schema.h"

TORCH_LIBRARY(medgan_aug_emulated, m) { MEDGAN_AUG_DEFINE_OP_SCHEMAS(m); }
