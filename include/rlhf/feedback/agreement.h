// Agreement statistics for preference labels: Cohen's kappa (two annotators, categorical
// answers), Kendall's W (several annotators ranking the same items, tie-corrected), a
// Bradley-Terry fit, and the pairwise "items" every label is reduced to so pair labels and
// rankings can be compared.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "rlhf/feedback/types.h"

namespace rlhf::feedback {

// The answer about responses (a, b), a < b, of one task: a preferred, b preferred, equally good,
// or both bad. Pair labels give one item; a ranking gives one per pair of responses.
enum class Outcome { First = 0, Second = 1, Tie = 2, BothBad = 3 };
constexpr int kOutcomes = 4;

struct PairItem {
  int64_t task_id = 0;
  int a = 0, b = 0;  // a < b
  Outcome outcome = Outcome::Tie;
  double margin = 0;  // the label's strength margin (rankings: 0)
};
std::vector<PairItem> pair_items(const Label& l);

// The outcome a gold answer (rank levels, 0 = best) gives for (a, b).
Outcome gold_outcome(const std::vector<int>& levels, int a, int b);

// Cohen's kappa of two raters' categories (same length, values in [0, n_categories)):
// (p_o - p_e) / (1 - p_e). nullopt when empty or when p_e == 1 (both always gave one category).
std::optional<double> cohen_kappa(const std::vector<int>& x, const std::vector<int>& y, int n_categories);

// 1-based ranks with ties given their average rank, from rank levels (0 = best): {0, 1, 1} ->
// {1, 2.5, 2.5}.
std::vector<double> average_ranks(const std::vector<int>& levels);

// Kendall's coefficient of concordance W for m raters x n items (rows: raters' rank levels),
// with the tie correction: W = 12 S / (m^2 (n^3 - n) - m sum_j T_j), T_j = sum over tie groups of
// (t^3 - t). In [0, 1]; nullopt when m < 2, n < 2 or the denominator is 0.
std::optional<double> kendall_w(const std::vector<std::vector<int>>& levels);

// Bradley-Terry scores for n items from weighted outcomes (winner, loser, weight); a tie adds
// half a win each way. Maximises the log-likelihood minus l2/2 * |s|^2 by Newton steps on the
// (concave) objective; scores are centred to mean 0. l2 > 0 keeps scores finite when an item
// always wins.
struct BtComparison {
  int winner = 0, loser = 0;
  double weight = 1;
};
std::vector<double> bradley_terry(int n, const std::vector<BtComparison>& comparisons, double l2 = 0.01);

double median(std::vector<double> v);  // 0 for an empty vector

}  // namespace rlhf::feedback
