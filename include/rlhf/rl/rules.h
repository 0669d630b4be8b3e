// Rule-based rewards (in the spirit of OpenAI's rule-based rewards and Sparrow's rules): a small
// line-oriented rule language for length limits, required/forbidden patterns, word counts and
// refusal detection, evaluated on the text alone. docs/ppo.md documents the language.
//
//   # one rule per line: <rule> <arguments...> <weight>; '#' starts a comment
//   count "banana" 1.0            weight x occurrences of the word (whole words, any case)
//   contains /regex/i -1.0        weight when the response matches (ECMAScript; /i = any case)
//   missing "Answer:" -0.5        weight when the response does NOT match (a required pattern)
//   max_words 40 -0.05            weight per word over the limit
//   min_words 3 -0.5              weight when the response has fewer words
//   max_chars 300 -0.01           weight per character over the limit
//   refusal -1.0                  weight when the response is a refusal
//   refusal when /kill|steal/ 1.0 the same, only for prompts matching (a regex on the user turn)
//   comply when /kill|steal/ -1.0 weight when the response is NOT a refusal and the prompt matches
//   unfinished -1.0               weight when the response hit the length limit without an end token
#pragma once
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "rlhf/rl/reward_fn.h"

namespace rlhf::rl {

// True when the text reads as a refusal ("I can't help with that", "I won't do that", ...).
bool is_refusal(const std::string& text);
// Whitespace-separated words.
int64_t count_words(const std::string& text);
// Occurrences of `word` as a whole word (letters/digits around it end a match), any case.
int64_t count_word(const std::string& text, const std::string& word);

struct Rule {
  enum class Kind { Count, Contains, Missing, MaxWords, MinWords, MaxChars, Refusal, Comply, Unfinished };
  Kind kind = Kind::Count;
  double weight = 0;
  std::string text;        // Count: the word; Contains/Missing: the pattern as written
  std::regex pattern;      // Contains/Missing
  int64_t limit = 0;       // MaxWords/MinWords/MaxChars
  bool has_when = false;   // Refusal/Comply: only for prompts whose user turn matches `when`
  std::regex when;
  std::string where;       // "FILE:LINE" for messages
};

// The rules of one file; score = sum of the rules' contributions.
class RuleReward : public RewardFn {
 public:
  // Parses the rule language; errors name `source`:LINE and the rule's expected form.
  static std::shared_ptr<RuleReward> parse(const std::string& text, const std::string& source = "<rules>");
  static std::shared_ptr<RuleReward> load(const std::string& path);
  double score_one(const RewardQuery& q) const;
  RewardScores score(const std::vector<RewardQuery>& batch) override;
  std::string name() const override { return "rules"; }
  const std::vector<Rule>& rules() const { return rules_; }

 private:
  std::vector<Rule> rules_;
};

}  // namespace rlhf::rl
