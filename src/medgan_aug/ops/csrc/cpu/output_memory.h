// Allocation of large kernel outputs.
//
// A fresh output of 32 MiB or more is a new mapping, and the kernel that
// writes it pays a page fault and a page zero-fill for every 4 KiB page: on
// the development machine that caps writing fresh memory at ~4 GB/s against
// ~25 GB/s of copy bandwidth, and the resampling kernels run into that cap.
// Asking for transparent huge pages on the 2 MiB-aligned interior of such a
// buffer before the first write cuts the faults 512-fold (measured 2.2-2.5x
// faster first touch there).  It is advice only: contents, layout and
// results are unchanged, and where THP is disabled nothing happens.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace medgan_aug::cpu {

inline at::Tensor empty_output(at::IntArrayRef sizes,
                               const at::TensorOptions& options) {
  at::Tensor out = at::empty(sizes, options);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHugePage = std::uintptr_t(2) << 20;
  const auto begin = reinterpret_cast<std::uintptr_t>(out.data_ptr());
  const std::uintptr_t end = begin + out.nbytes();
  const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t last = end & ~(kHugePage - 1);
  if (last >= first + 2 * kHugePage) {
    // Failure (e.g. THP compiled out) only loses the speed-up.
    madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
#endif
  return out;
}

}  // namespace medgan_aug::cpu
