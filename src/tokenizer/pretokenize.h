// GPT-2's pre-tokenizer, written by hand (std::regex has no \p{L}): splits text into the pieces
// that the pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matches, leftmost-first as a backtracking regex engine would. Pieces cover the text exactly.
#pragma once
#include <functional>
#include <string_view>
#include <vector>

namespace rlhf::tokenizer {

// Calls fn(piece) for each piece in order; invalid UTF-8 bytes count as punctuation.
void gpt2_split(std::string_view text, const std::function<void(std::string_view)>& fn);
std::vector<std::string_view> gpt2_split(std::string_view text);

}  // namespace rlhf::tokenizer
