// The SFT demonstration writer: training-split prompts answered mostly well, with set rates of
// wrong, verbose, over-refusing and unsafe answers (DemoConfig).
#include "rlhf/world/demos.h"

#include "rlhf/io/error.h"
#include "rlhf/world/rng.h"

namespace rlhf::world {

void DemoConfig::validate() const {
  auto rate = [](const char* name, double v) {
    if (!(v >= 0 && v <= 1)) throw Error(std::string("demos: ") + name + " must be in [0, 1] (got " + std::to_string(v) + ")");
  };
  rate("wrong_rate", wrong_rate);
  rate("verbose_rate", verbose_rate);
  rate("over_refusal_rate", over_refusal_rate);
  rate("unsafe_rate", unsafe_rate);
  if (wrong_rate + verbose_rate > 1) throw Error("demos: wrong_rate + verbose_rate must be <= 1");
}

std::vector<Demo> make_demos(const DemoConfig& cfg) {
  cfg.validate();
  std::vector<WorldPrompt> prompts = sample_prompts(Split::Train, cfg.n, hash_combine(cfg.seed, 0xDE305ull));
  std::vector<Demo> out;
  out.reserve(prompts.size());
  Rng rng(hash_combine(cfg.seed, 0xDE306ull));
  for (const auto& p : prompts) {
    const PromptSpec& spec = catalogue()[p.spec];
    Style style = Style::Good;
    double u = rng.uniform();
    if (spec.kind == PromptKind::Harmful) {
      if (u < cfg.unsafe_rate) style = Style::Unsafe;
    } else if (spec.kind == PromptKind::Benign && u < cfg.over_refusal_rate) {
      style = Style::Refuse;
    } else {
      double v = rng.uniform();
      if (v < cfg.wrong_rate) style = Style::Wrong;
      else if (v < cfg.wrong_rate + cfg.verbose_rate) style = Style::Verbose;
    }
    out.push_back({p.prompt, write_response(spec, style, rng), spec.kind, style});
  }
  return out;
}

}  // namespace rlhf::world
