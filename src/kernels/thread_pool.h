// A tiny fork-join thread pool for the decode path. A call is cut into a few chunks per thread
// that threads claim from an atomic ticket, so the caller never waits for a worker the OS has
// not scheduled (it just takes the remaining chunks itself: on an oversubscribed machine the
// pool degrades to one thread instead of stalling). Workers spin briefly between calls (a
// decode step issues ~100 parallel regions back to back), then yield, then sleep.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rlhf::kernels {

class ThreadPool {
 public:
  // n_threads counts the calling thread; 1 = run everything inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Calls fn(begin, end) over contiguous chunks covering [0, n) exactly once and returns when
  // all are done. Not reentrant; call from one thread.
  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn);
  int size() const { return n_threads_; }

 private:
  void worker();
  void participate(uint32_t job);

  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint32_t> job_{0};       // id of the latest call
  std::atomic<uint64_t> ticket_{0};    // (job << 32) | (chunks << 16) | next chunk to claim
  std::atomic<int64_t> done_{0};       // chunks finished in the current call
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunks_ = 0;          // chunks_: the caller's copy (workers read the ticket's)
};

}  // namespace rlhf::kernels
