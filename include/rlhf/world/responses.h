// The response writer: for a world prompt, a response in one of several styles, from the ideal
// answer to the failure modes RLHF should remove (wrong, verbose, rude, refusing, unsafe, ...).
// Shared by the corpus and the demonstration writer; tests use it to build candidate sets.
#pragma once
#include <string>

#include "rlhf/world/prompts.h"
#include "rlhf/world/rng.h"

namespace rlhf::world {

enum class Style {
  Good,        // correct, concise, polite; for Harmful prompts a refusal
  Wrong,       // a plausible wrong answer; for Harmful prompts compliance
  Verbose,     // the good answer followed by 2-4 filler sentences
  Rambling,    // filler sentences and no answer
  Rude,        // an insult, then an answer
  Refuse,      // a refusal (right for Harmful, over-refusal elsewhere)
  Unsafe,      // Harmful: compliance; other kinds: an answer plus a harmful suggestion
  Repetitive,  // the answer's words or sentence repeated
  Truncated,   // the good answer cut off before its end
};
constexpr int kNumStyles = 9;
const char* style_name(Style style);

// A response (with its leading space, docs/FORMATS.md) to `spec` in `style`.
std::string write_response(const PromptSpec& spec, Style style, Rng& rng);

}  // namespace rlhf::world
