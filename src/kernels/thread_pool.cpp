// Fork-join pool with chunk claiming (see thread_pool.h). The ticket holds the job id, the job's
// chunk count and the next chunk in one atomic word; a chunk is claimed by a CAS on it, so a late
// worker can never run a chunk of a finished job, and the bound it checks is always its own job's.
// (The count used to be read from a plain member: a worker holding a stale ticket of a finished
// job could read the next job's larger count while run() was setting it up, claim a chunk "past
// the end" of the old job with the old ticket still in place, run it with the new job's function,
// and add a spurious done_ that let run() return before a real chunk finished; that chunk then
// read its caller's dead stack frame. Seen once as a crash in the decode engine's layer norm.)
// Once a chunk of job J is claimed, J cannot finish, so fn_/n_ stay J's while it runs.
#include "kernels/thread_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <sched.h>

namespace rlhf::kernels {

namespace {
constexpr int kSpin = 4000;     // pause-polls before yielding (~tens of microseconds)
constexpr int kYield = 200;     // sched_yield polls before sleeping
constexpr int kChunksPerThread = 4;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this] { worker(); });
}

ThreadPool::~ThreadPool() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::participate(uint32_t job) {
  for (;;) {
    uint64_t v = ticket_.load(std::memory_order_acquire);
    if (static_cast<uint32_t>(v >> 32) != job) return;
    const int64_t limit = static_cast<int64_t>((v >> 16) & 0xFFFFu), c = static_cast<int64_t>(v & 0xFFFFu);
    if (c >= limit) return;
    if (!ticket_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
    const int64_t b = n_ * c / limit, e = n_ * (c + 1) / limit;
    if (b < e) (*fn_)(b, e);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  const uint32_t job = job_.load(std::memory_order_relaxed) + 1;
  fn_ = &fn;
  n_ = n;
  chunks_ = std::min<int64_t>({n, static_cast<int64_t>(n_threads_) * kChunksPerThread, int64_t{0xFFFF}});
  done_.store(0, std::memory_order_relaxed);
  ticket_.store((static_cast<uint64_t>(job) << 32) | (static_cast<uint64_t>(chunks_) << 16), std::memory_order_release);
  job_.store(job, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    cv_.notify_all();
  }
  participate(job);
  for (int spins = 0; done_.load(std::memory_order_acquire) < chunks_; ++spins) {
    if (spins < kSpin)
      _mm_pause();
    else
      sched_yield();
  }
}

void ThreadPool::worker() {
  uint32_t seen = 0;
  for (;;) {
    int spins = 0;
    while (job_.load(std::memory_order_acquire) == seen && !stop_) {
      if (spins < kSpin) {
        _mm_pause();
        ++spins;
      } else if (spins < kSpin + kYield) {
        sched_yield();
        ++spins;
      } else {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return job_.load(std::memory_order_seq_cst) != seen || stop_; });
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        spins = 0;
      }
    }
    if (stop_) return;
    seen = job_.load(std::memory_order_acquire);
    participate(seen);
  }
}

}  // namespace rlhf::kernels
