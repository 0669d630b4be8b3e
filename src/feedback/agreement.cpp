// Agreement statistics and the Bradley-Terry fit (see agreement.h).
#include "rlhf/feedback/agreement.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace rlhf::feedback {

std::vector<PairItem> pair_items(const Label& l) {
  std::vector<PairItem> out;
  if (l.kind == "pair") {
    PairItem it{l.task_id, std::min(l.chosen, l.rejected), std::max(l.chosen, l.rejected), Outcome::Tie,
                strength_margin(l.strength)};
    if (l.strength == Strength::BothBad)
      it.outcome = Outcome::BothBad;
    else if (l.strength == Strength::Tie)
      it.outcome = Outcome::Tie;
    else
      it.outcome = l.chosen < l.rejected ? Outcome::First : Outcome::Second;
    out.push_back(it);
    return out;
  }
  int k = 0;
  for (const auto& g : l.ranking) k += int(g.size());
  auto lv = levels_from_groups(l.ranking, k);
  for (int a = 0; a < k; ++a)
    for (int b = a + 1; b < k; ++b)
      out.push_back({l.task_id, a, b, gold_outcome(lv, a, b), 0.0});
  return out;
}

Outcome gold_outcome(const std::vector<int>& levels, int a, int b) {
  int la = levels[size_t(a)], lb = levels[size_t(b)];
  return la < lb ? Outcome::First : lb < la ? Outcome::Second : Outcome::Tie;
}

std::optional<double> cohen_kappa(const std::vector<int>& x, const std::vector<int>& y, int n_categories) {
  if (x.empty() || x.size() != y.size()) return std::nullopt;
  std::vector<double> px(size_t(n_categories), 0), py(size_t(n_categories), 0);
  double agree = 0, n = double(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    agree += x[i] == y[i];
    px[size_t(x[i])] += 1 / n;
    py[size_t(y[i])] += 1 / n;
  }
  double po = agree / n, pe = 0;
  for (int c = 0; c < n_categories; ++c) pe += px[size_t(c)] * py[size_t(c)];
  if (pe >= 1 - 1e-12) return std::nullopt;
  return (po - pe) / (1 - pe);
}

std::vector<double> average_ranks(const std::vector<int>& levels) {
  // Responses on level L share ranks (below + 1) .. (below + count): their average.
  std::map<int, int> count;
  for (int l : levels) ++count[l];
  std::map<int, double> rank_of;
  int below = 0;
  for (auto& [l, c] : count) {
    rank_of[l] = below + (c + 1) / 2.0;
    below += c;
  }
  std::vector<double> r;
  for (int l : levels) r.push_back(rank_of[l]);
  return r;
}

std::optional<double> kendall_w(const std::vector<std::vector<int>>& levels) {
  size_t m = levels.size();
  if (m < 2) return std::nullopt;
  size_t n = levels[0].size();
  if (n < 2) return std::nullopt;
  std::vector<double> sum(n, 0);
  double ties = 0;
  for (const auto& row : levels) {
    if (row.size() != n) return std::nullopt;
    auto r = average_ranks(row);
    for (size_t j = 0; j < n; ++j) sum[j] += r[j];
    std::map<int, int> count;
    for (int l : row) ++count[l];
    for (auto& [l, t] : count) ties += double(t) * t * t - t;
  }
  double mean = double(m) * (double(n) + 1) / 2, s = 0;
  for (double v : sum) s += (v - mean) * (v - mean);
  double md = double(m), nd = double(n);
  double denom = md * md * (nd * nd * nd - nd) - md * ties;
  if (denom <= 0) return std::nullopt;
  return 12 * s / denom;
}

std::vector<double> bradley_terry(int n, const std::vector<BtComparison>& comparisons, double l2) {
  // Log-likelihood sum_c w_c log sigmoid(s_win - s_lose) - l2/2 |s|^2; Newton steps with the
  // full (n x n) Hessian, n is small (responses of one task).
  std::vector<double> s(size_t(n), 0.0);
  for (int iter = 0; iter < 100; ++iter) {
    std::vector<double> g(size_t(n), 0.0), h(size_t(n) * size_t(n), 0.0);
    for (int i = 0; i < n; ++i) {
      g[size_t(i)] = -l2 * s[size_t(i)];
      h[size_t(i) * size_t(n) + size_t(i)] = l2 + 1e-9;
    }
    for (const auto& c : comparisons) {
      double p = 1 / (1 + std::exp(-(s[size_t(c.winner)] - s[size_t(c.loser)])));
      double gw = c.weight * (1 - p), hw = c.weight * p * (1 - p);
      g[size_t(c.winner)] += gw;
      g[size_t(c.loser)] -= gw;
      size_t w = size_t(c.winner), l = size_t(c.loser), N = size_t(n);
      h[w * N + w] += hw, h[l * N + l] += hw, h[w * N + l] -= hw, h[l * N + w] -= hw;
    }
    // Solve H d = g (H = negative Hessian, positive definite) by Gaussian elimination.
    std::vector<double> a = h, d = g;
    size_t N = size_t(n);
    for (size_t c = 0; c < N; ++c) {
      size_t piv = c;
      for (size_t r = c + 1; r < N; ++r)
        if (std::fabs(a[r * N + c]) > std::fabs(a[piv * N + c])) piv = r;
      for (size_t k = 0; k < N; ++k) std::swap(a[c * N + k], a[piv * N + k]);
      std::swap(d[c], d[piv]);
      if (std::fabs(a[c * N + c]) < 1e-15) continue;
      for (size_t r = c + 1; r < N; ++r) {
        double f = a[r * N + c] / a[c * N + c];
        for (size_t k = c; k < N; ++k) a[r * N + k] -= f * a[c * N + k];
        d[r] -= f * d[c];
      }
    }
    for (size_t c = N; c-- > 0;) {
      if (std::fabs(a[c * N + c]) < 1e-15) {
        d[c] = 0;
        continue;
      }
      for (size_t k = c + 1; k < N; ++k) d[c] -= a[c * N + k] * d[k];
      d[c] /= a[c * N + c];
    }
    double step = 0, biggest = 0;
    for (size_t i = 0; i < N; ++i) biggest = std::max(biggest, std::fabs(d[i]));
    double scale = biggest > 2 ? 2 / biggest : 1;  // damped: no overshoot from a flat start
    for (size_t i = 0; i < N; ++i) {
      d[i] *= scale;
      s[i] += d[i];
      step = std::max(step, std::fabs(d[i]));
    }
    if (step < 1e-10) break;
  }
  double mean = 0;
  for (double v : s) mean += v / std::max(1, n);
  for (double& v : s) v -= mean;
  return s;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace rlhf::feedback
