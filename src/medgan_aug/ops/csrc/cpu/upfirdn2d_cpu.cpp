// CPU kernel of upfirdn2d: zero-insertion upsampling, padding, FIR filtering
// and downsampling of every [H, W] plane (semantics in docs/ops.rst).
//
// Both axes are computed polyphase, so the inserted zeros are never touched:
// output o of an axis reads upsampled sample o*down + t - pad0 through tap t,
// and only samples at multiples of `up` are real.  The useful taps of an
// output are therefore t0, t0 + up, ... reading consecutive inputs, and that
// pattern repeats every `period` outputs, shifted by `step` inputs.
//
// Grouping the outputs by phase turns every tap into a strided sweep over a
// whole plane: vertically, phase p's output rows read input rows `step`
// apart; horizontally, the input rows are first copied into zero-padded
// scratch rows split into `step` interleaved lanes, after which phase p's
// outputs read consecutive elements of one lane.  All the arithmetic is then
// "sum of a few weighted, shifted 2-D blocks", done in one vectorised loop
// per group of taps.  Planes are independent and processed in parallel, each
// in per-thread scratch that stays in cache for common sizes.
//
// A channels_last input keeps its format: it runs through Upfirdn2dNhwc,
// vectorised over the innermost C, in parallel over output rows.  Other
// inputs are made NCHW-contiguous first.

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/output_pages.h"
#include "common/vector_clones.h"

namespace {

int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

// (column, row) factors of a 2-D filter that is exactly their outer product
// up to double rounding, such as the normalised [1,3,3,1] x [1,3,3,1]
// resampling filter.  Those run as two 1-D passes, which costs fw + fh
// instead of fw * fh multiply-adds per output; other filters get nullopt.
std::optional<std::pair<std::vector<double>, std::vector<double>>>
exact_rank_one(const std::vector<double>& g, int64_t fh, int64_t fw) {
  const auto pivot = std::max_element(
      g.begin(), g.end(),
      [](double a, double b) { return std::abs(a) < std::abs(b); });
  const double peak = *pivot;
  if (peak == 0 || !std::isfinite(peak)) return std::nullopt;
  const int64_t pr = (pivot - g.begin()) / fw;
  const int64_t pc = (pivot - g.begin()) % fw;
  std::vector<double> column(fh);
  std::vector<double> row(fw);
  for (int64_t r = 0; r < fh; ++r) column[r] = g[r * fw + pc];
  for (int64_t c = 0; c < fw; ++c) row[c] = g[pr * fw + c] / peak;
  const double tolerance = 4 * std::numeric_limits<double>::epsilon() * std::abs(peak);
  for (int64_t r = 0; r < fh; ++r) {
    for (int64_t c = 0; c < fw; ++c) {
      if (std::abs(column[r] * row[c] - g[r * fw + c]) > tolerance) {
        return std::nullopt;
      }
    }
  }
  return std::make_pair(std::move(column), std::move(row));
}

int64_t output_size(int64_t size, int64_t up, int64_t down, int64_t pad0,
                    int64_t pad1, int64_t taps) {
  return floor_div(size * up + pad0 + pad1 - taps, down) + 1;
}

// The polyphase tap pattern of one axis (see the file comment).
struct Axis {
  int64_t size;
  int64_t out;
  int64_t up;
  int64_t period;
  int64_t step;
  int64_t max_count = 0;
  std::vector<int64_t> tap0;   // first useful tap of each phase
  std::vector<int64_t> count;  // number of useful taps of each phase
  std::vector<int64_t> first;  // first input read by the phase's first output

  Axis(int64_t size_, int64_t up_, int64_t down, int64_t pad0, int64_t pad1,
       int64_t taps)
      : size(size_),
        out(output_size(size_, up_, down, pad0, pad1, taps)),
        up(up_),
        period(up_ / std::gcd(up_, down)),
        step(down / std::gcd(up_, down)) {
    for (int64_t p = 0; p < period; ++p) {
      const int64_t tap0_position = p * down - pad0;
      const int64_t t0 = floor_mod(-tap0_position, up);
      const int64_t n = t0 < taps ? (taps - t0 + up - 1) / up : 0;
      tap0.push_back(t0);
      count.push_back(n);
      first.push_back((tap0_position + t0) / up);
      max_count = std::max(max_count, n);
    }
  }

  int64_t outputs(int64_t phase) const {
    return phase < out ? (out - phase + period - 1) / period : 0;
  }
  int64_t max_outputs() const { return outputs(0); }

  // The outputs [lo, hi) of `phase` within [m0, m1) whose taps all fall
  // inside the input: they run as one block, the rest one at a time.
  std::pair<int64_t, int64_t> interior(int64_t phase, int64_t m0,
                                       int64_t m1) const {
    const int64_t lo = std::clamp<int64_t>(-floor_div(first[phase], step), m0, m1);
    const int64_t hi = std::clamp<int64_t>(
        floor_div(size - count[phase] - first[phase], step) + 1, lo, m1);
    return {lo, hi};
  }
};

// Where the samples of an input row live in its scratch row: after `margin`
// zeros, spread over `lanes` lanes of `lane_size` (padded sample i goes to
// lane i % lanes, element i / lanes).  Consecutive outputs of a phase then
// read consecutive elements of one lane, and every read of the filter stays
// inside the zero-initialised scratch row.
struct RowLayout {
  int64_t margin = 0;
  int64_t lanes = 1;
  int64_t lane_size = 0;

  explicit RowLayout(const Axis& ax) : lanes(ax.step) {
    int64_t lo = 0;
    int64_t hi = ax.size;
    for (int64_t p = 0; p < ax.period; ++p) {
      const int64_t n = ax.outputs(p);
      if (n == 0 || ax.count[p] == 0) continue;
      lo = std::min(lo, ax.first[p]);
      hi = std::max(hi, ax.first[p] + (n - 1) * ax.step + ax.count[p]);
    }
    margin = -lo;
    lane_size = (hi + margin + lanes - 1) / lanes;
  }

  int64_t offset(int64_t index) const {
    const int64_t i = index + margin;
    return i % lanes * lane_size + i / lanes;
  }
  int64_t size() const { return lanes * lane_size; }
};

// `rows` rows of `n` elements; consecutive rows are `src_stride` apart in
// every source and `dst_stride` apart in the destination.
struct Block {
  int64_t rows;
  int64_t n;
  int64_t src_stride;
  int64_t dst_stride;
};

template <int K, bool kAccumulate, typename src_t, typename acc_t>
inline void weighted_row(const src_t* const* src, const acc_t* w, int64_t n,
                         acc_t* __restrict dst) {
  for (int64_t i = 0; i < n; ++i) {
    acc_t acc = w[0] * static_cast<acc_t>(src[0][i]);
    for (int k = 1; k < K; ++k) acc += w[k] * static_cast<acc_t>(src[k][i]);
    dst[i] = kAccumulate ? dst[i] + acc : acc;
  }
}

// dst (+)= sum_k w[k] * src[k] over a block, for K sources at once so that
// dst is loaded and stored once per K sources.
template <int K, bool kAccumulate, typename src_t, typename acc_t>
MEDGAN_VECTOR_CLONES void weighted_sum(const src_t* const* src,
                                       const acc_t* w, Block block,
                                       acc_t* dst) {
  const src_t* rows[K];
  acc_t weights[K];
  for (int k = 0; k < K; ++k) weights[k] = w[k];
  for (int64_t r = 0; r < block.rows; ++r) {
    for (int k = 0; k < K; ++k) rows[k] = src[k] + r * block.src_stride;
    weighted_row<K, kAccumulate>(rows, weights, block.n,
                                 dst + r * block.dst_stride);
  }
}

// Sums weighted source blocks into a destination block, sweeping the
// destination once per group of up to kGroup sources; the destination ends
// up zero if nothing was added.
template <typename src_t, typename acc_t>
class WeightedSum {
 public:
  static constexpr int kGroup = 4;

  WeightedSum(const Block& block, acc_t* dst) : block_(block), dst_(dst) {}

  void add(const src_t* src, acc_t weight) {
    src_[size_] = src;
    weight_[size_] = weight;
    if (++size_ == kGroup) flush();
  }

  void finish() {
    flush();
    if (written_) return;
    for (int64_t r = 0; r < block_.rows; ++r) {
      acc_t* row = dst_ + r * block_.dst_stride;
      std::fill(row, row + block_.n, acc_t(0));
    }
  }

 private:
  template <bool kAccumulate>
  void sweep() {
    switch (size_) {
      case 1:
        return weighted_sum<1, kAccumulate>(src_, weight_, block_, dst_);
      case 2:
        return weighted_sum<2, kAccumulate>(src_, weight_, block_, dst_);
      case 3:
        return weighted_sum<3, kAccumulate>(src_, weight_, block_, dst_);
      default:
        return weighted_sum<kGroup, kAccumulate>(src_, weight_, block_, dst_);
    }
  }

  void flush() {
    if (size_ == 0) return;
    if (written_) {
      sweep<true>();
    } else {
      sweep<false>();
    }
    written_ = true;
    size_ = 0;
  }

  Block block_;
  acc_t* dst_;
  const src_t* src_[kGroup] = {};
  acc_t weight_[kGroup] = {};
  int size_ = 0;
  bool written_ = false;
};

// Vertical pass: for every output row o of `ay`, calls
// add_taps(sum, input_row, tap) for each useful tap whose input row exists
// (rows outside the input are padding), where `sum` accumulates output row
// o, `n` elements wide, of dst (rows `dst_pitch` apart).  Sources added for
// input row r + step must lie `step * src_pitch` after those for row r: the
// output rows whose taps all fall inside the input are then summed as one
// block per phase, and only the few rows near the borders one at a time.
template <typename src_t, typename acc_t, typename AddTaps>
void sum_rows(const Axis& ay, int64_t n, int64_t src_pitch, acc_t* dst,
              int64_t dst_pitch, const AddTaps& add_taps) {
  for (int64_t p = 0; p < ay.period; ++p) {
    const int64_t outputs = ay.outputs(p);
    const int64_t count = ay.count[p];
    const int64_t first = ay.first[p];
    const auto [lo, hi] = ay.interior(p, 0, outputs);
    auto sum_output_rows = [&](int64_t m, int64_t rows) {
      WeightedSum<src_t, acc_t> sum(
          {rows, n, ay.step * src_pitch, ay.period * dst_pitch},
          dst + (m * ay.period + p) * dst_pitch);
      for (int64_t k = 0; k < count; ++k) {
        const int64_t row = first + m * ay.step + k;
        if (row >= 0 && row < ay.size) {
          add_taps(sum, row, ay.tap0[p] + k * ay.up);
        }
      }
      sum.finish();
    };
    for (int64_t m = 0; m < lo; ++m) sum_output_rows(m, 1);
    if (hi > lo) sum_output_rows(lo, hi - lo);
    for (int64_t m = hi; m < outputs; ++m) sum_output_rows(m, 1);
  }
}

// Horizontal pass over `rows` scratch rows (laid out as in RowLayout,
// `pitch` apart): phase p's outputs go to out[p], rows `dst_pitch` apart.
template <typename acc_t>
void filter_rows(const acc_t* laid_out, int64_t rows, int64_t pitch,
                 const Axis& ax, const int64_t* offset, const acc_t* weight,
                 acc_t* const* out, int64_t dst_pitch) {
  for (int64_t p = 0; p < ax.period; ++p) {
    WeightedSum<acc_t, acc_t> sum({rows, ax.outputs(p), pitch, dst_pitch},
                                  out[p]);
    for (int64_t k = 0; k < ax.count[p]; ++k) {
      sum.add(laid_out + offset[p * ax.max_count + k],
              weight[p * ax.max_count + k]);
    }
    sum.finish();
  }
}

// Splits src[0, n) in two: even samples to `even`, odd ones to `odd`.  Kept
// apart from the general lane layout because downsampling by 2 is common and
// this form vectorises.
template <typename src_t, typename acc_t>
MEDGAN_VECTOR_CLONES void deinterleave2(const src_t* src, int64_t n,
                                        acc_t* even, acc_t* odd) {
  const int64_t pairs = n / 2;
  for (int64_t q = 0; q < pairs; ++q) {
    even[q] = static_cast<acc_t>(src[2 * q]);
    odd[q] = static_cast<acc_t>(src[2 * q + 1]);
  }
  if (n % 2) even[pairs] = static_cast<acc_t>(src[n - 1]);
}

// Copies a row of `size` samples into its place in a zeroed scratch row; the
// zeros around it are never written, so they stay valid across rows.
template <typename src_t, typename acc_t>
void lay_out_row(const src_t* src, int64_t size, const RowLayout& layout,
                 acc_t* row) {
  if (layout.lanes == 1) {
    acc_t* dst = row + layout.margin;
    for (int64_t j = 0; j < size; ++j) dst[j] = static_cast<acc_t>(src[j]);
    return;
  }
  if (layout.lanes == 2) {
    deinterleave2(src, size, row + layout.offset(0), row + layout.offset(1));
    return;
  }
  for (int64_t lane = 0; lane < layout.lanes; ++lane) {
    const int64_t j0 = floor_mod(lane - layout.margin, layout.lanes);
    const int64_t n =
        j0 < size ? (size - j0 + layout.lanes - 1) / layout.lanes : 0;
    acc_t* dst = row + layout.offset(j0);
    for (int64_t i = 0; i < n; ++i) {
      dst[i] = static_cast<acc_t>(src[j0 + i * layout.lanes]);
    }
  }
}

// Writes one row from its phases' outputs (output m * period + p is
// phases[p][offset + m]), converting to the destination type.
template <typename acc_t, typename dst_t>
void interleave(const acc_t* const* phases, int64_t offset, const Axis& ax,
                dst_t* dst) {
  if (ax.period == 2) {
    const acc_t* even = phases[0] + offset;
    const acc_t* odd = phases[1] + offset;
    const int64_t n = ax.outputs(1);
    for (int64_t m = 0; m < n; ++m) {
      dst[2 * m] = static_cast<dst_t>(even[m]);
      dst[2 * m + 1] = static_cast<dst_t>(odd[m]);
    }
    if (ax.outputs(0) > n) dst[2 * n] = static_cast<dst_t>(even[n]);
    return;
  }
  for (int64_t p = 0; p < ax.period; ++p) {
    const acc_t* src = phases[p] + offset;
    const int64_t n = ax.outputs(p);
    for (int64_t m = 0; m < n; ++m) {
      dst[m * ax.period + p] = static_cast<dst_t>(src[m]);
    }
  }
}

template <typename scalar_t>
class Upfirdn2d {
  using acc_t = at::opmath_type<scalar_t>;
  // Results can be written straight into the output only without a
  // conversion.
  static constexpr bool kDirect = std::is_same_v<acc_t, scalar_t>;

 public:
  // `g` holds the `rows` rows of the flipped filter with the gain folded
  // in.  A separable filter passes its horizontal taps as one row of `g` and
  // its vertical taps as `vertical`; a full 2-D filter leaves `vertical` empty.
  Upfirdn2d(const Axis& ax, const Axis& ay, const std::vector<double>& g,
            int64_t rows, const std::vector<double>& vertical)
      : ax_(ax), ay_(ay), layout_(ax), separable_(!vertical.empty()) {
    const int64_t fw = static_cast<int64_t>(g.size()) / rows;
    hoffset_.assign(ax_.period * ax_.max_count, 0);
    hweight_.assign(rows * ax_.period * ax_.max_count, acc_t(0));
    for (int64_t p = 0; p < ax_.period; ++p) {
      for (int64_t k = 0; k < ax_.count[p]; ++k) {
        const int64_t i = p * ax_.max_count + k;
        const int64_t t = ax_.tap0[p] + k * ax_.up;
        hoffset_[i] = layout_.offset(ax_.first[p] + k);
        for (int64_t r = 0; r < rows; ++r) {
          hweight_[r * ax_.period * ax_.max_count + i] =
              static_cast<acc_t>(g[r * fw + t]);
        }
      }
    }
    for (const double v : vertical) {
      vweight_.push_back(static_cast<acc_t>(v));
    }
    // The horizontal pass costs more per output (lanes, phases), so run it
    // on whichever of the input rows and output rows are fewer, weighing in
    // the vertical pass's work on the rows it then sees.
    const int64_t row_cost = ax_.size + ax_.out * (ax_.max_count + 1);
    const int64_t cost_horizontal_first =
        ay_.size * row_cost + ay_.out * ax_.out * ay_.max_count;
    const int64_t cost_vertical_first =
        ay_.out * ax_.size * ay_.max_count + ay_.out * row_cost;
    horizontal_first_ =
        separable_ && cost_horizontal_first < cost_vertical_first;
  }

  // Per-thread scratch memory.
  struct Scratch {
    std::vector<acc_t> laid_out;  // zero-padded rows, RowLayout pitch
    std::vector<acc_t> phases;    // per-phase horizontal outputs
    std::vector<acc_t> plane;     // rows between the passes
    std::vector<acc_t*> phase_ptr;  // start of each phase in `phases`
  };

  Scratch scratch() const {
    Scratch s;
    // Rows seen by the horizontal pass: input rows unless vertical first.
    const int64_t rows =
        separable_ && !horizontal_first_ ? ay_.out : ay_.size;
    s.laid_out.assign(rows * layout_.size(), acc_t(0));
    const int64_t phase_rows = separable_ ? rows : ay_.out;
    const int64_t phase_size = phase_rows * ax_.max_outputs();
    s.phases.assign(ax_.period * phase_size, acc_t(0));
    for (int64_t p = 0; p < ax_.period; ++p) {
      s.phase_ptr.push_back(s.phases.data() + p * phase_size);
    }
    if (horizontal_first_) {
      s.plane.assign((ay_.size + (kDirect ? 0 : ay_.out)) * ax_.out, acc_t(0));
    } else if (separable_ && layout_.lanes > 1) {
      s.plane.assign(ay_.out * ax_.size, acc_t(0));
    }
    return s;
  }

  void run(const scalar_t* x, scalar_t* y, Scratch& s) const {
    if (!separable_) {
      run_full(x, y, s);
    } else if (horizontal_first_) {
      run_horizontal_first(x, y, s);
    } else {
      run_vertical_first(x, y, s);
    }
  }

 private:
  void lay_out_rows(const scalar_t* x, Scratch& s) const {
    for (int64_t r = 0; r < ay_.size; ++r) {
      lay_out_row(x + r * ax_.size, ax_.size, layout_,
                  s.laid_out.data() + r * layout_.size());
    }
  }

  // Horizontal pass of `rows` scratch rows into rows of `dst`, `ax_.out`
  // apart.
  template <typename dst_t>
  void horizontal(int64_t rows, Scratch& s, dst_t* dst) const {
    const acc_t* src = s.laid_out.data();
    const int64_t pitch = layout_.size();
    if constexpr (std::is_same_v<dst_t, acc_t>) {
      if (ax_.period == 1) {
        filter_rows(src, rows, pitch, ax_, hoffset_.data(), hweight_.data(),
                    &dst, ax_.out);
        return;
      }
    }
    filter_rows(src, rows, pitch, ax_, hoffset_.data(), hweight_.data(),
                s.phase_ptr.data(), ax_.max_outputs());
    interleave_rows(rows, s, dst);
  }

  template <typename dst_t>
  void interleave_rows(int64_t rows, const Scratch& s, dst_t* dst) const {
    for (int64_t r = 0; r < rows; ++r) {
      interleave(s.phase_ptr.data(), r * ax_.max_outputs(), ax_,
                 dst + r * ax_.out);
    }
  }

  void run_horizontal_first(const scalar_t* x, scalar_t* y,
                            Scratch& s) const {
    lay_out_rows(x, s);
    acc_t* tmp = s.plane.data();
    horizontal(ay_.size, s, tmp);
    const int64_t width = ax_.out;
    auto add_taps = [&](auto& sum, int64_t row, int64_t tap) {
      sum.add(tmp + row * width, vweight_[tap]);
    };
    if constexpr (kDirect) {
      sum_rows<acc_t>(ay_, width, width, y, width, add_taps);
    } else {
      acc_t* out = tmp + ay_.size * width;
      sum_rows<acc_t>(ay_, width, width, out, width, add_taps);
      for (int64_t i = 0; i < ay_.out * width; ++i) {
        y[i] = static_cast<scalar_t>(out[i]);
      }
    }
  }

  void run_vertical_first(const scalar_t* x, scalar_t* y, Scratch& s) const {
    // With a single lane a scratch row is the plain row after the margin,
    // so the vertical pass can write it in place.
    const bool in_place = layout_.lanes == 1;
    const int64_t width = ax_.size;
    acc_t* dst = in_place ? s.laid_out.data() + layout_.margin : s.plane.data();
    const int64_t dst_pitch = in_place ? layout_.size() : width;
    sum_rows<scalar_t>(ay_, width, width, dst, dst_pitch,
                       [&](auto& sum, int64_t row, int64_t tap) {
                         sum.add(x + row * width, vweight_[tap]);
                       });
    if (!in_place) {
      for (int64_t r = 0; r < ay_.out; ++r) {
        lay_out_row(dst + r * width, width, layout_,
                    s.laid_out.data() + r * layout_.size());
      }
    }
    horizontal(ay_.out, s, y);
  }

  // Non-separable filter: phase px of every output row sums, over the
  // useful input rows, that row's horizontal taps weighted by the filter row
  // the input row meets.
  void run_full(const scalar_t* x, scalar_t* y, Scratch& s) const {
    lay_out_rows(x, s);
    const acc_t* laid_out = s.laid_out.data();
    const int64_t pitch = layout_.size();
    const int64_t per_row = ax_.period * ax_.max_count;
    for (int64_t px = 0; px < ax_.period; ++px) {
      const int64_t* offset = hoffset_.data() + px * ax_.max_count;
      sum_rows<acc_t>(
          ay_, ax_.outputs(px), pitch, s.phase_ptr[px], ax_.max_outputs(),
          [&](auto& sum, int64_t row, int64_t tap) {
            const acc_t* weight =
                hweight_.data() + tap * per_row + px * ax_.max_count;
            for (int64_t kx = 0; kx < ax_.count[px]; ++kx) {
              sum.add(laid_out + row * pitch + offset[kx], weight[kx]);
            }
          });
    }
    interleave_rows(ay_.out, s, y);
  }

  Axis ax_;
  Axis ay_;
  RowLayout layout_;
  bool separable_;
  bool horizontal_first_ = false;
  std::vector<int64_t> hoffset_;  // [period][max_count], into a scratch row
  std::vector<acc_t> hweight_;    // [filter rows][period][max_count]
  std::vector<acc_t> vweight_;    // separable only, indexed by tap
};

// Upsampling by 2 on both axes with a separable filter of 2 to 4 taps per
// axis: upsample2d with StyleGAN2's [1,3,3,1], and the gradient of
// downsample2d.  Their planes are small (often 32 x 32 -> 64 x 64), so the
// generic machinery's per-row bookkeeping (phase blocks, lanes, a separate
// interleave pass) costs more than the arithmetic.  Here a chunk of output
// rows is first summed vertically (at most 2 input rows each) into
// zero-margined scratch rows, then one loop per row computes its even and
// odd outputs from its scratch row and stores them interleaved, so the
// output is written once, in order.  Summing a chunk before filtering it
// keeps the horizontal pass's unaligned loads away from the stores that
// produced them (a load straddling two recent stores cannot be forwarded and
// waits for them to retire).  A whole plane is one call, which keeps the
// per-row cost to a few loop set-ups.
template <typename acc_t>
struct Upsample2Plan {
  int64_t width = 0;
  int64_t height = 0;
  int64_t out_w = 0;
  int64_t out_h = 0;
  int64_t margin = 0;      // zeros before the input samples in a scratch row
  int64_t row_size = 0;    // scratch row pitch, margins included
  int64_t xfirst[2] = {};  // input column read by phase p's first output
  int64_t yfirst[2] = {};
  int ycount[2] = {};
  acc_t xweight[2][2] = {};
  acc_t yweight[2][2] = {};
};

// Output rows per chunk: their scratch rows stay in L1 for planes up to a
// few hundred pixels wide.
constexpr int64_t kUpsample2ChunkRows = 16;

// Whether an axis runs on the up-2 path: up 2, down 1 (one input step per
// phase) and 1 or 2 useful taps in each phase.
bool upsample2_axis(const Axis& a) {
  return a.up == 2 && a.period == 2 && a.step == 1 && a.count[0] >= 1 &&
         a.count[1] >= 1 && a.max_count <= 2;
}

// The horizontal loop is instantiated per tap count of the even and odd
// phases (1 or 2), so that a 3-tap filter's one-tap phase never multiplies
// by a padding weight: an infinite input stays infinite, as in the
// definition, instead of turning into NaN.
template <int kEven, int kOdd, typename src_t, typename acc_t, typename dst_t>
MEDGAN_VECTOR_CLONES void upsample2_plane(const Upsample2Plan<acc_t>& plan,
                                          const src_t* __restrict x,
                                          acc_t* __restrict rows,
                                          dst_t* __restrict y) {
  const int64_t width = plan.width;
  const acc_t e0 = plan.xweight[0][0];
  const acc_t e1 = plan.xweight[0][1];
  const acc_t o0 = plan.xweight[1][0];
  const acc_t o1 = plan.xweight[1][1];
  const int64_t pairs = plan.out_w / 2;
  for (int64_t oy0 = 0; oy0 < plan.out_h; oy0 += kUpsample2ChunkRows) {
    const int64_t oy1 = std::min(plan.out_h, oy0 + kUpsample2ChunkRows);
    // Vertical sums, in the body rather than a helper so that they get this
    // clone's instruction set.
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      acc_t* __restrict mid = rows + (oy - oy0) * plan.row_size + plan.margin;
      const int p = static_cast<int>(oy % 2);
      const int64_t r0 = plan.yfirst[p] + oy / 2;
      const src_t* src[2] = {};
      acc_t w[2] = {};
      int n = 0;
      for (int k = 0; k < plan.ycount[p]; ++k) {
        if (r0 + k >= 0 && r0 + k < plan.height) {
          src[n] = x + (r0 + k) * width;
          w[n] = plan.yweight[p][k];
          ++n;
        }
      }
      if (n == 2) {
        const src_t* __restrict a = src[0];
        const src_t* __restrict b = src[1];
        for (int64_t j = 0; j < width; ++j) {
          mid[j] = w[0] * static_cast<acc_t>(a[j]) + w[1] * static_cast<acc_t>(b[j]);
        }
      } else if (n == 1) {
        const src_t* __restrict a = src[0];
        for (int64_t j = 0; j < width; ++j) mid[j] = w[0] * static_cast<acc_t>(a[j]);
      } else {
        std::fill(mid, mid + width, acc_t(0));
      }
    }
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      const acc_t* mid = rows + (oy - oy0) * plan.row_size + plan.margin;
      const acc_t* __restrict even = mid + plan.xfirst[0];
      const acc_t* __restrict odd = mid + plan.xfirst[1];
      dst_t* __restrict out = y + oy * plan.out_w;
      for (int64_t m = 0; m < pairs; ++m) {
        acc_t e = e0 * even[m];
        if constexpr (kEven == 2) e += e1 * even[m + 1];
        acc_t o = o0 * odd[m];
        if constexpr (kOdd == 2) o += o1 * odd[m + 1];
        out[2 * m] = static_cast<dst_t>(e);
        out[2 * m + 1] = static_cast<dst_t>(o);
      }
      if (plan.out_w % 2) {
        acc_t e = e0 * even[pairs];
        if constexpr (kEven == 2) e += e1 * even[pairs + 1];
        out[2 * pairs] = static_cast<dst_t>(e);
      }
    }
  }
}

template <typename scalar_t>
class Upsample2Separable {
  using acc_t = at::opmath_type<scalar_t>;

 public:
  // The calls this class runs; Upfirdn2d takes every other NCHW call.
  static bool applies(const Axis& ax, const Axis& ay, bool separable) {
    return separable && upsample2_axis(ax) && upsample2_axis(ay);
  }

  // `g` holds the flipped horizontal taps (gain folded in), `vertical` the
  // vertical ones.
  Upsample2Separable(const Axis& ax, const Axis& ay,
                     const std::vector<double>& g,
                     const std::vector<double>& vertical) {
    const RowLayout layout(ax);
    plan_.width = ax.size;
    plan_.height = ay.size;
    plan_.out_w = ax.out;
    plan_.out_h = ay.out;
    plan_.margin = layout.margin;
    plan_.row_size = layout.size();
    for (int p = 0; p < 2; ++p) {
      plan_.xfirst[p] = ax.first[p];
      plan_.yfirst[p] = ay.first[p];
      plan_.ycount[p] = static_cast<int>(ay.count[p]);
      for (int64_t k = 0; k < ax.count[p]; ++k) {
        plan_.xweight[p][k] = static_cast<acc_t>(g[ax.tap0[p] + 2 * k]);
      }
      for (int64_t k = 0; k < ay.count[p]; ++k) {
        plan_.yweight[p][k] = static_cast<acc_t>(vertical[ay.tap0[p] + 2 * k]);
      }
    }
    if (ax.count[0] == 2) {
      plane_ = ax.count[1] == 2 ? &upsample2_plane<2, 2, scalar_t, acc_t, scalar_t>
                                : &upsample2_plane<2, 1, scalar_t, acc_t, scalar_t>;
    } else {
      plane_ = ax.count[1] == 2 ? &upsample2_plane<1, 2, scalar_t, acc_t, scalar_t>
                                : &upsample2_plane<1, 1, scalar_t, acc_t, scalar_t>;
    }
  }

  // Per-thread scratch rows; their margins stay zero.
  std::vector<acc_t> scratch() const {
    return std::vector<acc_t>(
        std::min(plan_.out_h, kUpsample2ChunkRows) * plan_.row_size, acc_t(0));
  }

  void run(const scalar_t* x, scalar_t* y, std::vector<acc_t>& rows) const {
    plane_(plan_, x, rows.data(), y);
  }

 private:
  Upsample2Plan<acc_t> plan_;
  void (*plane_)(const Upsample2Plan<acc_t>&, const scalar_t*, acc_t*,
                 scalar_t*) = nullptr;
};

// channels_last ([N, H, W, C] in memory): every tap is a multiply-add of a
// contiguous C-vector.  Each task is one output row.  Its input rows are the
// polyphase taps of the y axis; a separable filter first sums them into one
// scratch row (a single sweep over W * C elements per group of taps), a 2-D
// filter keeps them apart.  Along x, the outputs of one phase whose taps all
// fall inside the row read pixels `step` apart, so each phase is one block
// of C-vectors (rows of the block are pixels) summed over all its taps in a
// single sweep: every output element is written once, with no zero-fill or
// accumulate pass; only the few border pixels are summed one at a time.
template <typename scalar_t>
class Upfirdn2dNhwc {
  using acc_t = at::opmath_type<scalar_t>;
  static constexpr bool kDirect = std::is_same_v<acc_t, scalar_t>;

 public:
  Upfirdn2dNhwc(const Axis& ax, const Axis& ay, int64_t channels,
                const std::vector<double>& g, int64_t rows,
                const std::vector<double>& vertical)
      : ax_(ax),
        ay_(ay),
        channels_(channels),
        fw_(static_cast<int64_t>(g.size()) / rows) {
    for (const double v : g) weight_.push_back(static_cast<acc_t>(v));
    for (const double v : vertical) vweight_.push_back(static_cast<acc_t>(v));
  }

  struct Scratch {
    std::vector<acc_t> rows;  // vertical sums of a separable filter
    std::vector<acc_t> out;   // one output row before conversion
  };

  Scratch scratch() const {
    Scratch s;
    if (!vweight_.empty()) s.rows.assign(ax_.size * channels_, acc_t(0));
    if (!kDirect) s.out.assign(ax_.out * channels_, acc_t(0));
    return s;
  }

  // Output row `row` (n * out_h + oy).
  void run(const scalar_t* x, scalar_t* y, int64_t row, Scratch& s) const {
    const int64_t n = row / ay_.out;
    const int64_t oy = row % ay_.out;
    const int64_t pitch = ax_.size * channels_;
    const scalar_t* image = x + n * ay_.size * pitch;
    scalar_t* out_row = y + row * ax_.out * channels_;
    acc_t* dst = nullptr;
    if constexpr (kDirect) {
      dst = out_row;
    } else {
      dst = s.out.data();
    }
    // The input rows output row oy reads, and their filter taps.
    const int64_t p = oy % ay_.period;
    const int64_t first = ay_.first[p] + oy / ay_.period * ay_.step;
    int64_t taps = 0;
    const scalar_t* src_rows[kMaxRows];
    int64_t src_taps[kMaxRows];
    for (int64_t k = 0; k < ay_.count[p]; ++k) {
      const int64_t r = first + k;
      if (r < 0 || r >= ay_.size) continue;
      TORCH_INTERNAL_ASSERT(taps < kMaxRows);
      src_rows[taps] = image + r * pitch;
      src_taps[taps] = ay_.tap0[p] + k * ay_.up;
      ++taps;
    }
    if (!vweight_.empty()) {
      // In chunks of output pixels, so that the vertical sums they read are
      // still in L1 when the horizontal pass reads them.
      acc_t* tmp = s.rows.data();
      const acc_t* row_ptr[1] = {tmp};
      const acc_t* row_weight[1] = {weight_.data()};
      const int64_t chunk = std::max<int64_t>(ax_.period, kChunkElements / channels_);
      for (int64_t ox0 = 0; ox0 < ax_.out; ox0 += chunk) {
        const int64_t ox1 = std::min(ax_.out, ox0 + chunk);
        int64_t lo = ax_.size;
        int64_t hi = 0;
        for (int64_t p = 0; p < ax_.period; ++p) {
          const auto [m0, m1] = phase_range(p, ox0, ox1);
          if (m1 <= m0 || ax_.count[p] == 0) continue;
          lo = std::min(lo, ax_.first[p] + m0 * ax_.step);
          hi = std::max(hi, ax_.first[p] + (m1 - 1) * ax_.step + ax_.count[p]);
        }
        lo = std::max<int64_t>(lo, 0);
        hi = std::min(hi, ax_.size);
        if (hi > lo) {
          WeightedSum<scalar_t, acc_t> vsum({1, (hi - lo) * channels_, 0, 0},
                                            tmp + lo * channels_);
          for (int64_t k = 0; k < taps; ++k) {
            vsum.add(src_rows[k] + lo * channels_, vweight_[src_taps[k]]);
          }
          vsum.finish();
        }
        filter_row<acc_t>(row_ptr, row_weight, 1, dst, ox0, ox1);
      }
    } else {
      const acc_t* row_weight[kMaxRows];
      for (int64_t k = 0; k < taps; ++k) {
        row_weight[k] = weight_.data() + src_taps[k] * fw_;
      }
      filter_row<scalar_t>(src_rows, row_weight, taps, dst, 0, ax_.out);
    }
    if constexpr (!kDirect) {
      for (int64_t i = 0; i < ax_.out * channels_; ++i) {
        out_row[i] = static_cast<scalar_t>(dst[i]);
      }
    }
  }

  // Filter rows are limited to this many (far above any resampling filter).
  static constexpr int64_t kMaxRows = 256;

 private:
  // Elements of the output pixels filtered per chunk (32 KiB of float).
  static constexpr int64_t kChunkElements = 8192;

  // The outputs m of phase p with m * period + p in [ox0, ox1).
  std::pair<int64_t, int64_t> phase_range(int64_t p, int64_t ox0,
                                          int64_t ox1) const {
    const int64_t m0 = std::max<int64_t>(0, -floor_div(p - ox0, ax_.period));
    const int64_t m1 = std::min(ax_.outputs(p),
                                std::max<int64_t>(0, -floor_div(p - ox1, ax_.period)));
    return {m0, m1};
  }

  // Output pixels [ox0, ox1) of dst (one output row) = sum over the `n`
  // source rows of their horizontal taps weighted by weight[row][tap].
  template <typename src_t>
  void filter_row(const src_t* const* src, const acc_t* const* weight,
                  int64_t n, acc_t* dst, int64_t ox0, int64_t ox1) const {
    const int64_t c = channels_;
    for (int64_t p = 0; p < ax_.period; ++p) {
      const auto [m0, outputs] = phase_range(p, ox0, ox1);
      if (outputs <= m0) continue;
      const int64_t count = ax_.count[p];
      const int64_t first = ax_.first[p];
      const auto [lo, hi] = ax_.interior(p, m0, outputs);
      auto sum_pixels = [&](int64_t m, int64_t pixels) {
        WeightedSum<src_t, acc_t> sum(
            {pixels, c, ax_.step * c, ax_.period * c},
            dst + (m * ax_.period + p) * c);
        for (int64_t r = 0; r < n; ++r) {
          for (int64_t k = 0; k < count; ++k) {
            const int64_t i = first + m * ax_.step + k;
            if (i >= 0 && i < ax_.size) {
              sum.add(src[r] + i * c, weight[r][ax_.tap0[p] + k * ax_.up]);
            }
          }
        }
        sum.finish();
      };
      for (int64_t m = m0; m < lo; ++m) sum_pixels(m, 1);
      if (hi > lo) sum_pixels(lo, hi - lo);
      for (int64_t m = hi; m < outputs; ++m) sum_pixels(m, 1);
    }
  }

  Axis ax_;
  Axis ay_;
  int64_t channels_;
  int64_t fw_;
  std::vector<acc_t> weight_;   // [rows][fw]: 2-D filter, or horizontal taps
  std::vector<acc_t> vweight_;  // vertical taps of a separable filter
};

at::Tensor upfirdn2d_cpu(const at::Tensor& x, const at::Tensor& f,
                         int64_t upx, int64_t upy, int64_t downx,
                         int64_t downy, int64_t padx0, int64_t padx1,
                         int64_t pady0, int64_t pady1, bool flip_filter,
                         double gain) {
  TORCH_CHECK(x.dim() == 4, "upfirdn2d: x must be 4-D [N, C, H, W], got ",
              x.dim(), "-D");
  TORCH_CHECK(f.dim() == 1 || f.dim() == 2,
              "upfirdn2d: f must be 1-D (separable) or 2-D, got ", f.dim(),
              "-D");
  TORCH_CHECK(f.device() == x.device(),
              "upfirdn2d: f must be on the same device as x");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()) &&
                  at::isFloatingType(f.scalar_type()),
              "upfirdn2d: x and f must be floating point");
  TORCH_CHECK(f.numel() > 0, "upfirdn2d: f must not be empty");
  TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1,
              "upfirdn2d: up and down factors must be >= 1");

  const int64_t fw = f.size(-1);
  const int64_t fh = f.dim() == 1 ? fw : f.size(0);
  const int64_t height = x.size(2);
  const int64_t width = x.size(3);
  const int64_t out_h = output_size(height, upy, downy, pady0, pady1, fh);
  const int64_t out_w = output_size(width, upx, downx, padx0, padx1, fw);
  TORCH_CHECK(out_h >= 1 && out_w >= 1, "upfirdn2d: output would be empty (",
              out_h, " x ", out_w,
              "); reduce the cropping or the filter size");

  // The gain is applied in f's own dtype, as gain ** (f.dim() / 2) (a 1-D
  // filter runs twice), to round exactly like StyleGAN2-ADA.  Correlating
  // with the reversed filter is a true convolution.
  const at::Tensor f64 =
      f.mul(f.dim() == 1 ? std::sqrt(gain) : gain).to(at::kDouble).contiguous();
  const double* fp = f64.const_data_ptr<double>();
  int64_t rows = f.dim() == 1 ? 1 : fh;
  std::vector<double> g(f64.numel());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < fw; ++c) {
      g[r * fw + c] = flip_filter ? fp[r * fw + c]
                                  : fp[(rows - 1 - r) * fw + (fw - 1 - c)];
    }
  }
  std::vector<double> vertical;
  if (f.dim() == 1) {
    vertical = g;
  } else if (auto factors = exact_rank_one(g, fh, fw)) {
    std::tie(vertical, g) = *factors;
    rows = 1;
  }

  // The output keeps the input's memory format; an input in neither format
  // is first made dense in the one it resembles.
  const bool channels_last =
      x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast
                                    : at::MemoryFormat::Contiguous;
  const at::Tensor input = x.contiguous(format);
  at::Tensor out = at::empty({x.size(0), x.size(1), out_h, out_w},
                             x.options().memory_format(format));
  const int64_t planes = x.size(0) * x.size(1);
  if (planes == 0) return out;
  medgan_aug::advise_huge_pages(out.data_ptr(), out.nbytes());

  const Axis ax(width, upx, downx, padx0, padx1, fw);
  const Axis ay(height, upy, downy, pady0, pady1, fh);

  if (channels_last) {
    TORCH_CHECK(ay.max_count <= Upfirdn2dNhwc<float>::kMaxRows,
                "upfirdn2d: channels_last supports filters of up to ",
                Upfirdn2dNhwc<float>::kMaxRows, " useful rows");
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(),
        "upfirdn2d_cpu_nhwc", [&] {
          const Upfirdn2dNhwc<scalar_t> op(ax, ay, x.size(1), g, rows,
                                           vertical);
          const scalar_t* src = input.const_data_ptr<scalar_t>();
          scalar_t* dst = out.mutable_data_ptr<scalar_t>();
          const int64_t row_elements = std::max<int64_t>(out_w * x.size(1), 1);
          const int64_t grain = std::max<int64_t>(1, 16384 / row_elements);
          at::parallel_for(0, x.size(0) * out_h, grain,
                           [&](int64_t begin, int64_t end) {
                             auto scratch = op.scratch();
                             for (int64_t r = begin; r < end; ++r) {
                               op.run(src, dst, r, scratch);
                             }
                           });
        });
    return out;
  }

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(),
      "upfirdn2d_cpu", [&] {
        const scalar_t* src = input.const_data_ptr<scalar_t>();
        scalar_t* dst = out.mutable_data_ptr<scalar_t>();
        if (Upsample2Separable<scalar_t>::applies(ax, ay, !vertical.empty())) {
          const Upsample2Separable<scalar_t> op(ax, ay, g, vertical);
          at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
            auto rows = op.scratch();
            for (int64_t i = begin; i < end; ++i) {
              op.run(src + i * height * width, dst + i * out_h * out_w, rows);
            }
          });
          return;
        }
        const Upfirdn2d<scalar_t> op(ax, ay, g, rows, vertical);
        at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
          auto scratch = op.scratch();
          for (int64_t i = begin; i < end; ++i) {
            op.run(src + i * height * width, dst + i * out_h * out_w,
                   scratch);
          }
        });
      });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(medgan_aug, CPU, m) {
  m.impl("upfirdn2d", &upfirdn2d_cpu);
}
