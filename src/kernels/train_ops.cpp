// oneDNN-backed linear layer and fused masked attention for fp32 CPU training (see train_ops.h).
#include "kernels/train_ops.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <oneapi/dnnl/dnnl.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/vec.h"
#include "rlhf/io/error.h"

namespace rlhf::kernels {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// C (M, N) = alpha * op(A) op(B) + beta * C, row-major, leading dimensions as stored.
void sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0 ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  dnnl_status_t st = dnnl_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (st != dnnl_success) throw Error("oneDNN sgemm failed (status " + std::to_string(static_cast<int>(st)) + ")");
}

std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("RLHF_TRAIN_OPS");
    return !(v && std::strcmp(v, "0") == 0);
  }()};
  return on;
}
bool env_enabled() { return enabled_flag().load(std::memory_order_relaxed); }

// ---- linear -------------------------------------------------------------------------------

struct LinearFn : public torch::autograd::Function<LinearFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    const int64_t K = x.size(-1), N = w.size(0);
    auto x2 = x.reshape({-1, K}).contiguous();
    auto wc = w.contiguous();
    const int64_t M = x2.size(0);
    auto y = at::empty({M, N}, x.options());
    sgemm('N', 'T', M, N, K, 1.0f, x2.data_ptr<float>(), K, wc.data_ptr<float>(), K, 0.0f, y.data_ptr<float>(), N);
    const bool has_bias = b.numel() > 0;  // an empty tensor stands for "no bias"
    if (has_bias) y.add_(b);
    ctx->save_for_backward({x2, wc});
    ctx->saved_data["has_bias"] = has_bias;
    auto sizes = x.sizes().vec();
    sizes.back() = N;
    return y.view(sizes);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& x2 = saved[0];
    const auto& w = saved[1];
    const int64_t M = x2.size(0), K = x2.size(1), N = w.size(0);
    auto gy = grads[0].reshape({M, N}).contiguous();
    at::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) {
      gx = at::empty({M, K}, gy.options());
      sgemm('N', 'N', M, K, N, 1.0f, gy.data_ptr<float>(), N, w.data_ptr<float>(), K, 0.0f, gx.data_ptr<float>(), K);
      auto sizes = grads[0].sizes().vec();
      sizes.back() = K;
      gx = gx.view(sizes);
    }
    if (ctx->needs_input_grad(1)) {
      gw = at::empty({N, K}, gy.options());
      sgemm('T', 'N', N, K, M, 1.0f, gy.data_ptr<float>(), N, x2.data_ptr<float>(), K, 0.0f, gw.data_ptr<float>(), K);
    }
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) gb = gy.sum(0);
    return {gx, gw, gb};
  }
};

// ---- attention ----------------------------------------------------------------------------

// Pointer to row 0 of head (b, h) of a (B, H, T, D) tensor whose last dimension is contiguous.
struct HeadView {
  const at::Tensor* t;
  float* at(int64_t b, int64_t h) const {
    return t->data_ptr<float>() + b * t->stride(0) + h * t->stride(1);
  }
  int64_t ld() const { return t->stride(2); }
};

at::Tensor last_dim_contiguous(const at::Tensor& t) { return t.stride(-1) == 1 ? t : t.contiguous(); }

// Per-row visibility for one batch row: which keys query i may see.
struct RowMask {
  bool causal;
  int64_t T, S;
  const int64_t* key_mask;  // (S) or null
  const int64_t* seg;       // (S) or null
  // Keys [0, limit(i)) can be visible; beyond are blocked by causality.
  int64_t limit(int64_t i) const { return causal ? std::min(S, i + (S - T) + 1) : S; }
  bool has_holes() const { return key_mask || seg; }
  bool visible(int64_t i, int64_t j) const {
    if (key_mask && key_mask[j] == 0) return false;
    if (seg && seg[j] != seg[i + (S - T)]) return false;
    return true;
  }
};

// Row i of the scores (S floats, already scaled) -> probabilities in place; blocked keys get 0.
// Returns false for a row without any visible key (it gets the uniform average and, as in the
// op-by-op graph where every score is the same constant, no gradient into q and k).
bool softmax_row(float* row, int64_t i, const RowMask& m) {
  const int64_t lim = m.limit(i), S = m.S;
  float mx = -INFINITY;
  bool any = false;
  for (int64_t j = 0; j < lim; ++j)
    if (!m.has_holes() || m.visible(i, j)) {
      mx = std::max(mx, row[j]);
      any = true;
    }
  if (!any) {  // no visible key: a uniform average (finite), as the op-by-op path gives
    const float u = 1.0f / static_cast<float>(S);
    for (int64_t j = 0; j < S; ++j) row[j] = u;
    return false;
  }
  double sum = exp_shifted(row, lim, mx, 1.0f, row);
  if (m.has_holes()) {
    sum = 0;
    for (int64_t j = 0; j < lim; ++j) {
      if (!m.visible(i, j)) row[j] = 0.0f;
      sum += row[j];
    }
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < lim; ++j) row[j] *= inv;
  if (lim < S) std::memset(row + lim, 0, static_cast<size_t>(S - lim) * sizeof(float));
  return true;
}

struct AttentionFn : public torch::autograd::Function<AttentionFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                            const at::Tensor& v_in, bool causal, const at::Tensor& key_mask, const at::Tensor& segments,
                            double scale) {
    auto q = last_dim_contiguous(q_in), k = last_dim_contiguous(k_in), v = last_dim_contiguous(v_in);
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), Hkv = k.size(1), S = k.size(2);
    const int64_t G = H / Hkv;
    // Empty tensors stand for "no such mask" (autograd Functions take no undefined inputs).
    auto km = key_mask.numel() > 0 ? key_mask.to(at::kLong).contiguous() : at::Tensor();
    auto sg = segments.numel() > 0 ? segments.to(at::kLong).contiguous() : at::Tensor();
    auto probs = at::empty({B, H, T, S}, q.options());
    auto dead = at::zeros({B, H, T}, q.options().dtype(at::kByte));  // rows without a visible key
    uint8_t* dd = dead.data_ptr<uint8_t>();
    auto out = at::empty({B, T, H, D}, q.options()).transpose(1, 2);  // (B, H, T, D) view of (B, T, H, D)
    HeadView Q{&q}, Kv{&k}, V{&v}, O{&out};
    float* P = probs.data_ptr<float>();
    const float sc = static_cast<float>(scale);
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t b = bh / H, h = bh % H, hk = h / G;
        float* p = P + bh * T * S;
        sgemm('N', 'T', T, S, D, sc, Q.at(b, h), Q.ld(), Kv.at(b, hk), Kv.ld(), 0.0f, p, S);
        RowMask m{causal, T, S, km.defined() ? km.data_ptr<int64_t>() + b * S : nullptr,
                  sg.defined() ? sg.data_ptr<int64_t>() + b * S : nullptr};
        for (int64_t i = 0; i < T; ++i) dd[bh * T + i] = softmax_row(p + i * S, i, m) ? 0 : 1;
        sgemm('N', 'N', T, D, S, 1.0f, p, S, V.at(b, hk), V.ld(), 0.0f, O.at(b, h), O.ld());
      }
    });
    ctx->save_for_backward({q, k, v, probs, dead});
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
    const uint8_t* dead = saved[4].data_ptr<uint8_t>();
    const float sc = static_cast<float>(ctx->saved_data["scale"].toDouble());
    auto go = last_dim_contiguous(grads[0]);
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), Hkv = k.size(1), S = k.size(2);
    const int64_t G = H / Hkv;
    // Gradients laid out (B, T, heads, D) in memory, like the projections they flow back into.
    auto gq = at::empty({B, T, H, D}, q.options()).transpose(1, 2);
    auto gk = at::empty({B, S, Hkv, D}, q.options()).transpose(1, 2);
    auto gv = at::empty({B, S, Hkv, D}, q.options()).transpose(1, 2);
    HeadView Q{&q}, Kv{&k}, V{&v}, GO{&go}, GQ{&gq}, GK{&gk}, GV{&gv};
    const float* P = probs.data_ptr<float>();
    at::parallel_for(0, B * Hkv, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> dp(static_cast<size_t>(T * S));
      for (int64_t bk = begin; bk < end; ++bk) {
        const int64_t b = bk / Hkv, hk = bk % Hkv;
        for (int64_t g = 0; g < G; ++g) {
          const int64_t h = hk * G + g;
          const float* p = P + (b * H + h) * T * S;
          const float beta = g == 0 ? 0.0f : 1.0f;  // query heads of one kv group add up
          // dV += P^T dO ; dP = dO V^T
          sgemm('T', 'N', S, D, T, 1.0f, p, S, GO.at(b, h), GO.ld(), beta, GV.at(b, hk), GV.ld());
          sgemm('N', 'T', T, S, D, 1.0f, GO.at(b, h), GO.ld(), V.at(b, hk), V.ld(), 0.0f, dp.data(), S);
          // dS = P * (dP - sum_j dP * P), in place
          for (int64_t i = 0; i < T; ++i) {
            const float* pr = p + i * S;
            float* d = dp.data() + i * S;
            if (dead[(b * H + h) * T + i]) {
              std::memset(d, 0, static_cast<size_t>(S) * sizeof(float));
              continue;
            }
            const float fd = dot(pr, d, S);
            for (int64_t j = 0; j < S; ++j) d[j] = pr[j] * (d[j] - fd);
          }
          // dQ = scale dS K ; dK += scale dS^T Q
          sgemm('N', 'N', T, D, S, sc, dp.data(), S, Kv.at(b, hk), Kv.ld(), 0.0f, GQ.at(b, h), GQ.ld());
          sgemm('T', 'N', S, D, T, sc, dp.data(), S, Q.at(b, h), Q.ld(), beta, GK.at(b, hk), GK.ld());
        }
      }
    });
    return {gq, gk, gv, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

void set_train_ops_enabled(bool on) { enabled_flag().store(on); }

bool train_ops_apply(const at::Tensor& x) {
  return env_enabled() && x.scalar_type() == at::kFloat && x.device().is_cpu() && !at::autocast::is_cpu_enabled();
}

at::Tensor train_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (x.size(-1) != w.size(1))
    throw Error("train_linear: input width " + std::to_string(x.size(-1)) + " != weight width " + std::to_string(w.size(1)));
  return LinearFn::apply(x, w, b.defined() ? b : at::empty({0}, w.options()));
}

at::Tensor train_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                           const at::Tensor& key_mask, const at::Tensor& segments, double scale) {
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || k.size(1) == 0 || q.size(1) % k.size(1) != 0)
    throw Error("train_attention: q must be (B, H, T, D) and k, v (B, Hkv, S, D) with H a multiple of Hkv");
  if (causal && k.size(2) < q.size(2)) throw Error("train_attention: causal attention needs S >= T");
  auto none = at::empty({0}, q.options().dtype(at::kLong));
  return AttentionFn::apply(q, k, v, causal, key_mask.defined() ? key_mask : none, segments.defined() ? segments : none,
                            scale);
}

double sgemm_peak_gflops(int64_t n) {
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f), b(a), c(a);
  sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    const int iters = 4;
    for (int i = 0; i < iters; ++i) sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, iters * 2.0 * n * n * n / s / 1e9);
  }
  return best;
}

}  // namespace rlhf::kernels
