// SplitMix64 and the epoch sampler.
#include "rlhf/data/sampler.h"

#include <numeric>

#include "rlhf/io/error.h"

namespace rlhf::data {

uint64_t SplitMix64::next() {
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::below(uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = next();
  while (x >= limit);
  return x % n;
}

double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

EpochSampler::EpochSampler(int64_t n, uint64_t seed, bool shuffle) : n_(n), seed_(seed), shuffle_(shuffle) {
  if (n <= 0) throw Error("EpochSampler: the dataset is empty (no examples to draw)");
}

std::vector<int64_t> EpochSampler::order(int64_t epoch) const {
  std::vector<int64_t> v(static_cast<size_t>(n_));
  std::iota(v.begin(), v.end(), 0);
  if (!shuffle_) return v;
  SplitMix64 rng(seed_ * 0x2545F4914F6CDD1Dull + static_cast<uint64_t>(epoch) * 0x9E3779B97F4A7C15ull + 1);
  for (int64_t i = n_ - 1; i > 0; --i) std::swap(v[i], v[rng.below(static_cast<uint64_t>(i + 1))]);
  return v;
}

int64_t EpochSampler::next(int64_t& epoch, int64_t& position) {
  if (position >= n_) {
    epoch += position / n_;
    position %= n_;
  }
  if (epoch != cached_epoch_) {
    cached_ = order(epoch);
    cached_epoch_ = epoch;
  }
  int64_t idx = cached_[static_cast<size_t>(position)];
  if (++position == n_) {
    position = 0;
    ++epoch;
  }
  return idx;
}

std::vector<int64_t> EpochSampler::next_batch(int64_t size, int64_t& epoch, int64_t& position) {
  std::vector<int64_t> v;
  v.reserve(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) v.push_back(next(epoch, position));
  return v;
}

}  // namespace rlhf::data
