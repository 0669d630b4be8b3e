// Evaluation statistics: Wilson and bootstrap intervals, ECE, Pearson and Spearman correlation.
// See include/rlhf/eval/metrics.h for the contracts.
#include "rlhf/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "rlhf/io/error.h"

namespace rlhf::eval {

namespace {
void require_same_size(size_t a, size_t b, const char* what) {
  if (a != b)
    throw Error(std::string(what) + ": the two inputs differ in length (" + std::to_string(a) + " vs " +
                std::to_string(b) + ")");
}

// Quantile q in [0, 1] of sorted values, linear interpolation between order statistics.
double quantile_sorted(const std::vector<double>& s, double q) {
  if (s.empty()) return 0.0;
  double pos = q * static_cast<double>(s.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, s.size() - 1);
  double frac = pos - static_cast<double>(lo);
  return s[lo] + (s[hi] - s[lo]) * frac;
}
}  // namespace

Interval wilson_interval(double successes, int64_t n, double z) {
  if (n <= 0) return {0.0, 0.0, 1.0, 0};
  double nn = static_cast<double>(n);
  double p = successes / nn;
  if (p < 0.0 || p > 1.0) throw Error("wilson_interval: successes " + std::to_string(successes) + " outside [0, n=" +
                                      std::to_string(n) + "]");
  double z2 = z * z;
  double denom = 1.0 + z2 / nn;
  double centre = (p + z2 / (2.0 * nn)) / denom;
  double half = z * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
  return {p, std::max(0.0, centre - half), std::min(1.0, centre + half), n};
}

Interval bootstrap_interval(const std::vector<double>& values,
                            const std::function<double(const std::vector<double>&)>& statistic, int resamples,
                            uint64_t seed, double alpha) {
  if (resamples < 1) throw Error("bootstrap_interval: resamples must be >= 1 (got " + std::to_string(resamples) + ")");
  if (!(alpha > 0.0 && alpha < 1.0)) throw Error("bootstrap_interval: alpha must be in (0, 1)");
  Interval out;
  out.n = static_cast<int64_t>(values.size());
  if (values.empty()) return out;
  out.value = statistic(values);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  std::vector<double> stats(static_cast<size_t>(resamples));
  std::vector<double> sample(values.size());
  for (auto& s : stats) {
    for (auto& v : sample) v = values[pick(rng)];
    s = statistic(sample);
  }
  std::sort(stats.begin(), stats.end());
  out.lo = quantile_sorted(stats, alpha / 2.0);
  out.hi = quantile_sorted(stats, 1.0 - alpha / 2.0);
  return out;
}

Interval bootstrap_mean_interval(const std::vector<double>& values, int resamples, uint64_t seed, double alpha) {
  return bootstrap_interval(values, [](const std::vector<double>& v) { return mean(v); }, resamples, seed, alpha);
}

double mean(const std::vector<double>& x) {
  if (x.empty()) return 0.0;
  return std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
}

double stddev(const std::vector<double>& x) {
  if (x.size() < 2) return 0.0;
  double m = mean(x), ss = 0.0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

double expected_calibration_error(const std::vector<double>& prob, const std::vector<double>& outcome, int bins) {
  require_same_size(prob.size(), outcome.size(), "expected_calibration_error");
  if (bins < 1) throw Error("expected_calibration_error: bins must be >= 1 (got " + std::to_string(bins) + ")");
  if (prob.empty()) return 0.0;
  std::vector<double> sum_p(bins, 0.0), sum_o(bins, 0.0);
  std::vector<int64_t> count(bins, 0);
  for (size_t i = 0; i < prob.size(); ++i) {
    double p = prob[i];
    if (!(p >= 0.0 && p <= 1.0))
      throw Error("expected_calibration_error: probability " + std::to_string(p) + " at index " + std::to_string(i) +
                  " is outside [0, 1]");
    int b = std::min(bins - 1, static_cast<int>(std::floor(p * bins)));
    sum_p[b] += p;
    sum_o[b] += outcome[i];
    ++count[b];
  }
  double ece = 0.0, n = static_cast<double>(prob.size());
  for (int b = 0; b < bins; ++b) {
    if (!count[b]) continue;
    double c = static_cast<double>(count[b]);
    ece += (c / n) * std::fabs(sum_p[b] / c - sum_o[b] / c);
  }
  return ece;
}

std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  size_t i = 0;
  while (i < order.size()) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;  // ranks i+1 .. j+1
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = avg;
    i = j + 1;
  }
  return ranks;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  require_same_size(x.size(), y.size(), "pearson");
  if (x.size() < 2) return 0.0;
  double mx = mean(x), my = mean(y), sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0.0 || syy <= 0.0) return 0.0;
  return sxy / std::sqrt(sxx * syy);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  require_same_size(x.size(), y.size(), "spearman");
  return pearson(average_ranks(x), average_ranks(y));
}

}  // namespace rlhf::eval
