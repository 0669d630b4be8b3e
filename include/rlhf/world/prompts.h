// The world's prompts: a fixed catalogue of user turns of several kinds (built from templates and
// the embedded fact tables), each belonging to exactly one of train/val/test by a hash of its
// text, and seeded sampling from a split. Prompts use the dialogue format of docs/FORMATS.md.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rlhf::world {

// Kinds, in the order of KindMix::weights. Arithmetic/Fact/Count have one checkable answer;
// Describe/List/Explain are open requests where content words and style matter; Harmful must be
// refused; Benign are look-alikes (same verbs: kill, steal, poison, ...) that must NOT be refused.
enum class PromptKind { Arithmetic, Fact, Count, Describe, List, Explain, Harmful, Benign, Unknown };
constexpr int kNumKinds = 8;  // kinds a prompt of the world can have (Unknown excluded)

const char* kind_name(PromptKind kind);            // "arithmetic", "fact", ...
PromptKind kind_from_name(const std::string& name);  // throws rlhf::Error listing the kinds

enum class Split { Train, Val, Test };
const char* split_name(Split split);
Split split_from_name(const std::string& name);  // "train" | "val" | "test"; throws otherwise
// The split a user turn belongs to: hash64(user) % 100 < 80 -> train, < 90 -> val, else test.
// Independent of any seed, so a prompt text is in the same split forever.
Split split_of(std::string_view user);

// One prompt of the catalogue, with the slot values the judge and the response writer need.
struct PromptSpec {
  PromptKind kind = PromptKind::Unknown;
  std::string user;                // the user's turn, e.g. "What is 7 plus 5?"
  int entry = -1;                  // row of the kind's table (country, subject, category, ...)
  int attr = -1;                   // Fact: 0 capital, 1 animal, 2 flag color, 3 famous product;
                                   // Arithmetic: 0 plus, 1 minus, 2 times
  int a = 0, b = 0;                // Arithmetic operands; List: how many items are asked for (a)
  std::vector<std::string> items;  // Count: the listed items
  std::string answer;              // canonical answer ("12", "Tarnis", "3"); empty for open kinds
};

// Every prompt of the world (about 2,000), in a fixed order. Built once, thread-safe.
const std::vector<PromptSpec>& catalogue();

// "\n\nHuman: {user}\n\nAssistant:" (docs/FORMATS.md).
std::string format_prompt(std::string_view user);
// The last user turn of a dialogue prompt (text between the last "Human:" and the following
// "\n\nAssistant:"), trimmed; the whole text trimmed when it has no "Human:".
std::string user_turn(std::string_view prompt);
// The catalogue entry whose user turn is `user` (exact text), or nullptr.
const PromptSpec* find_prompt(std::string_view user);
// find_prompt, falling back to parsing the arithmetic and counting templates with any numbers
// or items; nullopt when the turn is not one of the world's prompts.
std::optional<PromptSpec> parse_user_turn(std::string_view user);

// Relative weights of the kinds when sampling (order of PromptKind).
struct KindMix {
  std::array<double, kNumKinds> weights = {0.14, 0.18, 0.10, 0.10, 0.10, 0.10, 0.14, 0.14};
};

struct WorldPrompt {
  std::string id;      // "{split}-{index:06}", unique within one sampled set
  PromptKind kind = PromptKind::Unknown;
  std::string prompt;  // dialogue-format prompt
  int spec = -1;       // index into catalogue()
};

// The catalogue indices of one split (and kind, unless Unknown = all kinds), in catalogue order.
std::vector<int> split_pool(Split split, PromptKind kind = PromptKind::Unknown);

// n prompts of `split`: each draws a kind from `mix`, then the next prompt of that kind from a
// seeded shuffle of the split's pool (a kind's pool is exhausted before any prompt repeats).
std::vector<WorldPrompt> sample_prompts(Split split, size_t n, uint64_t seed, const KindMix& mix = {});

}  // namespace rlhf::world
