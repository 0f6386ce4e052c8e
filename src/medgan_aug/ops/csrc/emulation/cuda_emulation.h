// Runs the CUDA kernels of csrc/cuda/*.cuh as host C++, so that the exact
// kernel code can be tested on machines without a GPU.
//
// Execution model: a launch runs the blocks of its grid one after another.
// Each block is executed by a pool of host threads, one per CUDA thread,
// created once per launch and reused for every block.  __syncthreads() is a
// real barrier among the block's threads; a thread that returns from the
// kernel leaves that barrier for the rest of the block (arrive-and-drop), as
// on a GPU, so the remaining threads never wait for it.  Since only one block
// runs at a time and launches are serialised, a function-local `static`
// array is exactly one block's __shared__ memory; kernels must therefore
// declare shared memory statically (no `extern __shared__`).  Exceptions
// thrown by a kernel stop the launch after the current block and are
// rethrown to the caller.
#pragma once

#if defined(__CUDACC__)
#error "cuda_emulation.h is for host compilers; nvcc provides the real CUDA runtime"
#endif

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <c10/core/Device.h>
#include <c10/util/Exception.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1)
      : x(x_), y(y_), z(z_) {}
};

// Each host thread plays one CUDA thread, so the built-in indices are
// per-thread state.
inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

namespace medgan_aug::emulation {

// A reusable barrier whose participants may leave for good, like the threads
// of a CUDA block that return early.  `on_complete` (if any) runs once per
// phase, by the last thread to arrive, before any waiting thread resumes.
class Barrier {
 public:
  explicit Barrier(int count, std::function<void()> on_complete = {})
      : expected_(count), on_complete_(std::move(on_complete)) {}

  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::uint64_t phase = phase_;
    if (++arrived_ == expected_) {
      complete_phase();
      return;
    }
    released_.wait(lock, [&] { return phase_ != phase; });
  }

  void arrive_and_drop() {
    const std::lock_guard<std::mutex> lock(mutex_);
    --expected_;
    if (arrived_ > 0 && arrived_ == expected_) complete_phase();
  }

  // Only valid while no thread is inside the barrier.
  void reset(int count) {
    const std::lock_guard<std::mutex> lock(mutex_);
    expected_ = count;
    arrived_ = 0;
  }

 private:
  void complete_phase() {
    if (on_complete_) on_complete_();
    arrived_ = 0;
    ++phase_;
    released_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable released_;
  int expected_;
  int arrived_ = 0;
  std::uint64_t phase_ = 0;
  std::function<void()> on_complete_;
};

// The __syncthreads() barrier of the block the calling thread belongs to.
inline thread_local Barrier* block_barrier = nullptr;

// Rejects configurations a GPU would refuse, so a bad launch configuration
// fails here too instead of only on real hardware.
inline void check_launch_bounds(dim3 grid, dim3 block) {
  const std::uint64_t threads = std::uint64_t(block.x) * block.y * block.z;
  TORCH_CHECK(threads >= 1 && threads <= 1024 && block.z <= 64,
              "emulated launch: invalid block (", block.x, ", ", block.y, ", ",
              block.z, ")");
  TORCH_CHECK(grid.x >= 1 && grid.y >= 1 && grid.z >= 1 &&
                  grid.x <= 2147483647u && grid.y <= 65535 && grid.z <= 65535,
              "emulated launch: invalid grid (", grid.x, ", ", grid.y, ", ",
              grid.z, ")");
}

// Runs `kernel` (the kernel bound to its arguments) over `grid` x `block`.
inline void run_grid(dim3 grid, dim3 block, const std::function<void()>& kernel) {
  check_launch_bounds(grid, block);
  // Static arrays stand for shared memory, so two launches must not overlap.
  static std::mutex launch_mutex;
  const std::lock_guard<std::mutex> serialised(launch_mutex);

  const int threads = int(block.x * block.y * block.z);
  const std::uint64_t blocks = std::uint64_t(grid.x) * grid.y * grid.z;
  Barrier sync(threads);
  // Runs while every thread is parked between two blocks, so the next block
  // starts with all threads taking part in __syncthreads again.
  Barrier block_done(threads, [&] { sync.reset(threads); });
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;

  // Workers wait for this gate so that they can be told to quit if not all
  // of them could be started.
  std::promise<bool> gate;
  const std::shared_future<bool> start = gate.get_future().share();

  const auto worker = [&](int t) {
    threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
    blockDim = block;
    gridDim = grid;
    block_barrier = &sync;
    if (!start.get()) return;
    for (std::uint64_t b = 0; b < blocks; ++b) {
      blockIdx = dim3(unsigned(b % grid.x), unsigned(b / grid.x % grid.y),
                      unsigned(b / (std::uint64_t(grid.x) * grid.y)));
      try {
        kernel();
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
      sync.arrive_and_drop();
      block_done.arrive_and_wait();
      if (failed) return;
    }
  };

  std::vector<std::thread> pool;
  pool.reserve(threads);
  try {
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  } catch (...) {
    gate.set_value(false);
    for (std::thread& thread : pool) thread.join();
    throw;
  }
  gate.set_value(true);
  for (std::thread& thread : pool) thread.join();
  if (error) std::rethrow_exception(error);
}

// Launch policy of the shared host launchers (see csrc/cuda/*.cuh): the
// same kernels and grid as on a GPU, executed by run_grid.
struct EmulatedLaunch {
  // Emulated kernels run on the host, so there is no device to select.
  struct DeviceGuard {
    explicit DeviceGuard(c10::Device /*device*/) {}
  };

  template <typename... Params, typename... Args>
  void operator()(void (*kernel)(Params...), dim3 grid, dim3 block,
                  const Args&... args) const {
    run_grid(grid, block, [&] { kernel(args...); });
  }
};

}  // namespace medgan_aug::emulation

inline void __syncthreads() {
  medgan_aug::emulation::block_barrier->arrive_and_wait();
}
