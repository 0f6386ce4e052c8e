// CPU kernels of bias_act (bias, activation, gain, clamp) and bias_act_grad
// (the activation's first or second derivative times the upstream gradient).
//
// x is viewed, in memory order (channels_last puts C innermost), as
// [outer, C, inner] around `dim`, so the bias is constant
// along runs of `inner` contiguous elements (or, when inner == 1, runs over
// the C channels).  The activation code and derivative order become template
// arguments outside the loops, so each loop body is straight-line math, and
// the bias is added in a separate pass over a small chunk so that pass
// vectorises whatever the activation.

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "common/activation.h"
#include "common/output_pages.h"

namespace {

template <typename acc_t>
struct Params {
  acc_t alpha;
  acc_t gain;
  acc_t clamp;
};

// The value of one element: for kOrder 0 the scaled activation of z, else
// the upstream gradient times the scaled derivative; kClamp applies the
// clamp (to the value, or as the gradient's mask).
template <int kCode, int kOrder, bool kClamp, typename acc_t>
inline acc_t evaluate(acc_t z, acc_t dy, const Params<acc_t>& p) {
  const auto value = [&] {
    return activation_of<kCode>(z, p.alpha, 0) * p.gain;
  };
  if constexpr (kOrder == 0) {
    return kClamp ? clamp_output(value(), p.clamp) : value();
  } else {
    const acc_t grad =
        dy * p.gain * activation_of<kCode>(z, p.alpha, kOrder);
    return kClamp ? grad * clamp_mask(value(), p.clamp) : grad;
  }
}

constexpr int64_t kChunk = 256;

// out[i] = evaluate(x[i] + bias[i or 0], dy[i]) for i < n, the bias indexed
// per element if `bias_per_element`; dy is only read for kOrder > 0.  `p` is
// a copy so that the loop need not reload it after every store.
template <int kCode, int kOrder, bool kClamp, typename scalar_t,
          typename acc_t>
void run_segment(const scalar_t* x, const scalar_t* dy, const acc_t* bias,
                 bool bias_per_element, int64_t n, const Params<acc_t> p,
                 scalar_t* out) {
  acc_t z[kChunk];
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t len = std::min(kChunk, n - start);
    const scalar_t* xs = x + start;
    if (bias_per_element) {
      const acc_t* bs = bias + start;
      for (int64_t i = 0; i < len; ++i) {
        z[i] = static_cast<acc_t>(xs[i]) + bs[i];
      }
    } else {
      const acc_t b = bias[0];
      for (int64_t i = 0; i < len; ++i) z[i] = static_cast<acc_t>(xs[i]) + b;
    }
    scalar_t* os = out + start;
    for (int64_t i = 0; i < len; ++i) {
      const acc_t g =
          kOrder == 0 ? acc_t(0) : static_cast<acc_t>(dy[start + i]);
      os[i] =
          static_cast<scalar_t>(evaluate<kCode, kOrder, kClamp>(z[i], g, p));
    }
  }
}

template <typename F>
void with_flag(bool flag, const F& f) {
  if (flag) return f(std::true_type{});
  return f(std::false_type{});
}

template <typename F>
void with_order(int order, const F& f) {
  switch (order) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    default:
      return f(std::integral_constant<int, 0>{});
  }
}

// Shared by the forward and gradient ops; `dy` is undefined for the forward.
at::Tensor bias_act_impl(const at::Tensor& x, const at::Tensor& b,
                         const at::Tensor& dy, int64_t dim,
                         const std::string& act, double alpha, double gain,
                         double clamp, int order) {
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "bias_act: x must be floating point");
  const int code = activation_code(act);
  if (dy.defined()) {
    TORCH_CHECK(dy.sizes() == x.sizes() && dy.device() == x.device() &&
                    at::isFloatingType(dy.scalar_type()),
                "bias_act_grad: dy must be a floating point tensor shaped "
                "and placed like x");
  }
  const auto acc_type = at::toOpMathType(x.scalar_type());
  const int64_t numel = x.numel();
  // The output keeps x's memory format (channels_last for a channels-last x,
  // else contiguous); x and dy are made dense in it.  The loops below walk
  // memory order, i.e. the dimensions permuted to `dims`, outermost first.
  const auto format = x.suggest_memory_format();
  std::vector<int64_t> dims(x.dim());
  for (int64_t d = 0; d < x.dim(); ++d) dims[d] = d;
  if (format == at::MemoryFormat::ChannelsLast ||
      format == at::MemoryFormat::ChannelsLast3d) {
    std::rotate(dims.begin() + 1, dims.begin() + 2, dims.end());
  }
  // Without a bias, x is a single run of numel elements with a zero bias.
  int64_t channels = 1;
  int64_t inner = numel;
  at::Tensor bias;
  if (b.numel() == 0) {
    bias = at::zeros({1}, x.options().dtype(acc_type));
  } else {
    TORCH_CHECK(b.dim() == 1 && at::isFloatingType(b.scalar_type()),
                "bias_act: b must be a 1-D floating point tensor, got ",
                b.scalar_type(), " ", b.sizes());
    TORCH_CHECK(b.device() == x.device(),
                "bias_act: b must be on the same device as x");
    TORCH_CHECK(dim >= 0 && dim < x.dim(), "bias_act: dim ", dim,
                " is out of range for x of ", x.dim(), " dimensions");
    TORCH_CHECK(b.size(0) == x.size(dim), "bias_act: b has ", b.size(0),
                " elements but x has ", x.size(dim), " along dim ", dim);
    channels = b.size(0);
    inner = 1;
    const auto position = std::find(dims.begin(), dims.end(), dim);
    for (auto d = position + 1; d != dims.end(); ++d) inner *= x.size(*d);
    bias = b.to(acc_type).contiguous();
  }

  const at::Tensor input = x.contiguous(format);
  const at::Tensor grad =
      dy.defined() ? dy.to(x.scalar_type()).contiguous(format) : at::Tensor();
  at::Tensor out = at::empty(x.sizes(), x.options().memory_format(format));
  if (numel == 0) return out;
  medgan_aug::advise_huge_pages(out.data_ptr(), out.nbytes());

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(),
      "bias_act_cpu", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        const Params<acc_t> p{static_cast<acc_t>(alpha),
                              static_cast<acc_t>(gain),
                              static_cast<acc_t>(clamp)};
        const scalar_t* xp = input.const_data_ptr<scalar_t>();
        const scalar_t* gp =
            grad.defined() ? grad.const_data_ptr<scalar_t>() : nullptr;
        const acc_t* bp = bias.const_data_ptr<acc_t>();
        scalar_t* op = out.mutable_data_ptr<scalar_t>();
        // Walk a range in runs over which the bias is constant (inner > 1)
        // or steps along the channels (inner == 1).
        const bool per_element = inner == 1;
        const int64_t run = per_element ? channels : inner;
        with_activation(code, [&](auto code_tag) {
          with_order(order, [&](auto order_tag) {
            with_flag(clamp >= 0, [&](auto clamp_tag) {
              constexpr int kCode = decltype(code_tag)::value;
              constexpr int kOrder = decltype(order_tag)::value;
              constexpr bool kClamp = decltype(clamp_tag)::value;
              at::parallel_for(0, numel, 32768, [&](int64_t begin,
                                                    int64_t end) {
                for (int64_t i = begin; i < end;) {
                  const int64_t n = std::min(end - i, run - i % run);
                  const int64_t c =
                      per_element ? i % channels : i / inner % channels;
                  run_segment<kCode, kOrder, kClamp>(
                      xp + i, gp ? gp + i : nullptr, bp + c, per_element, n,
                      p, op + i);
                  i += n;
                }
              });
            });
          });
        });
      });
  return out;
}

at::Tensor bias_act_cpu(const at::Tensor& x, const at::Tensor& b, int64_t dim,
                        c10::string_view act, double alpha, double gain,
                        double clamp) {
  return bias_act_impl(x, b, at::Tensor(), dim, std::string(act), alpha, gain,
                       clamp, 0);
}

at::Tensor bias_act_grad_cpu(const at::Tensor& dy, const at::Tensor& x,
                             const at::Tensor& b, int64_t dim,
                             c10::string_view act, double alpha, double gain,
                             double clamp, int64_t order) {
  TORCH_CHECK(order == 1 || order == 2,
              "bias_act_grad: order must be 1 or 2, got ", order);
  return bias_act_impl(x, b, dy, dim, std::string(act), alpha, gain, clamp,
                       static_cast<int>(order));
}

}  // namespace

TORCH_LIBRARY_IMPL(medgan_aug, CPU, m) {
  m.impl("bias_act", &bias_act_cpu);
  m.impl("bias_act_grad", &bias_act_grad_cpu);
}
