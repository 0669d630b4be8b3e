// Small text helpers the judge and writers share: lower-cased word tokens, phrase search,
// sentence splitting. Kept allocation-light because the judge must score >= 10k responses/s.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace rlhf::world::text {

// Lower-cased runs of letters, digits and inner apostrophes ("can't" is one word).
std::vector<std::string> words(std::string_view s);
// Occurrences of `needle` as a contiguous run in `hay`.
int count_seq(const std::vector<std::string>& hay, const std::vector<std::string>& needle);
inline bool has_seq(const std::vector<std::string>& hay, const std::vector<std::string>& needle) {
  return count_seq(hay, needle) > 0;
}
int count_word(const std::vector<std::string>& hay, const std::string& w);
std::string trim(std::string_view s);
// Sentences, split after '.', '!' or '?', trimmed, empty ones dropped.
std::vector<std::string> sentences(std::string_view s);
bool is_number(const std::string& w);
std::string capitalise(std::string s);

}  // namespace rlhf::world::text
