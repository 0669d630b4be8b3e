// oneDNN-backed linear layer and fused masked attention for fp32 CPU training (see train_ops.h).
#include "kernels/train_ops.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/small_gemm.h"
#include "kernels/train_vec.h"
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

// The bias gradient: column sums of gy (M, N), rows split across the threads (partial sums per
// chunk, added in chunk order, so the result does not depend on the thread count).
at::Tensor bias_grad(const at::Tensor& gy) {
  const int64_t M = gy.size(0), N = gy.size(1);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(8, M / 256));
  auto part = at::empty({chunks, N}, gy.options());
  const float* g = gy.data_ptr<float>();
  float* pp = part.data_ptr<float>();
  kernels::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const int64_t r0 = M * c / chunks, r1 = M * (c + 1) / chunks;
      column_sums(g + r0 * N, r1 - r0, N, N, pp + c * N, false);
    }
  });
  auto out = part[0].clone();
  for (int64_t c = 1; c < chunks; ++c) add_inplace(out.data_ptr<float>(), pp + c * N, N);
  return out;
}

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

  static variable_list backward(AutogradContext* ctx, variable_list grads) { return linear_grads(ctx, grads); }

  // gx, gw, gb of y = x W^T + b from the saved (x2, W) (LinearFn and LinearReplayFn).
  static variable_list linear_grads(AutogradContext* ctx, const variable_list& grads) {
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
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) gb = bias_grad(gy);
    return {gx, gw, gb};
  }
};

// y = x W^T + b + residual whose value `out` was computed elsewhere (the decode engine's
// recording of the same forward): returns `out` and keeps what LinearFn keeps, so the backward is
// LinearFn's (and the residual's gradient is gy itself). An empty residual stands for "none".
struct LinearReplayFn : public torch::autograd::Function<LinearReplayFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                            const at::Tensor& residual, const at::Tensor& out) {
    ctx->save_for_backward({x.reshape({-1, x.size(-1)}).contiguous(), w.contiguous()});
    ctx->saved_data["has_bias"] = b.numel() > 0;
    ctx->saved_data["has_residual"] = residual.numel() > 0;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto g = LinearFn::linear_grads(ctx, grads);
    at::Tensor gr;
    if (ctx->saved_data["has_residual"].toBool() && ctx->needs_input_grad(3)) gr = grads[0];
    return {g[0], g[1], g[2], gr, at::Tensor()};
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
};

// Row i of the scores (S floats, already scaled) -> probabilities in place; blocked keys get 0.
// Returns false for a row without any visible key (it gets the uniform average and, as in the
// op-by-op graph where every score is the same constant, no gradient into q and k).
bool softmax_row(float* row, int64_t i, const RowMask& m) {
  const int64_t lim = m.limit(i), S = m.S;
  // Blocked keys -> -inf (branch-free loops over the int64 masks), then a softmax that maps -inf
  // to exactly 0.
  constexpr float kBlocked = -INFINITY;
  if (m.key_mask)
    for (int64_t j = 0; j < lim; ++j) row[j] = m.key_mask[j] == 0 ? kBlocked : row[j];
  if (m.seg) {
    const int64_t own = m.seg[i + (S - m.T)];
    for (int64_t j = 0; j < lim; ++j) row[j] = m.seg[j] != own ? kBlocked : row[j];
  }
  const bool live = lim > 0 && softmax_masked_inplace(row, lim);
  if (!live) {  // no visible key: a uniform average (finite), as the op-by-op path gives
    const float u = 1.0f / static_cast<float>(S);
    for (int64_t j = 0; j < S; ++j) row[j] = u;
    return false;
  }
  if (lim < S) std::memset(row + lim, 0, static_cast<size_t>(S - lim) * sizeof(float));
  return true;
}

// Query rows are processed in blocks of this many: under a causal mask a block needs only the keys
// up to its last row, so the score and value products skip the blocked upper triangle (62.5% of
// the full work at T = 256).
constexpr int64_t kQueryBlock = 64;

// Keys [0, n) that rows [i0, i0 + nb) may see (causal: up to the block's last row).
int64_t block_keys(bool causal, int64_t i0, int64_t nb, int64_t T, int64_t S) {
  return causal ? std::min(S, i0 + nb + (S - T)) : S;
}

// Zeroes rows [0, n) of a (rows, ld) float matrix, `width` columns each.
void zero_rows(float* a, int64_t n, int64_t width, int64_t ld) {
  for (int64_t r = 0; r < n; ++r) std::memset(a + r * ld, 0, static_cast<size_t>(width) * sizeof(float));
}

// out (D) = the mean of rows [0, n) of a (n, ld) matrix.
void mean_rows(const float* a, int64_t n, int64_t D, int64_t ld, float* out) {
  std::memset(out, 0, static_cast<size_t>(D) * sizeof(float));
  for (int64_t r = 0; r < n; ++r) add_inplace(out, a + r * ld, D);
  scale_inplace(out, D, 1.0f / static_cast<float>(n));
}

// Runs f over [0, n) heads split across the intra-op threads, each task's products single-threaded
// (small_gemm's oneDNN sgemm path on CPUs without AVX-512 would otherwise open an OpenMP region per
// product, and with OMP_WAIT_POLICY=passive, the tuned setting, each one pays a futex wake-up;
// measured on the tiny shape, 2 cores: forward 13 ms -> 2.1 ms).
template <typename F>
void heads_parallel(int64_t n, F&& f) {
  kernels::parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
    // Restored afterwards: at::parallel_for may run the whole range inline on the calling thread,
    // whose setting would otherwise stay at 1 for every later matmul.
    const int prev = omp_get_max_threads();
    omp_set_num_threads(1);
    f(b, e);
    omp_set_num_threads(prev);
  });
}

// The heads of one attention call: q (B, H, T, D), k and v (B, Hkv, S, D) and their gradients
// as views whose last dimension is contiguous (heads sliced from a fused projection included).
struct AttnHeads {
  int64_t B, H, Hkv, G, T, S, D;
  bool causal;
  float scale;
  const int64_t* km;   // (B, S) key mask or null
  const int64_t* seg;  // (B, S) segments or null
  RowMask row_mask(int64_t b) const { return {causal, T, S, km ? km + b * S : nullptr, seg ? seg + b * S : nullptr}; }
};

// Asks for rows [0, n) of a head (D floats each, ld apart) to be brought toward L2: the heads of a
// fused projection are rows ld floats apart, and read in place during the products each new row
// costs a memory latency with little else in flight.
void prefetch_rows(const float* base, int64_t ld, int64_t n, int64_t D) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t d = 0; d < D; d += 16) __builtin_prefetch(base + r * ld + d, 0, 2);
}

// Forward over all heads: probs (B, H, T, S) and dead (B, H, T) are written for the backward.
void attention_forward(const AttnHeads& a, HeadView Q, HeadView K, HeadView V, HeadView O, float* P, uint8_t* dd) {
  const int64_t T = a.T, S = a.S, D = a.D;
  heads_parallel(a.B * a.H, [&](int64_t begin, int64_t end) {
    std::vector<float> kt(static_cast<size_t>(D * S));  // K^T (D, S) of the head
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / a.H, h = bh % a.H, hk = h / a.G;
      float* p = P + bh * T * S;
      const RowMask m = a.row_mask(b);
      transpose(K.at(b, hk), K.ld(), S, D, kt.data(), S);
      if (bh + 1 < end) {
        const int64_t nb_ = (bh + 1) / a.H, nh = (bh + 1) % a.H, nk = nh / a.G;
        prefetch_rows(Q.at(nb_, nh), Q.ld(), T, D);
        prefetch_rows(K.at(nb_, nk), K.ld(), S, D);
        prefetch_rows(V.at(nb_, nk), V.ld(), S, D);
      }
      for (int64_t i0 = 0; i0 < T; i0 += kQueryBlock) {
        const int64_t nb = std::min(kQueryBlock, T - i0), L = block_keys(a.causal, i0, nb, T, S);
        float* pb = p + i0 * S;
        small_gemm(nb, L, D, a.scale, Q.at(b, h) + i0 * Q.ld(), Q.ld(), 1, kt.data(), S, 0.0f, pb, S);
        bool any_dead = false;
        for (int64_t i = i0; i < i0 + nb; ++i) {
          dd[bh * T + i] = softmax_row(p + i * S, i, m) ? 0 : 1;
          any_dead = any_dead || dd[bh * T + i];
        }
        small_gemm(nb, D, L, 1.0f, pb, S, 1, V.at(b, hk), V.ld(), 0.0f, O.at(b, h) + i0 * O.ld(), O.ld());
        // A row without a visible key averages all S values (its probabilities reach past L).
        for (int64_t i = i0; any_dead && i < i0 + nb; ++i)
          if (dd[bh * T + i]) mean_rows(V.at(b, hk), S, D, V.ld(), O.at(b, h) + i * O.ld());
      }
    }
  });
}

// Backward over kv heads (dK and dV sum over the query heads of their group). The masks are not
// needed: P (0 at blocked keys) and the dead rows carry them.
void attention_backward(const AttnHeads& a, HeadView Q, HeadView K, HeadView V, HeadView GO, const float* P,
                        const uint8_t* dead, HeadView GQ, HeadView GK, HeadView GV) {
  const int64_t T = a.T, S = a.S, D = a.D;
  heads_parallel(a.B * a.Hkv, [&](int64_t begin, int64_t end) {
    std::vector<float> dp(static_cast<size_t>(std::min(kQueryBlock, T) * S));
    std::vector<float> vt(static_cast<size_t>(D * S));  // V^T (D, S) of the kv head
    for (int64_t bk = begin; bk < end; ++bk) {
      const int64_t b = bk / a.Hkv, hk = bk % a.Hkv;
      transpose(V.at(b, hk), V.ld(), S, D, vt.data(), S);
      // dK and dV accumulate over query blocks and over the query heads of the kv group.
      zero_rows(GK.at(b, hk), S, D, GK.ld());
      zero_rows(GV.at(b, hk), S, D, GV.ld());
      for (int64_t g = 0; g < a.G; ++g) {
        const int64_t h = hk * a.G + g;
        for (int64_t i0 = 0; i0 < T; i0 += kQueryBlock) {
          const int64_t nb = std::min(kQueryBlock, T - i0), L = block_keys(a.causal, i0, nb, T, S);
          const float* p = P + (b * a.H + h) * T * S + i0 * S;
          const float* gob = GO.at(b, h) + i0 * GO.ld();
          // dV[0, L) += P^T dO ; dP = dO V^T
          small_gemm(L, D, nb, 1.0f, p, 1, S, gob, GO.ld(), 1.0f, GV.at(b, hk), GV.ld());
          for (int64_t r = 0; r < nb && L < S; ++r)  // a row without a visible key weights every value 1/S
            if (dead[(b * a.H + h) * T + i0 + r])
              for (int64_t j = L; j < S; ++j) axpy(p[r * S + j], gob + r * GO.ld(), GV.at(b, hk) + j * GV.ld(), D);
          small_gemm(nb, L, D, 1.0f, gob, GO.ld(), 1, vt.data(), S, 0.0f, dp.data(), S);
          // dS = P * (dP - sum_j dP * P), in place (keys past L have P = 0 and are not read)
          for (int64_t r = 0; r < nb; ++r) {
            float* d = dp.data() + r * S;
            if (dead[(b * a.H + h) * T + i0 + r])
              std::memset(d, 0, static_cast<size_t>(L) * sizeof(float));
            else
              softmax_backward_row(p + r * S, d, L);
          }
          // dQ = scale dS K ; dK[0, L) += scale dS^T Q
          small_gemm(nb, D, L, a.scale, dp.data(), S, 1, K.at(b, hk), K.ld(), 0.0f, GQ.at(b, h) + i0 * GQ.ld(),
                     GQ.ld());
          small_gemm(L, D, nb, a.scale, dp.data(), 1, S, Q.at(b, h) + i0 * Q.ld(), Q.ld(), 1.0f, GK.at(b, hk),
                     GK.ld());
        }
      }
    }
  });
}

AttnHeads attn_heads(const at::Tensor& q, const at::Tensor& k, bool causal, const at::Tensor& km, const at::Tensor& sg,
                     double scale) {
  AttnHeads a;
  a.B = q.size(0), a.H = q.size(1), a.T = q.size(2), a.D = q.size(3), a.Hkv = k.size(1), a.S = k.size(2);
  a.G = a.H / a.Hkv;
  a.causal = causal;
  a.scale = static_cast<float>(scale);
  a.km = km.defined() ? km.data_ptr<int64_t>() : nullptr;
  a.seg = sg.defined() ? sg.data_ptr<int64_t>() : nullptr;
  return a;
}

// Empty tensors stand for "no such mask" (autograd Functions take no undefined inputs).
at::Tensor mask_or_none(const at::Tensor& t) { return t.numel() > 0 ? t.to(at::kLong).contiguous() : at::Tensor(); }

// The forward of both attention Functions on q (B, H, T, D), k and v (B, Hkv, S, D) views: out
// (B, H, T, D) (a view of (B, T, H, D) memory), and the probabilities and dead rows the backward
// reads.
struct AttnForward {
  at::Tensor out, probs, dead;
};
AttnForward run_attention_forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                                  const at::Tensor& key_mask, const at::Tensor& segments, double scale) {
  auto km = mask_or_none(key_mask), sg = mask_or_none(segments);
  const AttnHeads a = attn_heads(q, k, causal, km, sg, scale);
  AttnForward f;
  f.probs = at::empty({a.B, a.H, a.T, a.S}, q.options());
  f.dead = at::empty({a.B, a.H, a.T}, q.options().dtype(at::kByte));  // rows without a visible key
  f.out = at::empty({a.B, a.T, a.H, a.D}, q.options()).transpose(1, 2);
  attention_forward(a, {&q}, {&k}, {&v}, {&f.out}, f.probs.data_ptr<float>(), f.dead.data_ptr<uint8_t>());
  return f;
}

// The heads of a saved forward for the backward, which needs no masks: P (0 at blocked keys) and
// the dead rows carry them.
AttnHeads saved_heads(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k) {
  return attn_heads(q, k, ctx->saved_data["causal"].toBool(), at::Tensor(), at::Tensor(),
                    ctx->saved_data["scale"].toDouble());
}

struct AttentionFn : public torch::autograd::Function<AttentionFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                            const at::Tensor& v_in, bool causal, const at::Tensor& key_mask, const at::Tensor& segments,
                            double scale) {
    auto q = last_dim_contiguous(q_in), k = last_dim_contiguous(k_in), v = last_dim_contiguous(v_in);
    AttnForward f = run_attention_forward(q, k, v, causal, key_mask, segments, scale);
    ctx->save_for_backward({q, k, v, f.probs, f.dead});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["causal"] = causal;
    return f.out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
    const AttnHeads a = saved_heads(ctx, q, k);
    auto go = last_dim_contiguous(grads[0]);
    // Gradients laid out (B, T, heads, D) in memory, like the projections they flow back into.
    auto gq = at::empty({a.B, a.T, a.H, a.D}, q.options()).transpose(1, 2);
    auto gk = at::empty({a.B, a.S, a.Hkv, a.D}, q.options()).transpose(1, 2);
    auto gv = at::empty({a.B, a.S, a.Hkv, a.D}, q.options()).transpose(1, 2);
    attention_backward(a, {&q}, {&k}, {&v}, {&go}, probs.data_ptr<float>(), saved[4].data_ptr<uint8_t>(), {&gq},
                       {&gk}, {&gv});
    return {gq, gk, gv, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// The same attention on q | k | v as one fused projection's output (B, T, H + 2 Hkv, D): the
// gradient comes back as one (B, T, H + 2 Hkv, D) tensor with dQ, dK and dV written into their
// slices, instead of three slice backwards (each a zero-filled full-size tensor) and their sum.
struct AttentionQkvFn : public torch::autograd::Function<AttentionQkvFn> {
  static std::array<at::Tensor, 3> split(const at::Tensor& qkv, int64_t H, int64_t Hkv) {
    return {qkv.narrow(2, 0, H).transpose(1, 2), qkv.narrow(2, H, Hkv).transpose(1, 2),
            qkv.narrow(2, H + Hkv, Hkv).transpose(1, 2)};
  }

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& qkv_in, int64_t H, int64_t Hkv, bool causal,
                            const at::Tensor& key_mask, const at::Tensor& segments, double scale) {
    auto qkv = last_dim_contiguous(qkv_in);
    auto [q, k, v] = split(qkv, H, Hkv);
    AttnForward f = run_attention_forward(q, k, v, causal, key_mask, segments, scale);
    ctx->save_for_backward({qkv, f.probs, f.dead});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["causal"] = causal;
    ctx->saved_data["H"] = H;
    ctx->saved_data["Hkv"] = Hkv;
    return f.out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &qkv = saved[0], &probs = saved[1];
    const int64_t H = ctx->saved_data["H"].toInt(), Hkv = ctx->saved_data["Hkv"].toInt();
    auto [q, k, v] = split(qkv, H, Hkv);
    const AttnHeads a = saved_heads(ctx, q, k);
    auto go = last_dim_contiguous(grads[0]);
    auto gqkv = at::empty(qkv.sizes(), qkv.options());
    auto [gq, gk, gv] = split(gqkv, H, Hkv);
    attention_backward(a, {&q}, {&k}, {&v}, {&go}, probs.data_ptr<float>(), saved[2].data_ptr<uint8_t>(), {&gq},
                       {&gk}, {&gv});
    return {gqkv, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// ---- GELU ---------------------------------------------------------------------------------

// Splits [0, n) into chunks of at least 16k elements across the intra-op threads.
template <typename F>
void parallel_chunks(int64_t n, F&& f) {
  kernels::parallel_for(0, n, 16384, [&](int64_t b, int64_t e) { f(b, e - b); });
}

struct GeluFn : public torch::autograd::Function<GeluFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in) {
    auto x = x_in.contiguous();
    auto y = at::empty_like(x);
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    parallel_chunks(x.numel(), [&](int64_t o, int64_t n) { gelu_tanh_forward(xp + o, yp + o, n); });
    ctx->save_for_backward({x});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    auto gy = grads[0].contiguous();
    auto gx = at::empty_like(x);
    const float *xp = x.data_ptr<float>(), *gp = gy.data_ptr<float>();
    float* out = gx.data_ptr<float>();
    parallel_chunks(x.numel(), [&](int64_t o, int64_t n) { gelu_tanh_backward(xp + o, gp + o, out + o, n); });
    return {gx};
  }
};

// ---- token log-probabilities ----------------------------------------------------------------

struct TokenLogprobFn : public torch::autograd::Function<TokenLogprobFn> {
  // `entropy` (N) is written when defined (a measurement riding along; no gradient).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& targets,
                            const at::Tensor& entropy) {
    const int64_t N = logits.size(0), V = logits.size(1);
    auto lse = at::empty({N}, logits.options());
    auto lp = at::empty({N}, logits.options());
    const float* x = logits.data_ptr<float>();
    const int64_t* t = targets.data_ptr<int64_t>();
    float *l = lse.data_ptr<float>(), *o = lp.data_ptr<float>();
    float* ent = entropy.numel() == N && N > 0 ? entropy.data_ptr<float>() : nullptr;
    kernels::parallel_for(0, N, 8, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        if (t[n] < 0 && !ent) {
          l[n] = 0.0f;
          o[n] = 0.0f;
          continue;
        }
        l[n] = logsumexp_row(x + n * V, V);
        o[n] = t[n] < 0 ? 0.0f : x[n * V + t[n]] - l[n];
        if (ent) ent[n] = entropy_row(x + n * V, V, l[n]);
      }
    });
    ctx->save_for_backward({logits, targets, lse});
    return lp;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &logits = saved[0], &targets = saved[1], &lse = saved[2];
    const int64_t N = logits.size(0), V = logits.size(1);
    auto g = grads[0].contiguous();
    auto gx = at::empty_like(logits);
    const float *x = logits.data_ptr<float>(), *l = lse.data_ptr<float>(), *gp = g.data_ptr<float>();
    const int64_t* t = targets.data_ptr<int64_t>();
    float* out = gx.data_ptr<float>();
    kernels::parallel_for(0, N, 8, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        if (t[n] < 0 || gp[n] == 0.0f) {
          std::memset(out + n * V, 0, static_cast<size_t>(V) * sizeof(float));
          continue;
        }
        logprob_grad_row(x + n * V, V, l[n], t[n], gp[n], out + n * V);
      }
    });
    return {gx, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor train_gelu(const at::Tensor& x) {
  if (x.scalar_type() != at::kFloat || !x.device().is_cpu()) throw Error("train_gelu: needs a float32 CPU tensor");
  RECORD_FUNCTION("rlhf::gelu", std::vector<c10::IValue>());
  return GeluFn::apply(x);
}

bool token_logprobs_apply(const at::Tensor& logits) {
  return env_enabled() && logits.scalar_type() == at::kFloat && logits.device().is_cpu() && logits.dim() == 2 &&
         logits.stride(1) == 1 && logits.stride(0) == logits.size(1);
}

at::Tensor token_logprobs(const at::Tensor& logits, const at::Tensor& targets, at::Tensor* entropy) {
  auto flat = logits.to(at::kFloat);
  if (token_logprobs_apply(flat)) return train_token_logprobs(flat, targets, entropy);
  // log_softmax + gather; ignored rows through where(), so they get no gradient either.
  auto t = targets.to(at::kLong);
  auto valid = t.ge(0);
  auto lsm = at::log_softmax(flat, -1);
  auto lp = lsm.gather(1, t.clamp_min(0).unsqueeze(1)).squeeze(1);
  if (entropy) {
    at::NoGradGuard ng;  // a measurement: no graph over (N, V)
    auto l = lsm.detach();
    *entropy = -(l.exp() * l).sum(-1);
  }
  return at::where(valid, lp, at::zeros_like(lp));
}

at::Tensor train_token_logprobs(const at::Tensor& logits, const at::Tensor& targets, at::Tensor* entropy) {
  if (logits.dim() != 2 || targets.dim() != 1 || targets.size(0) != logits.size(0))
    throw Error("train_token_logprobs: logits must be (N, V) and targets (N)");
  if (logits.scalar_type() != at::kFloat || !logits.device().is_cpu())
    throw Error("train_token_logprobs: needs float32 CPU logits");
  auto t = targets.to(at::kLong).contiguous();
  const int64_t V = logits.size(1);
  if (t.numel() > 0 && t.max().item<int64_t>() >= V)
    throw Error("train_token_logprobs: a target id is >= the vocabulary size " + std::to_string(V));
  at::Tensor ent = entropy ? at::empty({logits.size(0)}, logits.options().requires_grad(false))
                           : at::empty({0}, logits.options().requires_grad(false));
  RECORD_FUNCTION("rlhf::token_logprobs", std::vector<c10::IValue>());
  auto lp = TokenLogprobFn::apply(logits.contiguous(), t, ent);
  if (entropy) *entropy = ent;
  return lp;
}

bool train_ops_enabled() { return env_enabled(); }

void set_train_ops_enabled(bool on) { enabled_flag().store(on); }

bool train_ops_apply(const at::Tensor& x) {
  return env_enabled() && x.scalar_type() == at::kFloat && x.device().is_cpu() && !at::autocast::is_cpu_enabled();
}

at::Tensor train_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (x.size(-1) != w.size(1))
    throw Error("train_linear: input width " + std::to_string(x.size(-1)) + " != weight width " + std::to_string(w.size(1)));
  RECORD_FUNCTION("rlhf::linear", std::vector<c10::IValue>());
  return LinearFn::apply(x, w, b.defined() ? b : at::empty({0}, w.options()));
}

void check_replay_out(const char* fn, const at::Tensor& x, const at::Tensor& out, int64_t width,
                      const at::Tensor& residual) {
  const int64_t rows = x.numel() / x.size(-1);
  if (out.dim() != x.dim() || out.size(-1) != width || out.numel() != rows * width)
    throw Error(std::string(fn) + ": recorded output " + std::to_string(out.numel()) + " values for " +
                std::to_string(rows) + " rows of width " + std::to_string(width));
  if (residual.defined() && residual.numel() > 0 && !residual.sizes().equals(out.sizes()))
    throw Error(std::string(fn) + ": residual and recorded output differ in shape");
}

at::Tensor train_linear_replay(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                               const at::Tensor& residual, const at::Tensor& out) {
  if (x.size(-1) != w.size(1))
    throw Error("train_linear_replay: input width " + std::to_string(x.size(-1)) + " != weight width " +
                std::to_string(w.size(1)));
  check_replay_out("train_linear_replay", x, out, w.size(0), residual);
  auto none = at::empty({0}, w.options());
  return LinearReplayFn::apply(x, w, b.defined() ? b : none, residual.defined() ? residual : none, out);
}

at::Tensor train_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                           const at::Tensor& key_mask, const at::Tensor& segments, double scale) {
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || k.size(1) == 0 || q.size(1) % k.size(1) != 0)
    throw Error("train_attention: q must be (B, H, T, D) and k, v (B, Hkv, S, D) with H a multiple of Hkv");
  if (causal && k.size(2) < q.size(2)) throw Error("train_attention: causal attention needs S >= T");
  RECORD_FUNCTION("rlhf::attention", std::vector<c10::IValue>());
  auto none = at::empty({0}, q.options().dtype(at::kLong));
  return AttentionFn::apply(q, k, v, causal, key_mask.defined() ? key_mask : none, segments.defined() ? segments : none,
                            scale);
}

at::Tensor train_attention_qkv(const at::Tensor& qkv, int64_t n_head, int64_t kv_heads, bool causal,
                               const at::Tensor& key_mask, const at::Tensor& segments, double scale) {
  if (qkv.dim() != 4 || kv_heads < 1 || n_head % kv_heads != 0 || qkv.size(2) != n_head + 2 * kv_heads)
    throw Error("train_attention_qkv: qkv must be (B, T, H + 2 Hkv, D) with H a multiple of Hkv; got " +
                std::to_string(qkv.size(2)) + " heads for H " + std::to_string(n_head) + ", Hkv " +
                std::to_string(kv_heads));
  if (qkv.scalar_type() != at::kFloat || !qkv.device().is_cpu())
    throw Error("train_attention_qkv: needs a float32 CPU tensor");
  RECORD_FUNCTION("rlhf::attention", std::vector<c10::IValue>());
  auto none = at::empty({0}, qkv.options().dtype(at::kLong));
  return AttentionQkvFn::apply(qkv, n_head, kv_heads, causal, key_mask.defined() ? key_mask : none,
                               segments.defined() ? segments : none, scale);
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
