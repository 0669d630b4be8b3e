// The token sampler: one row of logits -> token, its log-prob under the sampling distribution
// (temperature, then top-k, then top-p on the renormalised top-k set, as Hugging Face orders
// them) and under the unmodified model. Ties are broken toward the smaller id, like argmax.
#include "rlhf/generation/sampling.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/vec.h"
#include "rlhf/io/error.h"

namespace rlhf {

void SamplingConfig::validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    throw Error("sampling: temperature must be >= 0 (0 = greedy), got " + std::to_string(temperature));
  if (top_k < 0) throw Error("sampling: top_k must be >= 0 (0 = off), got " + std::to_string(top_k));
  if (!(top_p > 0 && top_p <= 1)) throw Error("sampling: top_p must be in (0, 1] (1 = off), got " + std::to_string(top_p));
  if (max_new_tokens < 1) throw Error("sampling: max_new_tokens must be >= 1, got " + std::to_string(max_new_tokens));
}

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

namespace {
// Picks index i of `weights` (n of them, summing to `total`) with probability weights[i]/total.
int64_t pick(const float* weights, int64_t n, double total, Rng& rng) {
  double target = rng.uniform() * total, acc = 0;
  // Skip whole blocks by their (vectorised) sums, then walk the block that holds the target.
  constexpr int64_t kBlock = 256;
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    double b = kernels::sum(weights + i, kBlock);
    if (acc + b > target) break;
    acc += b;
  }
  for (; i < n; ++i) {
    acc += weights[i];
    if (acc > target) return i;
  }
  // Rounding left target beyond the last partial sum: take the last token with weight.
  for (int64_t i = n - 1; i >= 0; --i)
    if (weights[i] > 0) return i;
  return n - 1;
}
}  // namespace

SampledToken sample_token(const float* logits, int64_t vocab, const SamplingConfig& cfg, Rng& rng,
                          std::vector<float>& scratch, std::vector<int32_t>& index_scratch) {
  SampledToken out;
  const int64_t best = kernels::argmax(logits, vocab);
  const float mx = logits[best];
  const bool greedy = cfg.temperature == 0;
  const bool truncate = !greedy && ((cfg.top_k > 0 && cfg.top_k < vocab) || cfg.top_p < 1);
  const float inv_t = greedy ? 1.0f : static_cast<float>(1.0 / cfg.temperature);
  scratch.resize(vocab);
  // Model log-partition (temperature 1), shared with the sampling pass when temperature is 1.
  double model_sum, temp_sum = 0;
  if (!greedy && inv_t == 1.0f) {
    model_sum = temp_sum = kernels::exp_shifted(logits, vocab, mx, 1.0f, scratch.data());
  } else {
    model_sum = kernels::exp_sum(logits, vocab, mx, 1.0f);
    if (!greedy) temp_sum = kernels::exp_shifted(logits, vocab, mx, inv_t, scratch.data());
  }
  const double model_lse = mx + std::log(model_sum);

  if (greedy) {
    out.token = best;
    out.logprob = 0;
  } else if (!truncate) {
    out.token = pick(scratch.data(), vocab, temp_sum, rng);
    out.logprob = static_cast<float>(std::log(scratch[out.token] / temp_sum));
  } else {
    // Candidates in descending order of logit (ties: smaller id first).
    auto& idx = index_scratch;
    idx.resize(vocab);
    for (int64_t i = 0; i < vocab; ++i) idx[i] = static_cast<int32_t>(i);
    auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    int64_t limit = cfg.top_k > 0 ? std::min<int64_t>(cfg.top_k, vocab) : vocab;
    double limit_sum = 0;  // sum of scratch over the top-k set (the whole vocab without top-k)
    int64_t n_sorted = 0;
    if (limit < vocab) {
      std::nth_element(idx.begin(), idx.begin() + (limit - 1), idx.end(), better);
      std::sort(idx.begin(), idx.begin() + limit, better);
      n_sorted = limit;
      for (int64_t i = 0; i < limit; ++i) limit_sum += scratch[idx[i]];
    } else {
      limit_sum = temp_sum;
    }
    int64_t keep = limit;
    if (cfg.top_p < 1) {
      // Smallest prefix whose mass (within the top-k set) reaches top_p; sorts only as many
      // candidates as needed, growing the sorted prefix 8x at a time.
      const double need = cfg.top_p * limit_sum;
      int64_t want = std::min<int64_t>(limit, 64);
      double acc = 0;
      int64_t i = 0;
      keep = 0;
      while (keep == 0) {
        if (want > n_sorted) {
          std::partial_sort(idx.begin() + n_sorted, idx.begin() + want, idx.end(), better);
          n_sorted = want;
        }
        for (; i < want; ++i) {
          acc += scratch[idx[i]];
          if (acc >= need) {
            keep = i + 1;
            break;
          }
        }
        if (keep == 0) {
          if (want >= limit) keep = limit;  // rounding: keep everything
          want = std::min<int64_t>(limit, want * 8);
        }
      }
    }
    double kept_sum = 0;
    const std::vector<float>& w = scratch;  // exp((logit - max) / temperature), read through idx
    for (int64_t i = 0; i < keep; ++i) kept_sum += w[idx[i]];
    double target = rng.uniform() * kept_sum, acc = 0;
    int64_t chosen = idx[keep - 1];
    for (int64_t i = 0; i < keep; ++i) {
      acc += w[idx[i]];
      if (acc > target) {
        chosen = idx[i];
        break;
      }
    }
    out.token = chosen;
    out.logprob = static_cast<float>(std::log(w[chosen] / kept_sum));
  }
  out.model_logprob = static_cast<float>(logits[out.token] - model_lse);
  return out;
}

}  // namespace rlhf
