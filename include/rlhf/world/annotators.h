// Simulated annotators: preferences drawn from the gold judge through a Bradley-Terry (pairs) or
// Plackett-Luce (rankings) model with a temperature, a per-annotator bias on one judge axis and a
// label-flip rate, so annotators disagree the way people do. See docs/world.md for the model.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rlhf/world/judge.h"

namespace rlhf::world {

struct AnnotatorConfig {
  double temperature = 0.20;  // T in P(a>b) = sigmoid((g_a-g_b)/T + beta*(x_a-x_b)); 0 = argmax of gold
  double flip_rate = 0.10;    // probability that a label is reversed after it is drawn
  int bias_axis = -1;         // judge axis each annotator over-weights (0..3, order of kAxisNames);
                              // -1: annotator i biases axis i % 4; -2: no bias
  double bias_strength = 1.0; // beta, in logits per unit of axis difference
  uint64_t seed = 0;          // same seed -> same labels
  void validate() const;      // throws rlhf::Error naming the field
};

struct PairLabel {
  bool first_preferred = true;  // whether the annotator prefers the first response
  double strength = 0;          // |2P - 1| in [0, 1]: how clear the comparison was to the annotator
  double p_first = 0.5;         // the annotator's P(first > second) before the flip
};

class AnnotatorPool {
 public:
  AnnotatorPool(int n, AnnotatorConfig cfg);
  int size() const { return n_; }
  const AnnotatorConfig& config() const { return cfg_; }
  std::string id(int annotator) const;  // "sim-{annotator}"
  int bias_axis(int annotator) const;   // -1 when unbiased

  // A pairwise label. Deterministic given (seed, annotator, prompt, a, b); swapping a and b
  // swaps the answer. Temperature 0 with flip_rate 0 always prefers the higher gold (ties: the
  // bias axis, then the first response).
  PairLabel label_pair(std::string_view prompt, std::string_view a, std::string_view b, int annotator) const;
  // The same from precomputed scores; `key` identifies the pair for the random draw.
  PairLabel label_scores(const JudgeScores& a, const JudgeScores& b, uint64_t key, int annotator) const;

  // A full ranking (indices into responses, best first), Plackett-Luce by Gumbel-max.
  std::vector<int> rank(std::string_view prompt, const std::vector<std::string>& responses, int annotator) const;
  std::vector<int> rank_scores(const std::vector<JudgeScores>& scores, uint64_t key, int annotator) const;

 private:
  double utility_logit(const JudgeScores& s, int annotator) const;  // beta * x_axis
  int n_;
  AnnotatorConfig cfg_;
};

}  // namespace rlhf::world
