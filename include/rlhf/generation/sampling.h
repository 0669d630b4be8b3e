// Sampling parameters and the one-pass token sampler: temperature, top-k and top-p (nucleus)
// truncation over one row of logits, returning the token with its log-probability under the
// sampling distribution and under the unmodified model (what PPO needs).
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

namespace rlhf {

struct SamplingConfig {
  double temperature = 1.0;     // divides the logits; 0 = greedy (argmax, no randomness)
  int64_t top_k = 0;            // keep the k most likely tokens; 0 = off
  double top_p = 1.0;           // keep the smallest set of tokens whose probability reaches p; 1 = off
  int64_t max_new_tokens = 128; // hard limit on generated tokens per row (stop token included)
  // Tokens that end a row (kept as its last token). nullopt = the model config's eos_id
  // (callers with a tokenizer pass its EOS); an empty list = never stop early.
  std::optional<std::vector<int64_t>> stop_ids;
  uint64_t seed = 0;            // same seed, prompts and model -> same tokens

  // Throws rlhf::Error naming the field and the allowed range.
  void validate() const;
};

// Small, fast, seedable PRNG (xoshiro256**), one per row so rows are independent streams.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  double uniform();  // [0, 1), 53 random bits
 private:
  uint64_t s_[4];
};

struct SampledToken {
  int64_t token = 0;
  float logprob = 0;        // log-prob under the sampling distribution (0 for greedy)
  float model_logprob = 0;  // log_softmax(logits)[token]: temperature 1, no truncation
};

// Samples from logits[0..vocab). `scratch` is reused between calls to avoid allocation.
SampledToken sample_token(const float* logits, int64_t vocab, const SamplingConfig& cfg, Rng& rng,
                          std::vector<float>& scratch, std::vector<int32_t>& index_scratch);

}  // namespace rlhf
