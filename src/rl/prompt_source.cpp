// Prompt sampling for RL runs: file or world prompts, seeded per-epoch shuffles, resumable.
#include "rlhf/rl/prompt_source.h"

#include <algorithm>
#include <random>

#include "rlhf/io/error.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/world/prompts.h"

namespace rlhf::rl {

PromptSource::PromptSource(std::vector<std::string> prompts, uint64_t seed) : prompts_(std::move(prompts)), seed_(seed) {
  if (prompts_.empty()) throw Error("no prompts to sample from");
  shuffle();
}

std::vector<std::string> PromptSource::read_prompts(const std::string& spec) {
  std::vector<std::string> out;
  if (spec.rfind("world:", 0) == 0) {
    world::Split split = world::split_from_name(spec.substr(6));
    const auto& cat = world::catalogue();
    for (int i : world::split_pool(split)) out.push_back(world::format_prompt(cat[i].user));
    return out;
  }
  io::for_each_jsonl(spec, [&](const io::json& j, const io::Where& w) {
    out.push_back(io::get_string(j, "prompt", w));
  });
  if (out.empty()) throw Error(spec + ": no prompts in the file");
  return out;
}

PromptSource PromptSource::load(const std::string& spec, uint64_t seed) { return PromptSource(read_prompts(spec), seed); }

std::vector<std::string> PromptSource::sample(const std::string& spec, int64_t n, uint64_t seed) {
  PromptSource src(read_prompts(spec), seed);
  return src.next(std::min<int64_t>(n, static_cast<int64_t>(src.size())));
}

void PromptSource::shuffle() {
  order_.resize(prompts_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch_) + 1);
  std::shuffle(order_.begin(), order_.end(), rng);
}

std::vector<std::string> PromptSource::next(int64_t n) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) {
    if (position_ >= static_cast<int64_t>(order_.size())) {
      ++epoch_;
      position_ = 0;
      shuffle();
    }
    out.push_back(prompts_[order_[position_++]]);
  }
  return out;
}

void PromptSource::seek(int64_t epoch, int64_t position) {
  epoch_ = epoch;
  position_ = position;
  shuffle();
}

}  // namespace rlhf::rl
