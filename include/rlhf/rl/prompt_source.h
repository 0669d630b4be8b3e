// The prompts an RL run samples from: read from a JSONL file ({"prompt"} per line, or
// {"messages"} ending in a user turn is not supported: render it first) or taken from the
// embedded world ("world:train", "world:val", "world:test"); shuffled per epoch by the seed,
// with a position that checkpoints save so a resumed run continues at the same prompt.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rlhf::rl {

class PromptSource {
 public:
  PromptSource(std::vector<std::string> prompts, uint64_t seed);
  // A JSONL file with a "prompt" field per record, or "world:<split>" for the world's catalogue.
  static PromptSource load(const std::string& spec, uint64_t seed);
  // Reads the prompt texts of `spec` (see load) in file order.
  static std::vector<std::string> read_prompts(const std::string& spec);
  // n prompts of `spec` in a seeded random order (all of them when n >= the count): a held-out
  // set spread over the file (the world's catalogue is ordered by kind).
  static std::vector<std::string> sample(const std::string& spec, int64_t n, uint64_t seed);

  // The next n prompts of the seeded order (crossing epochs as needed).
  std::vector<std::string> next(int64_t n);
  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }
  void seek(int64_t epoch, int64_t position);  // for resume
  size_t size() const { return prompts_.size(); }

 private:
  void shuffle();
  std::vector<std::string> prompts_;
  std::vector<size_t> order_;
  uint64_t seed_;
  int64_t epoch_ = 0, position_ = 0;
};

}  // namespace rlhf::rl
