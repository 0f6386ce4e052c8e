#include <torch/library.h>

#include "schema.h"

TORCH_LIBRARY(medgan_aug, m) { MEDGAN_AUG_DEFINE_OP_SCHEMAS(m); }
