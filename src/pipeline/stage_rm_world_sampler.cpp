// A model-free candidate sampler for the reward-model stage: the world's response writer in
// random styles, so tests (and sanity checks) can run the stage without an SFT model.
#include "rlhf/pipeline/stage_rm.h"
#include "rlhf/world/prompts.h"
#include "rlhf/world/responses.h"
#include "rlhf/world/rng.h"

namespace rlhf::pipeline {

CandidateSampler world_style_sampler() {
  return [](const std::vector<std::string>& prompts, int k, uint64_t seed) {
    std::vector<std::vector<std::string>> out;
    for (size_t p = 0; p < prompts.size(); ++p) {
      world::Rng rng(seed * 1000003 + p);
      auto spec = world::parse_user_turn(world::user_turn(prompts[p]));
      std::vector<std::string> rs;
      for (int j = 0; j < k; ++j) {
        auto style = static_cast<world::Style>(rng.next() % world::kNumStyles);
        rs.push_back(spec ? world::write_response(*spec, style, rng) : " I don't know.");
      }
      out.push_back(std::move(rs));
    }
    return out;
  };
}

}  // namespace rlhf::pipeline
