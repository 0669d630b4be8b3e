// The fused fp32 training operators (oneDNN linear, masked attention with hand-written backward)
// against the same computation written with plain tensor ops and differentiated by autograd, and
// the whole Transformer's loss and gradients with the fused operators on and off.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <optional>
#include <random>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/small_gemm.h"
#include "kernels/train_ops.h"
#include "kernels/train_ops_bf16.h"
#include "rlhf/io/error.h"
#include "rlhf/model/transformer.h"

using namespace rlhf;

namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Reference attention: scores, additive mask, softmax, values, with kv heads repeated.
torch::Tensor ref_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, bool causal,
                            const torch::Tensor& key_mask, const torch::Tensor& seg, double scale) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), S = k.size(2), G = H / k.size(1);
  auto kk = k.repeat_interleave(G, 1), vv = v.repeat_interleave(G, 1);
  auto scores = torch::matmul(q, kk.transpose(-1, -2)) * scale;  // (B, H, T, S)
  auto blocked = torch::zeros({B, 1, T, S}, torch::kBool);
  if (causal) {
    auto i = torch::arange(S - T, S).view({T, 1}), j = torch::arange(S).view({1, S});
    blocked = blocked | (j > i).view({1, 1, T, S});
  }
  if (key_mask.defined()) blocked = blocked | (key_mask == 0).view({B, 1, 1, S});
  if (seg.defined()) {
    auto sq = seg.narrow(1, S - T, T);
    blocked = blocked | (sq.view({B, 1, T, 1}) != seg.view({B, 1, 1, S}));
  }
  auto att = torch::softmax(scores.masked_fill(blocked, -1e30), -1);
  return torch::matmul(att, vv);
}

struct AttnCase {
  int64_t B, H, Hkv, T, S, D;
  bool causal, padding, segments;
};

void check_attention(const AttnCase& c) {
  torch::manual_seed(3);
  auto q = torch::randn({c.B, c.H, c.T, c.D}, torch::requires_grad());
  auto k = torch::randn({c.B, c.Hkv, c.S, c.D}, torch::requires_grad());
  auto v = torch::randn({c.B, c.Hkv, c.S, c.D}, torch::requires_grad());
  torch::Tensor km, seg;
  if (c.padding) {
    km = torch::ones({c.B, c.S}, torch::kLong);
    km[0].narrow(0, c.S - 2, 2).fill_(0);  // right padding in row 0
    if (c.B > 1) km[1][0] = 0;             // left padding in row 1
  }
  if (c.segments) {
    seg = torch::zeros({c.B, c.S}, torch::kLong);
    seg[0].narrow(0, c.S / 3, c.S - c.S / 3).fill_(1);
    seg[0].narrow(0, c.S - 1, 1).fill_(-1);  // a lone padding position
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.D));
  auto gout = torch::randn({c.B, c.H, c.T, c.D});
  auto ours = kernels::train_attention(q, k, v, c.causal, km, seg, scale);
  auto gq = torch::autograd::grad({ours}, {q, k, v}, {gout});
  auto ref = ref_attention(q, k, v, c.causal, km, seg, scale);
  auto gr = torch::autograd::grad({ref}, {q, k, v}, {gout});
  EXPECT_LT(max_diff(ours, ref), 1e-5);
  for (int i = 0; i < 3; ++i) EXPECT_LT(max_diff(gq[i], gr[i]), 1e-5) << "input " << i;
  if (c.S != c.T) return;
  // The same heads packed as one projection's output (B, T, H + 2 Hkv, D): the output, and the
  // one gradient's slices against the reference's dQ, dK, dV.
  auto qkv = torch::cat({q.detach().transpose(1, 2), k.detach().transpose(1, 2), v.detach().transpose(1, 2)}, 2)
                 .requires_grad_(true);
  auto packed = kernels::train_attention_qkv(qkv, c.H, c.Hkv, c.causal, km, seg, scale);
  EXPECT_LT(max_diff(packed, ref), 1e-5);
  auto gp = torch::autograd::grad({packed}, {qkv}, {gout})[0];
  EXPECT_LT(max_diff(gp.narrow(2, 0, c.H).transpose(1, 2), gr[0]), 1e-5);
  EXPECT_LT(max_diff(gp.narrow(2, c.H, c.Hkv).transpose(1, 2), gr[1]), 1e-5);
  EXPECT_LT(max_diff(gp.narrow(2, c.H + c.Hkv, c.Hkv).transpose(1, 2), gr[2]), 1e-5);
}

ModelConfig tiny(const std::string& arch) {
  ModelConfig c;
  c.arch = arch;
  c.vocab_size = 53;
  c.n_layer = 2;
  c.n_head = 4;
  c.d_model = 32;
  c.max_seq = 32;
  if (arch == "llama") {
    c.n_kv_head = 2;
    c.d_ff = 48;
    c.bias = false;
  }
  return c;
}

// Loss and gradients of every parameter, fused operators on or off.
std::pair<double, std::vector<torch::Tensor>> loss_and_grads(Transformer& m, const torch::Tensor& toks,
                                                             const ForwardArgs& args, bool fused) {
  kernels::set_train_ops_enabled(fused);
  for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  auto logits = m->forward(toks, args);
  auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).narrow(0, 0, logits.size(0) * logits.size(1) - 1),
                                                    toks.reshape({-1}).narrow(0, 1, toks.numel() - 1));
  loss.backward();
  std::vector<torch::Tensor> g;
  for (auto& p : m->parameters()) g.push_back(p.grad().clone());
  kernels::set_train_ops_enabled(true);
  return {loss.item<double>(), g};
}

}  // namespace

TEST(TrainOps, LinearMatchesAutograd) {
  torch::manual_seed(0);
  auto x = torch::randn({3, 5, 17}, torch::requires_grad());
  auto w = torch::randn({11, 17}, torch::requires_grad());
  auto b = torch::randn({11}, torch::requires_grad());
  auto gout = torch::randn({3, 5, 11});
  auto y = kernels::train_linear(x, w, b);
  auto g = torch::autograd::grad({y}, {x, w, b}, {gout});
  auto yr = torch::matmul(x, w.t()) + b;
  auto gr = torch::autograd::grad({yr}, {x, w, b}, {gout});
  EXPECT_LT(max_diff(y, yr), 1e-5);
  for (int i = 0; i < 3; ++i) EXPECT_LT(max_diff(g[i], gr[i]), 1e-5) << "input " << i;
  // Many rows: the bias gradient is summed in per-thread row chunks.
  auto xl = torch::randn({1000, 17}, torch::requires_grad());
  auto gl = torch::randn({1000, 11});
  auto gb = torch::autograd::grad({kernels::train_linear(xl, w, b)}, {b}, {gl})[0];
  EXPECT_LT(max_diff(gb, gl.sum(0)), 1e-4);
  // Without a bias, and with a frozen input: only the weight gets a gradient.
  auto xf = torch::randn({4, 17});
  auto y2 = kernels::train_linear(xf, w, {});
  auto g2 = torch::autograd::grad({y2}, {w}, {torch::ones({4, 11})});
  EXPECT_LT(max_diff(g2[0], torch::ones({11, 4}).mm(xf)), 1e-5);
}

TEST(TrainOps, AttentionCausal) { check_attention({2, 4, 4, 7, 7, 8, true, false, false}); }
TEST(TrainOps, AttentionCausalWithPadding) { check_attention({2, 2, 2, 9, 9, 4, true, true, false}); }
TEST(TrainOps, AttentionPackedSegments) { check_attention({1, 2, 2, 12, 12, 8, true, false, true}); }
TEST(TrainOps, AttentionGroupedKvAndLongerKeys) { check_attention({2, 4, 2, 3, 8, 8, true, true, false}); }
// Longer than one query block (64 rows): causal blocks skip keys past their last row, and a row
// without a visible key (row 1's first query, its only key padded) still averages all S values.
TEST(TrainOps, AttentionAcrossQueryBlocksWithADeadRow) { check_attention({2, 2, 2, 80, 80, 8, true, true, false}); }
TEST(TrainOps, AttentionAcrossQueryBlocksPacked) { check_attention({1, 2, 1, 150, 150, 16, true, false, true}); }
// PPO's shape in miniature: GPT-2's head size, more than one query block of 64 rows, rows of the
// batch left-padded by different amounts (several rows without a visible key per head), grouped
// kv heads, all read out of one packed projection.
TEST(TrainOps, AttentionLeftPaddedHeadSize64) {
  torch::manual_seed(9);
  const int64_t B = 3, H = 4, Hkv = 2, T = 83, D = 64;
  auto q = torch::randn({B, H, T, D}, torch::requires_grad());
  auto k = torch::randn({B, Hkv, T, D}, torch::requires_grad());
  auto v = torch::randn({B, Hkv, T, D}, torch::requires_grad());
  auto km = torch::ones({B, T}, torch::kLong);
  km[1].narrow(0, 0, 5).fill_(0);
  km[2].narrow(0, 0, 70).fill_(0);
  auto gout = torch::randn({B, H, T, D});
  auto qkv = torch::cat({q.detach().transpose(1, 2), k.detach().transpose(1, 2), v.detach().transpose(1, 2)}, 2)
                 .requires_grad_(true);
  auto ours = kernels::train_attention_qkv(qkv, H, Hkv, true, km, {}, 0.125);
  auto ref = ref_attention(q, k, v, true, km, {}, 0.125);
  auto g = torch::autograd::grad({ours}, {qkv}, {gout})[0];
  auto gr = torch::autograd::grad({ref}, {q, k, v}, {gout});
  EXPECT_LT(max_diff(ours, ref), 2e-5);
  EXPECT_LT(max_diff(g.narrow(2, 0, H).transpose(1, 2), gr[0]), 2e-5);
  EXPECT_LT(max_diff(g.narrow(2, H, Hkv).transpose(1, 2), gr[1]), 2e-5);
  EXPECT_LT(max_diff(g.narrow(2, H + Hkv, Hkv).transpose(1, 2), gr[2]), 2e-5);
}

TEST(TrainOps, AttentionNotCausal) { check_attention({1, 2, 1, 5, 5, 8, false, true, false}); }

TEST(TrainOps, AttentionTakesStridedHeadsOfAFusedProjection) {
  // q, k, v as the model slices them out of one (B, T, 3, H, D) projection.
  torch::manual_seed(5);
  auto qkv = torch::randn({2, 6, 3 * 2, 8}, torch::requires_grad());
  auto q = qkv.narrow(2, 0, 2).transpose(1, 2), k = qkv.narrow(2, 2, 2).transpose(1, 2),
       v = qkv.narrow(2, 4, 2).transpose(1, 2);
  auto ours = kernels::train_attention(q, k, v, true, {}, {}, 0.3);
  auto ref = ref_attention(q, k, v, true, {}, {}, 0.3);
  EXPECT_LT(max_diff(ours, ref), 1e-5);
  auto g = torch::autograd::grad({ours.sum()}, {qkv})[0];
  auto gr = torch::autograd::grad({ref.sum()}, {qkv})[0];
  EXPECT_LT(max_diff(g, gr), 1e-5);
}

TEST(TrainOps, TransformerGradientsEqualTheOpByOpGraph) {
  for (const std::string arch : {"gpt2", "llama"}) {
    torch::manual_seed(11);
    Transformer m(tiny(arch));
    {
      torch::NoGradGuard ng;
      for (auto& p : m->parameters()) p.add_(torch::randn(p.sizes()) * 0.1);
    }
    auto toks = torch::randint(53, {3, 9}, torch::kLong);
    for (int variant = 0; variant < 3; ++variant) {
      ForwardArgs args;
      if (variant == 1) {  // right padding
        auto am = torch::ones({3, 9}, torch::kLong);
        am[1].narrow(0, 6, 3).fill_(0);
        args.attention_mask = am;
      } else if (variant == 2) {  // two packed documents per row, positions restarting
        args.segment_ids = torch::tensor({0, 0, 0, 0, 1, 1, 1, 1, 1}, torch::kLong).repeat({3, 1});
        args.position_ids = torch::tensor({0, 1, 2, 3, 0, 1, 2, 3, 4}, torch::kLong).repeat({3, 1});
      }
      auto [lf, gf] = loss_and_grads(m, toks, args, true);
      auto [lo, go] = loss_and_grads(m, toks, args, false);
      EXPECT_NEAR(lf, lo, 1e-5) << arch << " variant " << variant;
      ASSERT_EQ(gf.size(), go.size());
      for (size_t i = 0; i < gf.size(); ++i)
        EXPECT_LT(max_diff(gf[i], go[i]), 1e-5) << arch << " variant " << variant << " parameter " << i;
    }
  }
}

// Trimmed (`trim` sets keep_last / keep_index in the args) against whole-forward-then-`select`:
// the hidden states and every parameter gradient for the output gradient `gout`, under fp32 or
// bf16 products. Gradients are compared relatively: the weight gradients sum over a different
// number of rows in a different order.
static void expect_trimmed_forward_equal(Transformer& m, const torch::Tensor& toks, const ForwardArgs& args,
                                  const std::function<void(ForwardArgs&)>& trim,
                                  const std::function<torch::Tensor(const torch::Tensor&)>& select,
                                  const torch::Tensor& gout, const std::string& dtype, const std::string& what) {
  auto run = [&](bool trimmed) {
    std::optional<kernels::TrainMatmulDtypeGuard> g;
    if (dtype == "bf16") g.emplace(torch::kBFloat16);
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    ForwardArgs a = args;
    if (trimmed) trim(a);
    auto h = trimmed ? m->hidden(toks, a) : select(m->hidden(toks, a));
    h.backward(gout);
    std::vector<torch::Tensor> grads;
    for (auto& p : m->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(h.detach(), grads);
  };
  auto [ht, gt] = run(true);
  auto [hf, gf] = run(false);
  ASSERT_EQ(ht.sizes(), hf.sizes()) << what;
  EXPECT_LT(max_diff(ht, hf), 1e-5) << what;
  for (size_t i = 0; i < gt.size(); ++i)
    EXPECT_LT(max_diff(gt[i], gf[i]), 1e-5 * (1 + gf[i].abs().max().item<double>())) << what << " parameter " << i;
}

// keep_last: the last layer on the kept rows only gives the same hidden states for them, and the
// same parameter gradients, as the whole forward narrowed afterwards; gpt2 and llama (RoPE, grouped
// kv heads), plain, left-padded with shifted positions, and packed; fp32 and bf16 products.
TEST(TrainOps, KeepLastEqualsTheWholeForwardNarrowed) {
  for (const std::string arch : {"gpt2", "llama"})
    for (const std::string dtype : {"fp32", "bf16"})
      for (int variant = 0; variant < 3; ++variant) {
        torch::manual_seed(12);
        Transformer m(tiny(arch));
        auto toks = torch::randint(53, {3, 11}, torch::kLong);
        ForwardArgs args;
        if (variant == 1) {
          auto am = torch::ones({3, 11}, torch::kLong);
          am[1].narrow(0, 0, 4).fill_(0);
          args.attention_mask = am;
          args.position_ids = (am.cumsum(1) - 1).clamp_min(0);
        } else if (variant == 2) {
          args.segment_ids = torch::tensor({0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, torch::kLong).repeat({3, 1});
        }
        const int64_t keep = 6;
        expect_trimmed_forward_equal(
            m, toks, args, [&](ForwardArgs& a) { a.keep_last = keep; },
            [&](const torch::Tensor& h) { return h.narrow(1, 11 - keep, keep); }, torch::randn({3, keep, 32}), dtype,
            arch + " " + dtype + " variant " + std::to_string(variant));
      }
  Transformer m(tiny("gpt2"));
  ForwardArgs bad;
  bad.keep_last = 12;
  EXPECT_THROW(m->hidden(torch::zeros({1, 11}, torch::kLong), bad), Error);
}

// keep_index: one row per sequence (a reward model's last token) through a last layer that runs on
// those rows only, against the whole forward gathered afterwards, in value and gradient.
TEST(TrainOps, KeepIndexEqualsTheWholeForwardGathered) {
  for (const std::string arch : {"gpt2", "llama"})
    for (const std::string dtype : {"fp32", "bf16"})
      for (bool padded : {false, true}) {
        torch::manual_seed(13);
        Transformer m(tiny(arch));
        auto toks = torch::randint(53, {3, 10}, torch::kLong);
        auto idx = torch::tensor({9, 4, 0}, torch::kLong);  // the last, a middle and the first position
        ForwardArgs args;
        if (padded) {  // left padding in row 1 (its kept position 4 sees keys 2..4)
          auto am = torch::ones({3, 10}, torch::kLong);
          am[1].narrow(0, 0, 2).fill_(0);
          args.attention_mask = am;
          args.position_ids = (am.cumsum(1) - 1).clamp_min(0);
        }
        expect_trimmed_forward_equal(
            m, toks, args, [&](ForwardArgs& a) { a.keep_index = idx; },
            [&](const torch::Tensor& h) { return h.gather(1, idx.view({3, 1, 1}).expand({3, 1, 32})); },
            torch::randn({3, 1, 32}), dtype, arch + " " + dtype + (padded ? " padded" : ""));
      }
  Transformer m(tiny("gpt2"));
  ForwardArgs bad;
  bad.keep_index = torch::tensor({10}, torch::kLong);  // past the end
  EXPECT_THROW(m->hidden(torch::zeros({1, 10}, torch::kLong), bad), Error);
  bad.keep_index = torch::tensor({1, 2}, torch::kLong);  // two positions for one row
  EXPECT_THROW(m->hidden(torch::zeros({1, 10}, torch::kLong), bad), Error);
}

TEST(TrainOps, GeluMatchesAtenTanhGelu) {
  torch::manual_seed(2);
  // Odd length (a vector tail) and values out to where the gate saturates.
  auto x = (torch::randn({3, 37}) * 4).requires_grad_();
  auto gout = torch::randn({3, 37});
  auto y = kernels::train_gelu(x);
  auto g = torch::autograd::grad({y}, {x}, {gout})[0];
  auto yr = at::gelu(x, "tanh");
  auto gr = torch::autograd::grad({yr}, {x}, {gout})[0];
  EXPECT_LT(max_diff(y, yr), 1e-5);
  EXPECT_LT(max_diff(g, gr), 1e-5);
  // A hand-checked point: gelu_tanh(1) = 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) = 0.841192.
  EXPECT_NEAR(kernels::train_gelu(torch::ones({1})).item<double>(), 0.841192, 1e-5);
}

TEST(TrainOps, TokenLogprobsMatchLogSoftmaxGather) {
  torch::manual_seed(4);
  const int64_t N = 6, V = 45;  // V not a multiple of 16: the vector tail is exercised
  auto logits = (torch::randn({N, V}) * 3).requires_grad_();
  auto targets = torch::randint(V, {N}, torch::kLong);
  targets[2] = -100;  // an ignored position
  auto gout = torch::randn({N});
  auto lp = kernels::train_token_logprobs(logits, targets);
  auto g = torch::autograd::grad({lp}, {logits}, {gout})[0];
  auto keep = targets >= 0;
  auto ref = torch::log_softmax(logits, -1).gather(1, targets.clamp_min(0).unsqueeze(1)).squeeze(1) * keep;
  auto gr = torch::autograd::grad({ref}, {logits}, {gout})[0];
  EXPECT_LT(max_diff(lp, ref), 1e-5);
  EXPECT_LT(max_diff(g, gr), 1e-5);
  EXPECT_EQ(lp[2].item<float>(), 0.0f);
  // The entropy riding along: -sum p log p of every row, the ignored one included.
  torch::Tensor ent;
  kernels::train_token_logprobs(logits.detach(), targets, &ent);
  auto lsm = torch::log_softmax(logits.detach(), -1);
  EXPECT_LT(max_diff(ent, -(lsm.exp() * lsm).sum(-1)), 1e-5);
  EXPECT_EQ(g[2].abs().sum().item<float>(), 0.0f);
  // Hand-checked: logits (0, ln 3) -> p = (1/4, 3/4); log p(1) = ln 0.75.
  auto two = torch::tensor({{0.0f, static_cast<float>(std::log(3.0))}});
  EXPECT_NEAR(kernels::train_token_logprobs(two, torch::tensor({1}, torch::kLong)).item<double>(), std::log(0.75), 1e-6);
  EXPECT_THROW(kernels::train_token_logprobs(two, torch::tensor({2}, torch::kLong)), std::exception);
}

// token_logprobs: the fused pass for contiguous float32 logits and the log_softmax + gather
// fallback (column-strided logits here) give the same values, gradients (none for an ignored row)
// and entropies.
TEST(TrainOps, TokenLogprobsDispatchGivesTheSameOnBothPaths) {
  torch::manual_seed(6);
  const int64_t N = 5, V = 37;
  auto base = (torch::randn({N, 2 * V}) * 2).requires_grad_();
  auto targets = torch::randint(V, {N}, torch::kLong);
  targets[1] = -100;
  auto gout = torch::randn({N});
  auto strided = base.slice(1, 0, 2 * V, 2);  // (N, V) with column stride 2: the fallback
  ASSERT_FALSE(kernels::token_logprobs_apply(strided));
  auto contiguous = strided.contiguous();
  ASSERT_TRUE(kernels::token_logprobs_apply(contiguous) || !kernels::train_ops_enabled());
  torch::Tensor e1, e2;
  auto a = kernels::token_logprobs(strided, targets, &e1);
  auto b = kernels::token_logprobs(contiguous, targets, &e2);
  auto ga = torch::autograd::grad({a}, {base}, {gout})[0];
  auto gb = torch::autograd::grad({b}, {base}, {gout})[0];
  EXPECT_LT(max_diff(a, b), 1e-5);
  EXPECT_LT(max_diff(ga, gb), 1e-5);
  EXPECT_LT(max_diff(e1, e2), 1e-5);
  EXPECT_EQ(a[1].item<float>(), 0.0f);
  EXPECT_EQ(ga.slice(1, 0, 2 * V, 2)[1].abs().sum().item<float>(), 0.0f);
  EXPECT_FALSE(e1.requires_grad());
}

TEST(TrainOps, AttentionLeavesTheThreadCountAlone) {
  // The attention runs its small products single-threaded inside its own tasks; the calling
  // thread's setting (every later matmul's thread count) must come back unchanged.
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  auto q = torch::randn({2, 2, 70, 8}, torch::requires_grad());
  kernels::train_attention(q, q, q, true, {}, {}, 0.3).sum().backward();
  EXPECT_EQ(at::get_num_threads(), 2);
  at::set_num_threads(1);
  kernels::train_attention(q, q, q, true, {}, {}, 0.3).sum().backward();
  EXPECT_EQ(at::get_num_threads(), 1);
  at::set_num_threads(before);
}

// small_gemm (attention's products) against a double-precision loop: row counts that are not a
// multiple of the 6-row micro-kernel, column counts with a partial last vector and more than one
// 64-column tile, A read transposed through its strides, beta 0 (C not read: NaNs there must not
// leak) and beta 1 (accumulate), alpha scaling. Both paths: the one this CPU takes and the one
// for CPUs without AVX-512 (oneDNN sgemm for these unit-stride layouts).
TEST(SmallGemm, MatchesADoubleLoopOnEveryTileShape) {
  using Gemm = void (*)(int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t, const float*, int64_t, float,
                        float*, int64_t);
  for (Gemm gemm : {&kernels::small_gemm, &kernels::small_gemm_fallback}) {
    SCOPED_TRACE(gemm == &kernels::small_gemm ? "small_gemm" : "small_gemm_fallback");
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    struct Case {
      int64_t M, N, K;
      bool trans_a;
      float alpha, beta;
    };
    for (const Case& c : {Case{13, 70, 9, false, 1.0f, 0.0f}, Case{6, 64, 64, false, 0.125f, 0.0f},
                          Case{1, 5, 3, false, 2.0f, 1.0f}, Case{95, 64, 31, true, 1.0f, 1.0f},
                          Case{7, 130, 17, true, -0.5f, 0.0f}, Case{32, 96, 64, false, 1.0f, 1.0f}}) {
      const int64_t lda = c.trans_a ? c.M + 3 : c.K + 5, ldb = c.N + 2, ldc = c.N + 7;
      const int64_t a_rows = c.trans_a ? c.K : c.M;
      std::vector<float> A(static_cast<size_t>(a_rows * lda)), B(static_cast<size_t>(c.K * ldb)),
          C(static_cast<size_t>(c.M * ldc));
      for (auto& v : A) v = u(rng);
      for (auto& v : B) v = u(rng);
      for (auto& v : C) v = c.beta == 0.0f ? std::nanf("") : u(rng);
      const std::vector<float> C0 = C;
      const int64_t sam = c.trans_a ? 1 : lda, sak = c.trans_a ? lda : 1;
      gemm(c.M, c.N, c.K, c.alpha, A.data(), sam, sak, B.data(), ldb, c.beta, C.data(), ldc);
      for (int64_t m = 0; m < c.M; ++m) {
        for (int64_t n = 0; n < c.N; ++n) {
          double s = 0;
          for (int64_t k = 0; k < c.K; ++k) s += double(A[m * sam + k * sak]) * B[k * ldb + n];
          const double want = c.alpha * s + (c.beta == 0.0f ? 0.0 : c.beta * double(C0[m * ldc + n]));
          ASSERT_NEAR(C[m * ldc + n], want, 1e-5 * (1 + std::abs(want)))
              << "M " << c.M << " N " << c.N << " K " << c.K << " at (" << m << ", " << n << ")";
        }
        // Columns past N (the leading dimension's padding) are left alone.
        for (int64_t n = c.N; n < ldc; ++n) {
          const float before = C0[m * ldc + n], after = C[m * ldc + n];
          ASSERT_TRUE((std::isnan(before) && std::isnan(after)) || before == after) << "column " << n << " written";
        }
      }
    }
  }
}

// Our parallel loops run every chunk in the caller's denormal mode: libtorch's setFlushDenormal
// sets flush-to-zero on the calling thread only, and OpenMP's workers kept computing denormals
// (a log-prob backward ran 27x slower). A product below the smallest normal float comes out 0
// under flush-to-zero and nonzero without it, on whichever thread ran the chunk.
#if defined(__x86_64__)
TEST(Parallel, WorkerThreadsTakeTheCallersDenormalMode) {
  const int threads_before = at::get_num_threads();
  at::set_num_threads(2);
  const unsigned saved = kernels::denormal_mode();
  for (unsigned mode : {0u, 0x8040u}) {
    kernels::set_denormal_mode(mode);
    std::vector<unsigned> modes(64, 99);
    std::vector<float> products(64, -1.0f);
    kernels::parallel_for(0, 64, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        volatile float tiny = 1e-30f, scale = 1e-10f;
        modes[i] = kernels::denormal_mode();
        products[i] = tiny * scale;  // 1e-40: a denormal
      }
    });
    kernels::set_denormal_mode(saved);
    for (int i = 0; i < 64; ++i) {
      EXPECT_EQ(modes[i], mode) << "chunk " << i;
      if (mode)
        EXPECT_EQ(products[i], 0.0f) << "chunk " << i;
      else
        EXPECT_GT(products[i], 0.0f) << "chunk " << i;
    }
  }
  at::set_num_threads(threads_before);
}
#endif
