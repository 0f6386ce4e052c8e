// Activation functions of bias_act and their first two derivatives, shared by
// the CPU, CUDA and emulated kernels so every backend computes the same math.
// The templates are meant for float and double (kernels evaluate half types
// in their opmath type); they call only C math functions that exist on the
// host and in CUDA device code.
#pragma once

#include <math.h>

#include <string>
#include <type_traits>

#include <c10/util/Exception.h>

#if defined(__CUDACC__)
#define MEDGAN_HD __host__ __device__
#else
#define MEDGAN_HD
#endif

enum ActivationCode : int {
  kLinear = 0,
  kRelu,
  kLrelu,
  kTanh,
  kSigmoid,
  kElu,
  kSelu,
  kSoftplus,
  kSwish,
};

// The C names (expf vs exp) pick the precision explicitly; an unqualified
// exp(float) is not guaranteed to resolve to the float overload on the host.
MEDGAN_HD inline float act_exp(float v) { return expf(v); }
MEDGAN_HD inline double act_exp(double v) { return exp(v); }
MEDGAN_HD inline float act_expm1(float v) { return expm1f(v); }
MEDGAN_HD inline double act_expm1(double v) { return expm1(v); }
MEDGAN_HD inline float act_log1p(float v) { return log1pf(v); }
MEDGAN_HD inline double act_log1p(double v) { return log1p(v); }
MEDGAN_HD inline float act_tanh(float v) { return tanhf(v); }
MEDGAN_HD inline double act_tanh(double v) { return tanh(v); }
MEDGAN_HD inline float act_fabs(float v) { return fabsf(v); }
MEDGAN_HD inline double act_fabs(double v) { return fabs(v); }

// SELU constants (Klambauer et al. 2017).
template <typename T>
MEDGAN_HD inline T selu_alpha() {
  return T(1.6732632423543772848170429916717);
}
template <typename T>
MEDGAN_HD inline T selu_scale() {
  return T(1.0507009873554804934193349852946);
}

template <typename T>
MEDGAN_HD inline T act_sigmoid(T z) {
  return T(1) / (T(1) + act_exp(-z));
}

// act(z) for order 0, act'(z) for order 1, act''(z) for order 2 of the
// activation kCode.  `alpha` is the lrelu slope and is ignored by every other
// activation (including elu, matching StyleGAN2-ADA).  At kinks the z > 0
// branch is taken only for z > 0.  The code is a template argument so that a
// kernel looping over one activation compiles to just its math.
template <int kCode, typename T>
MEDGAN_HD inline T activation_of(T z, T alpha, int order) {
  const bool pos = z > T(0);
  if constexpr (kCode == kRelu) {
    if (order == 0) return pos ? z : T(0);
    return order == 1 && pos ? T(1) : T(0);
  } else if constexpr (kCode == kLrelu) {
    if (order == 0) return pos ? z : alpha * z;
    return order == 1 ? (pos ? T(1) : alpha) : T(0);
  } else if constexpr (kCode == kTanh) {
    const T t = act_tanh(z);
    if (order == 0) return t;
    const T d = T(1) - t * t;
    return order == 1 ? d : T(-2) * t * d;
  } else if constexpr (kCode == kSigmoid) {
    const T s = act_sigmoid(z);
    if (order == 0) return s;
    const T d = s * (T(1) - s);
    return order == 1 ? d : d * (T(1) - T(2) * s);
  } else if constexpr (kCode == kElu) {
    if (order == 0) return pos ? z : act_expm1(z);
    if (pos) return order == 1 ? T(1) : T(0);
    return act_exp(z);
  } else if constexpr (kCode == kSelu) {
    if (order == 0) {
      return selu_scale<T>() * (pos ? z : selu_alpha<T>() * act_expm1(z));
    }
    if (pos) return order == 1 ? selu_scale<T>() : T(0);
    return selu_scale<T>() * selu_alpha<T>() * act_exp(z);
  } else if constexpr (kCode == kSoftplus) {
    // max(z, 0) + log1p(exp(-|z|)) never overflows exp.
    if (order == 0) return (pos ? z : T(0)) + act_log1p(act_exp(-act_fabs(z)));
    const T s = act_sigmoid(z);
    return order == 1 ? s : s * (T(1) - s);
  } else if constexpr (kCode == kSwish) {
    const T s = act_sigmoid(z);
    if (order == 0) return z * s;
    const T d = s * (T(1) - s);
    return order == 1 ? s + z * d : d * (T(2) + z * (T(1) - T(2) * s));
  } else {
    static_assert(kCode == kLinear, "unknown activation code");
    if (order == 0) return z;
    return order == 1 ? T(1) : T(0);
  }
}

// Calls f(std::integral_constant<int, kCode>{}) for the run-time activation
// `code`, so that callers can hoist the choice out of their loops.
template <typename F>
MEDGAN_HD inline auto with_activation(int code, const F& f) {
  switch (code) {
    case kRelu:
      return f(std::integral_constant<int, kRelu>{});
    case kLrelu:
      return f(std::integral_constant<int, kLrelu>{});
    case kTanh:
      return f(std::integral_constant<int, kTanh>{});
    case kSigmoid:
      return f(std::integral_constant<int, kSigmoid>{});
    case kElu:
      return f(std::integral_constant<int, kElu>{});
    case kSelu:
      return f(std::integral_constant<int, kSelu>{});
    case kSoftplus:
      return f(std::integral_constant<int, kSoftplus>{});
    case kSwish:
      return f(std::integral_constant<int, kSwish>{});
    default:
      return f(std::integral_constant<int, kLinear>{});
  }
}

// activation_of with the activation chosen at run time.
template <typename T>
MEDGAN_HD inline T activation(int code, T z, T alpha, int order) {
  return with_activation(code, [&](auto code_tag) {
    return activation_of<decltype(code_tag)::value>(z, alpha, order);
  });
}

// Output clamping: a negative `clamp` disables it.
template <typename T>
MEDGAN_HD inline T clamp_output(T y, T clamp) {
  if (clamp < T(0)) return y;
  return y > clamp ? clamp : (y < -clamp ? -clamp : y);
}

// Gradient mask of clamp_output at the unclamped output `y` (1 = passes):
// the bounds themselves pass, like torch.clamp's gradient.
template <typename T>
MEDGAN_HD inline T clamp_mask(T y, T clamp) {
  return clamp < T(0) || act_fabs(y) <= clamp ? T(1) : T(0);
}

// Host only: maps an activation name to its code.
inline int activation_code(const std::string& name) {
  static const char* const kNames[] = {"linear", "relu",    "lrelu",
                                       "tanh",   "sigmoid", "elu",
                                       "selu",   "softplus", "swish"};
  int code = 0;
  while (code <= kSwish && name != kNames[code]) ++code;
  TORCH_CHECK(code <= kSwish, "unknown activation '", name,
              "'; expected one of linear, relu, lrelu, tanh, sigmoid, elu, "
              "selu, softplus, swish");
  return code;
}
