// Simulated annotators: Bradley-Terry pairs and Plackett-Luce rankings drawn from gold scores with
// a temperature, a per-annotator axis bias and label flips (model in annotators.h, docs/world.md).
#include "rlhf/world/annotators.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "rlhf/io/error.h"
#include "rlhf/world/rng.h"

namespace rlhf::world {

namespace {
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
uint64_t pair_key(std::string_view prompt, std::string_view a, std::string_view b) {
  return hash_combine(hash_combine(hash64(prompt), hash64(a, 1)), hash64(b, 2));
}
}  // namespace

void AnnotatorConfig::validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    throw Error("annotators: temperature must be >= 0 (got " + std::to_string(temperature) + ")");
  if (!(flip_rate >= 0 && flip_rate <= 1))
    throw Error("annotators: flip_rate must be in [0, 1] (got " + std::to_string(flip_rate) + ")");
  if (bias_axis < -2 || bias_axis > 3)
    throw Error("annotators: bias_axis must be 0..3 (an axis), -1 (cycle) or -2 (none); got " +
                std::to_string(bias_axis));
  if (!std::isfinite(bias_strength)) throw Error("annotators: bias_strength must be finite");
}

AnnotatorPool::AnnotatorPool(int n, AnnotatorConfig cfg) : n_(n), cfg_(cfg) {
  if (n < 1) throw Error("annotators: the pool needs at least 1 annotator (got " + std::to_string(n) + ")");
  cfg_.validate();
}

std::string AnnotatorPool::id(int annotator) const { return "sim-" + std::to_string(annotator); }

int AnnotatorPool::bias_axis(int annotator) const {
  if (cfg_.bias_axis == -2 || cfg_.bias_strength == 0) return -1;
  return cfg_.bias_axis >= 0 ? cfg_.bias_axis : annotator % 4;
}

double AnnotatorPool::utility_logit(const JudgeScores& s, int annotator) const {
  int axis = bias_axis(annotator);
  return axis < 0 ? 0.0 : cfg_.bias_strength * judge_axis(s, axis);
}

PairLabel AnnotatorPool::label_scores(const JudgeScores& a, const JudgeScores& b, uint64_t key, int annotator) const {
  if (annotator < 0 || annotator >= n_)
    throw Error("annotators: annotator " + std::to_string(annotator) + " out of range (pool of " + std::to_string(n_) + ")");
  Rng rng(hash_combine(hash_combine(cfg_.seed, key), (uint64_t)annotator + 1));
  double d = a.gold - b.gold;
  double bias = utility_logit(a, annotator) - utility_logit(b, annotator);
  PairLabel out;
  double u = rng.uniform();  // drawn in every mode so each mode consumes the same stream
  if (cfg_.temperature == 0) {
    out.p_first = std::fabs(d) > 1e-12 ? (d > 0 ? 1.0 : 0.0) : sigmoid(bias);
    out.first_preferred = out.p_first >= 0.5;
  } else {
    out.p_first = sigmoid(d / cfg_.temperature + bias);
    out.first_preferred = u < out.p_first;
  }
  out.strength = std::fabs(2 * out.p_first - 1);
  if (rng.bernoulli(cfg_.flip_rate)) out.first_preferred = !out.first_preferred;
  return out;
}

PairLabel AnnotatorPool::label_pair(std::string_view prompt, std::string_view a, std::string_view b,
                                    int annotator) const {
  // Canonical order, so that (a, b) and (b, a) are the same draw, mirrored.
  bool swapped = b < a;
  std::string_view x = swapped ? b : a, y = swapped ? a : b;
  PairLabel l = label_scores(judge(prompt, x), judge(prompt, y), pair_key(prompt, x, y), annotator);
  if (swapped) {
    l.first_preferred = !l.first_preferred;
    l.p_first = 1 - l.p_first;
  }
  return l;
}

std::vector<int> AnnotatorPool::rank_scores(const std::vector<JudgeScores>& scores, uint64_t key, int annotator) const {
  if (annotator < 0 || annotator >= n_)
    throw Error("annotators: annotator " + std::to_string(annotator) + " out of range (pool of " + std::to_string(n_) + ")");
  Rng rng(hash_combine(hash_combine(cfg_.seed, key), (uint64_t)annotator + 1));
  size_t k = scores.size();
  std::vector<int> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> primary(k), secondary(k);
  for (size_t i = 0; i < k; ++i) {
    double bias = utility_logit(scores[i], annotator);
    double gumbel = -std::log(-std::log(std::max(rng.uniform(), 1e-300)));
    if (cfg_.temperature == 0) {  // argmax: gold first, then the bias axis, then the index
      primary[i] = scores[i].gold;
      secondary[i] = bias;
    } else {  // Plackett-Luce with utilities gold/T + bias, sampled by Gumbel-max
      primary[i] = scores[i].gold / cfg_.temperature + bias + gumbel;
      secondary[i] = 0;
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](int i, int j) {
    if (primary[i] != primary[j]) return primary[i] > primary[j];
    return secondary[i] > secondary[j];
  });
  if (k >= 2 && rng.bernoulli(cfg_.flip_rate)) {  // a slip: two neighbours swapped
    size_t at = rng.below(k - 1);
    std::swap(order[at], order[at + 1]);
  }
  return order;
}

std::vector<int> AnnotatorPool::rank(std::string_view prompt, const std::vector<std::string>& responses,
                                     int annotator) const {
  std::vector<JudgeScores> s;
  uint64_t key = hash64(prompt);
  for (const auto& r : responses) {
    s.push_back(judge(prompt, r));
    key = hash_combine(key, hash64(r, 3));
  }
  return rank_scores(s, key, annotator);
}

}  // namespace rlhf::world
