// Evaluation statistics shared by every part that reports a number with an uncertainty: proportions
// with Wilson intervals, seeded bootstrap intervals, calibration (ECE), Pearson and Spearman.
// Plain functions over std::vector<double>; no libtorch, so any caller can use them.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace rlhf::eval {

// A point estimate with a two-sided confidence interval [lo, hi] at level 1 - alpha.
struct Interval {
  double value = 0.0;  // the estimate on the full sample
  double lo = 0.0;     // lower bound
  double hi = 0.0;     // upper bound
  int64_t n = 0;       // sample size the estimate rests on
};

// Wilson score interval for a proportion `successes / n` (successes may be fractional, e.g. ties
// counted as 0.5). z = 1.959964 gives 95%. n == 0 gives {0, 0, 1, 0}: nothing is known.
Interval wilson_interval(double successes, int64_t n, double z = 1.959963984540054);

// Percentile bootstrap: resamples `values` with replacement `resamples` times (std::mt19937_64
// seeded with `seed`, so the interval is reproducible), applies `statistic` to each resample, and
// returns the alpha/2 and 1-alpha/2 quantiles (linear interpolation) around statistic(values).
Interval bootstrap_interval(const std::vector<double>& values,
                            const std::function<double(const std::vector<double>&)>& statistic,
                            int resamples = 1000, uint64_t seed = 0, double alpha = 0.05);
// The same for the mean, the common case (win rates, accuracies with ties as 0.5).
Interval bootstrap_mean_interval(const std::vector<double>& values, int resamples = 1000, uint64_t seed = 0,
                                 double alpha = 0.05);

double mean(const std::vector<double>& x);
// Sample standard deviation (n - 1 denominator); 0 for fewer than two values.
double stddev(const std::vector<double>& x);

// Expected calibration error with `bins` equal-width bins over [0, 1]:
//   ECE = sum_b (|b| / N) * |mean(prob in b) - mean(outcome in b)|.
// prob[i] is the predicted probability that event i happens; outcome[i] in [0, 1] is what was
// observed (1 / 0, or 0.5 for a tie). A probability of exactly 1 falls in the last bin.
double expected_calibration_error(const std::vector<double>& prob, const std::vector<double>& outcome,
                                  int bins = 10);

// Ranks 1..n with ties given the average of the ranks they span ({10, 20, 20, 30} -> {1, 2.5, 2.5, 4}).
std::vector<double> average_ranks(const std::vector<double>& x);
// Pearson correlation; 0 when either side is constant (undefined correlation reported as none).
double pearson(const std::vector<double>& x, const std::vector<double>& y);
// Spearman correlation = Pearson of the average ranks (handles ties).
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace rlhf::eval
