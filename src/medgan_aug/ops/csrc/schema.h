// One schema per operator, shared by the real library and the CUDA emulation
// library so both are called with exactly the same arguments.
#pragma once

#define MEDGAN_AUG_DEFINE_OP_SCHEMAS(m)                                        \
  m.def("upfirdn2d(Tensor x, Tensor f, int upx, int upy, int downx, "          \
        "int downy, int padx0, int padx1, int pady0, int pady1, "              \
        "bool flip_filter, float gain) -> Tensor");                            \
  m.def("bias_act(Tensor x, Tensor b, int dim, str act, float alpha, "         \
        "float gain, float clamp) -> Tensor");                                 \
  m.def("bias_act_grad(Tensor dy, Tensor x, Tensor b, int dim, str act, "      \
        "float alpha, float gain, float clamp, int order) -> Tensor");         \
  m.def("modulate_weight(Tensor weight, Tensor styles, bool demodulate, "      \
        "float eps) -> (Tensor, Tensor)");                                     \
  m.def("sample_planes(Tensor volume, Tensor origins, Tensor steps, "          \
        "int height, int width, int order, float fill) -> Tensor")
