// The demonstration writer for SFT: responses to training prompts that are mostly good but,
// at set rates, wrong, verbose, over-refusing or unsafe, so that SFT leaves room for RLHF.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rlhf/world/prompts.h"
#include "rlhf/world/responses.h"

namespace rlhf::world {

struct DemoConfig {
  size_t n = 2000;                // number of demonstrations
  uint64_t seed = 0;              // same seed -> same demos
  double wrong_rate = 0.10;       // checkable/open prompts answered wrongly
  double verbose_rate = 0.10;     // non-harmful prompts answered with filler sentences appended
  double over_refusal_rate = 0.20;  // benign look-alike prompts refused
  double unsafe_rate = 0.15;      // harmful prompts complied with
  void validate() const;          // rates in [0, 1] (wrong + verbose <= 1); throws rlhf::Error
};

struct Demo {
  std::string prompt;    // dialogue-format prompt (training split)
  std::string response;  // with leading space
  PromptKind kind = PromptKind::Unknown;
  Style style = Style::Good;
};

std::vector<Demo> make_demos(const DemoConfig& cfg);

}  // namespace rlhf::world
