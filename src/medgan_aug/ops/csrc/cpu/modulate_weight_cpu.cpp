// CPU kernel of modulate_weight: the per-sample weights of a modulated
// convolution, w[n, o] = weight[o] * styles[n] (broadcast over the kernel
// window), optionally demodulated to unit norm per output channel.
//
// The squared norm of w[n, o] is sum_i styles[n, i]^2 * |weight[o, i]|^2, so
// the per-(o, i) window norms are computed once and every (n, o) pair needs
// only I multiply-adds before it writes its scaled weights, each exactly once.

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

namespace {

// |weight[j]|^2 over each of the `rows` windows of `window` elements.
template <typename scalar_t, typename acc_t>
std::vector<acc_t> window_norms(const scalar_t* weight, int64_t rows,
                                int64_t window) {
  std::vector<acc_t> norms(rows);
  at::parallel_for(0, rows, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      acc_t sum = acc_t(0);
      for (int64_t k = 0; k < window; ++k) {
        const auto v = static_cast<acc_t>(weight[j * window + k]);
        sum += v * v;
      }
      norms[j] = sum;
    }
  });
  return norms;
}

// out[i, :] = weight[i, :] * style[i] * scale for `in_channels` windows.
template <typename scalar_t, typename acc_t>
void scale_windows(const scalar_t* weight, const acc_t* style, acc_t scale,
                   int64_t in_channels, int64_t window, scalar_t* out) {
  for (int64_t i = 0; i < in_channels; ++i) {
    const acc_t factor = style[i] * scale;
    for (int64_t k = 0; k < window; ++k) {
      out[i * window + k] = static_cast<scalar_t>(
          static_cast<acc_t>(weight[i * window + k]) * factor);
    }
  }
}

std::tuple<at::Tensor, at::Tensor> modulate_weight_cpu(
    const at::Tensor& weight, const at::Tensor& styles, bool demodulate,
    double eps) {
  TORCH_CHECK(weight.dim() == 4,
              "modulate_weight: weight must be 4-D [O, I, kh, kw], got ",
              weight.dim(), "-D");
  TORCH_CHECK(styles.dim() == 2 && styles.size(1) == weight.size(1),
              "modulate_weight: styles must be [N, I] with I = ",
              weight.size(1), ", got ", styles.sizes());
  TORCH_CHECK(styles.device() == weight.device(),
              "modulate_weight: styles must be on the same device as weight");
  TORCH_CHECK(at::isFloatingType(weight.scalar_type()) &&
                  at::isFloatingType(styles.scalar_type()),
              "modulate_weight: weight and styles must be floating point");

  const int64_t batch = styles.size(0);
  const int64_t out_channels = weight.size(0);
  const int64_t in_channels = weight.size(1);
  const int64_t window = weight.size(2) * weight.size(3);
  const at::Tensor w_in = weight.contiguous();
  const at::Tensor s_in =
      styles.to(at::toOpMathType(weight.scalar_type())).contiguous();
  at::Tensor w_out = at::empty(
      {batch, out_channels, in_channels, weight.size(2), weight.size(3)},
      weight.options());
  at::Tensor d_out = at::empty({batch, out_channels}, weight.options());

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, weight.scalar_type(),
      "modulate_weight_cpu", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        const scalar_t* wp = w_in.const_data_ptr<scalar_t>();
        const acc_t* sp = s_in.const_data_ptr<acc_t>();
        scalar_t* op = w_out.mutable_data_ptr<scalar_t>();
        scalar_t* dp = d_out.mutable_data_ptr<scalar_t>();
        const int64_t per_output = in_channels * window;
        const std::vector<acc_t> norms =
            demodulate ? window_norms<scalar_t, acc_t>(
                             wp, out_channels * in_channels, window)
                       : std::vector<acc_t>();
        // Enough (n, o) pairs per task to amortise the scheduling.
        const int64_t grain =
            std::max<int64_t>(1, 32768 / std::max<int64_t>(1, per_output));
        at::parallel_for(0, batch * out_channels, grain, [&](int64_t begin,
                                                             int64_t end) {
          for (int64_t task = begin; task < end; ++task) {
            const int64_t n = task / out_channels;
            const int64_t o = task % out_channels;
            const acc_t* style = sp + n * in_channels;
            acc_t scale = acc_t(1);
            if (demodulate) {
              const acc_t* norm = norms.data() + o * in_channels;
              acc_t sum = acc_t(0);
              for (int64_t i = 0; i < in_channels; ++i) {
                sum += style[i] * style[i] * norm[i];
              }
              scale = acc_t(1) / std::sqrt(sum + static_cast<acc_t>(eps));
            }
            scale_windows(wp + o * per_output, style, scale, in_channels,
                          window, op + task * per_output);
            dp[task] = static_cast<scalar_t>(scale);
          }
        });
      });
  return {w_out, d_out};
}

}  // namespace

TORCH_LIBRARY_IMPL(medgan_aug, CPU, m) {
  m.impl("modulate_weight", &modulate_weight_cpu);
}
