// bias_act and bias_act_grad kernels (bias add, activation, gain, clamp, and
// the activation's first and second derivatives) with the host launchers
// shared by the CUDA and the emulated library.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>
#include <ATen/ops/empty.h>

#include "common/activation.h"
#include "cuda/kernel_common.cuh"

namespace medgan_aug::cuda {

constexpr int kBiasActThreads = 256;

template <typename scalar_t, typename acc_t>
struct BiasActArgs {
  const scalar_t* x;   // dense (contiguous in its memory format), numel elements
  const acc_t* bias;   // [channels], or null for no bias
  const scalar_t* dy;  // laid out like x (bias_act_grad only)
  scalar_t* out;       // laid out like x
  int64_t numel;
  // The element at memory offset i has bias index i / inner % channels: inner
  // is the stride of dim in the layout (1 along C for channels_last).
  int64_t channels, inner;
  int code, order;
  acc_t alpha, gain, clamp;
};

template <typename scalar_t, typename acc_t>
__device__ __forceinline__ acc_t biased_input(const BiasActArgs<scalar_t, acc_t>& a, int64_t i) {
  const acc_t z(a.x[i]);
  return a.bias == nullptr ? z : z + a.bias[i / a.inner % a.channels];
}

// y = clamp(act(x + b) * gain, -clamp, clamp).
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kBiasActThreads)
    bias_act_kernel(const BiasActArgs<scalar_t, acc_t> a) {
  for (int64_t i = grid_stride_begin(); i < a.numel; i += grid_stride_step()) {
    const acc_t y = activation(a.code, biased_input(a, i), a.alpha, 0) * a.gain;
    a.out[i] = static_cast<scalar_t>(clamp_output(y, a.clamp));
  }
}

// dy * gain * act^(order)(x + b), zeroed where the forward output was clamped.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kBiasActThreads)
    bias_act_grad_kernel(const BiasActArgs<scalar_t, acc_t> a) {
  for (int64_t i = grid_stride_begin(); i < a.numel; i += grid_stride_step()) {
    const acc_t z = biased_input(a, i);
    const acc_t y = activation(a.code, z, a.alpha, 0) * a.gain;
    const acc_t derivative = activation(a.code, z, a.alpha, a.order);
    a.out[i] = static_cast<scalar_t>(acc_t(a.dy[i]) * a.gain * derivative *
                                     clamp_mask(y, a.clamp));
  }
}

// Where the element at memory offset i of a dense tensor finds its bias: at
// i / inner % channels.
struct BiasLayout {
  int64_t channels, inner;
};

// Checks b against x; inner is set by the launcher from the output's layout.
inline BiasLayout bias_layout(const at::Tensor& x, const at::Tensor& b, int64_t dim) {
  TORCH_CHECK(x.is_floating_point(), "bias_act: x must be floating point, got ",
              x.scalar_type());
  BiasLayout layout{1, 1};
  if (b.numel() == 0) return layout;
  TORCH_CHECK(b.dim() == 1 && b.is_floating_point(),
              "bias_act: b must be a 1-D floating point tensor, got ", b.scalar_type(), " ",
              b.sizes());
  TORCH_CHECK(b.device() == x.device(), "bias_act: x is on ", x.device(), " but b is on ",
              b.device());
  TORCH_CHECK(dim >= 0 && dim < x.dim(), "bias_act: dim ", dim, " is out of range for x of ",
              x.dim(), " dimensions");
  TORCH_CHECK(b.size(0) == x.size(dim), "bias_act: b has ", b.size(0), " elements but x has ",
              x.size(dim), " along dim ", dim);
  layout.channels = b.size(0);
  return layout;
}

// The forward pass when dy is undefined, else the gradient of the given order.
template <typename Launch>
at::Tensor bias_act_launch(const at::Tensor& x, const at::Tensor& b, const at::Tensor& dy,
                           int64_t dim, c10::string_view act, double alpha, double gain,
                           double clamp, int order) {
  // The output keeps x's layout (x.suggest_memory_format()); x, and dy when it
  // is laid out otherwise, are made dense in that layout.
  const at::MemoryFormat format = x.suggest_memory_format();
  BiasLayout layout = bias_layout(x, b, dim);
  const int code = activation_code(std::string(act));
  const typename Launch::DeviceGuard guard(x.device());
  at::Tensor out = at::empty(x.sizes(), x.options().memory_format(format));
  if (out.numel() == 0) return out;
  // out, x and dy are dense in one layout, so the element at offset i has
  // index i / stride(dim) % size(dim) along dim in each of them.
  if (b.numel() != 0) layout.inner = out.stride(dim);
  const at::Tensor xc = x.contiguous(format);
  const at::Tensor dyc = dy.defined() ? dy.to(x.scalar_type()).contiguous(format) : dy;
  const dim3 grid = grid_stride_grid(out.numel(), kBiasActThreads);
  const dim3 block(kBiasActThreads);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const at::Tensor bias =
        b.numel() == 0 ? b : b.to(c10::CppTypeToScalarType<acc_t>::value).contiguous();
    const BiasActArgs<scalar_t, acc_t> args{
        xc.data_ptr<scalar_t>(),
        b.numel() == 0 ? nullptr : bias.data_ptr<acc_t>(),
        dyc.defined() ? dyc.data_ptr<scalar_t>() : nullptr,
        out.data_ptr<scalar_t>(),
        out.numel(),
        layout.channels,
        layout.inner,
        code,
        order,
        acc_t(alpha),
        acc_t(gain),
        acc_t(clamp)};
    if (dyc.defined()) {
      Launch{}(bias_act_grad_kernel<scalar_t, acc_t>, grid, block, args);
    } else {
      Launch{}(bias_act_kernel<scalar_t, acc_t>, grid, block, args);
    }
  });
  return out;
}

template <typename Launch>
at::Tensor bias_act_op(const at::Tensor& x, const at::Tensor& b, int64_t dim,
                       c10::string_view act, double alpha, double gain, double clamp) {
  return bias_act_launch<Launch>(x, b, at::Tensor(), dim, act, alpha, gain, clamp, 0);
}

template <typename Launch>
at::Tensor bias_act_grad_op(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& b,
                            int64_t dim, c10::string_view act, double alpha, double gain,
                            double clamp, int64_t order) {
  TORCH_CHECK(order == 1 || order == 2, "bias_act_grad: order must be 1 or 2, got ", order);
  TORCH_CHECK(dy.is_floating_point() && dy.sizes() == x.sizes() && dy.device() == x.device(),
              "bias_act_grad: dy must be a floating point tensor shaped and placed like x ",
              x.sizes(), " on ", x.device(), ", got ", dy.scalar_type(), " ", dy.sizes(),
              " on ", dy.device());
  return bias_act_launch<Launch>(x, b, dy, dim, act, alpha, gain, clamp, int(order));
}

}  // namespace medgan_aug::cuda
