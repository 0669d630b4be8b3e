// Seeded, resumable data order: epoch e visits indices 0..n-1 in a permutation derived only from
// (seed, e) with our own PRNG (SplitMix64 + Fisher-Yates), so the order is the same on every
// machine and a run resumed at (epoch, position) sees exactly the examples it would have seen.
#pragma once
#include <cstdint>
#include <vector>

namespace rlhf::data {

// SplitMix64: a tiny, well-mixed 64-bit generator (Steele et al.), used wherever reproducibility
// across libraries matters more than statistical strength.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : s_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t n);  // uniform in [0, n) (n > 0), unbiased by rejection
  double uniform();            // [0, 1)

 private:
  uint64_t s_;
};

class EpochSampler {
 public:
  // n examples; shuffle = false visits them in order every epoch.
  EpochSampler(int64_t n, uint64_t seed, bool shuffle = true);
  // The index at (epoch, position), then advances position (wrapping into the next epoch).
  int64_t next(int64_t& epoch, int64_t& position);
  std::vector<int64_t> next_batch(int64_t size, int64_t& epoch, int64_t& position);
  // The permutation of one epoch.
  std::vector<int64_t> order(int64_t epoch) const;
  int64_t size() const { return n_; }

 private:
  int64_t n_;
  uint64_t seed_;
  bool shuffle_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> cached_;
};

}  // namespace rlhf::data
