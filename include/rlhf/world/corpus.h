// The pretraining corpus: documents stating the world's facts in plain text and Human/Assistant
// dialogues with good and bad answers, separated by "<|endoftext|>", so that a small model trained
// from scratch learns the language, the facts and the dialogue format.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace rlhf::world {

inline constexpr const char* kEndOfText = "<|endoftext|>";

struct CorpusConfig {
  size_t tokens = 3000000;     // approximate size, counted by approx_tokens()
  uint64_t seed = 0;           // same seed -> same bytes
  double dialogue_share = 0.65;  // share of documents that are dialogues (the rest state facts)
  double good_share = 0.45;    // share of dialogue answers written in the Good style; the rest are
                               // spread over the failure styles (wrong, verbose, rude, ...)
  void validate() const;       // throws rlhf::Error naming the field
};

// Writes documents, each followed by kEndOfText (no newline around it), until approx_tokens of the
// text reaches cfg.tokens. Dialogues use training-split prompts only; the fact documents cover
// every fact (so the model can answer val/test prompts). Returns the approximate tokens written.
size_t write_corpus(std::ostream& out, const CorpusConfig& cfg);

// Token estimate for a BPE vocabulary of a few thousand trained on this corpus: one token per
// run of letters/digits/apostrophes plus one per other non-space character (punctuation,
// newlines count as one per run). On this corpus a byte-level BPE with GPT-2 pre-tokenisation
// gives about 6% more tokens. (Applied to text holding "<|endoftext|>", that marker counts 5.)
size_t approx_tokens(std::string_view text);

}  // namespace rlhf::world
