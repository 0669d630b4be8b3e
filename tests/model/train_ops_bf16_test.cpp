// The bf16 training linear layer (oneDNN bf16 matmuls, fp32 in and out) against autograd on the
// same inputs rounded to bf16, its per-step weight cache, and a tiny Transformer trained through
// the Trainer in bf16 mode (fused bf16 linears) beside the autocast path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/train_ops.h"
#include "kernels/train_ops_bf16.h"
#include "kernels/train_vec.h"
#include "rlhf/data/lm_batch.h"
#include "rlhf/model/transformer.h"
#include "rlhf/train/lm_loss.h"
#include "rlhf/train/optim.h"
#include "rlhf/train/trainer.h"

using namespace rlhf;

namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }
double max_abs(const torch::Tensor& a) { return a.abs().max().item<double>(); }
torch::Tensor round_bf16(const torch::Tensor& t) { return t.detach().to(torch::kBFloat16).to(torch::kFloat); }

// Products of bf16 values are exact in fp32, so ours and the reference differ only by the order of
// fp32 accumulation: relative to the largest value, a few float ulps times sqrt(K).
constexpr double kAccumTol = 2e-5;
// Rounding the operands to bf16 (8 significant bits) moves results by ~1e-3 relative: the
// distance to the unrounded fp32 product must be well above kAccumTol, or no bf16 ran.
constexpr double kBf16Gap = 1e-4;

struct LinearCase {
  std::vector<int64_t> x_shape;  // (..., K)
  int64_t N;
  bool bias;
};

void check_linear(const LinearCase& c) {
  torch::manual_seed(1);
  const int64_t K = c.x_shape.back();
  auto x = torch::randn(c.x_shape, torch::requires_grad());
  auto w = torch::randn({c.N, K}, torch::requires_grad());
  auto b = c.bias ? torch::randn({c.N}, torch::requires_grad()) : torch::Tensor();
  auto out_shape = c.x_shape;
  out_shape.back() = c.N;
  auto gout = torch::randn(out_shape);

  kernels::clear_bf16_weight_cache();
  auto y = kernels::train_linear_bf16(x, w, b);
  ASSERT_EQ(y.scalar_type(), torch::kFloat);
  ASSERT_EQ(y.sizes(), torch::IntArrayRef(out_shape));
  std::vector<torch::Tensor> inputs = {x, w};
  if (c.bias) inputs.push_back(b);
  auto g = torch::autograd::grad({y}, inputs, {gout});

  // Reference: autograd through fp32 ops on the bf16-rounded x and w, with the output gradient
  // rounded too (the backward products take it in bf16). The bias gradient is a plain fp32 sum.
  auto xr = round_bf16(x).requires_grad_(), wr = round_bf16(w).requires_grad_();
  auto yr = torch::matmul(xr, wr.t());
  if (c.bias) yr = yr + b.detach();
  auto gr = torch::autograd::grad({yr}, {xr, wr}, {round_bf16(gout)});
  EXPECT_LT(max_diff(y, yr), kAccumTol * max_abs(yr));
  EXPECT_LT(max_diff(g[0], gr[0]), kAccumTol * max_abs(gr[0])) << "input gradient";
  EXPECT_LT(max_diff(g[1], gr[1]), kAccumTol * max_abs(gr[1])) << "weight gradient";
  EXPECT_EQ(g[1].scalar_type(), torch::kFloat);
  if (c.bias) {
    auto gb = gout.reshape({-1, c.N}).sum(0);
    EXPECT_LT(max_diff(g[2], gb), 1e-5 * max_abs(gb)) << "bias gradient";
  }

  // The unrounded fp32 computation is measurably different: the products really ran in bf16.
  auto y32 = torch::matmul(x.detach(), w.detach().t());
  if (c.bias) y32 = y32 + b.detach();
  EXPECT_GT(max_diff(y, y32), kBf16Gap * max_abs(y32));
}

ModelConfig tiny_gpt2() {
  ModelConfig c;
  c.arch = "gpt2";
  c.vocab_size = 61;
  c.n_layer = 2;
  c.n_head = 4;
  c.d_model = 32;
  c.max_seq = 32;
  return c;
}

ModelConfig tiny_llama() {  // RoPE, RMSNorm, SwiGLU, grouped kv heads, no biases, untied head
  ModelConfig c = tiny_gpt2();
  c.arch = "llama";
  c.n_kv_head = 2;
  c.d_ff = 48;
  c.bias = false;
  c.tie_embeddings = false;
  return c;
}

data::LmBatch fixed_batch(int64_t V) {
  torch::manual_seed(21);
  auto x = torch::randint(V, {4, 16}, torch::kLong);
  auto y = torch::randint(V, {4, 16}, torch::kLong);
  return data::LmBatch{x, torch::ones_like(x), y};
}

struct Run {
  std::vector<double> losses;
  std::vector<torch::ScalarType> param_dtypes;
  torch::ScalarType logits_dtype = torch::kFloat;
  torch::ScalarType matmul_dtype = torch::kFloat;
  bool autocast_in_model = true;
  size_t cached_weights = 0;        // bf16 weight copies right after the first forward
  size_t cached_after_step = 99;    // and after the first optimizer step
};

// `steps` Trainer steps on one fixed batch of a fresh tiny GPT-2 (same seed every run).
Run train_tiny(const std::string& dtype, bool fused, int steps, const ModelConfig& cfg = tiny_gpt2()) {
  kernels::set_train_ops_enabled(fused);
  kernels::clear_bf16_weight_cache();
  torch::manual_seed(4);
  Transformer model(cfg);
  TrainConfig tc;
  tc.lr = 3e-3;
  tc.warmup_steps = 0;
  tc.steps = steps;
  tc.dtype = dtype;
  Trainer trainer(named_params(*model), tc);
  auto batch = fixed_batch(cfg.vocab_size);
  Run r;
  for (int s = 0; s < steps; ++s) {
    auto st = trainer.step([&](int64_t) {
      auto logits = model->forward(batch.input_ids);
      if (s == 0) {
        r.logits_dtype = logits.scalar_type();
        r.matmul_dtype = kernels::train_matmul_dtype();
        r.cached_weights = kernels::bf16_weight_cache_size();
      }
      return lm_loss_sum(logits, batch);
    });
    if (s == 0) r.cached_after_step = kernels::bf16_weight_cache_size();
    r.losses.push_back(st.loss);
  }
  for (auto& p : model->parameters()) r.param_dtypes.push_back(p.scalar_type());
  kernels::set_train_ops_enabled(true);
  return r;
}

// PPO recomputes the old policy's log-probs without gradients under bf16 training: they must be
// exactly the training forward's, so the importance ratio starts at 1.
void check_nograd_forward(const ModelConfig& cfg) {
  SCOPED_TRACE(cfg.arch);
  torch::manual_seed(8);
  Transformer model(cfg);
  auto toks = torch::randint(61, {2, 11}, torch::kLong);
  AutocastGuard cast(true);
  auto train = model->forward(toks);
  torch::Tensor nograd;
  {
    torch::NoGradGuard ng;
    nograd = model->forward(toks);
  }
  EXPECT_EQ(train.scalar_type(), torch::kFloat);
  EXPECT_EQ(max_diff(train.detach(), nograd), 0.0);
  // And it is the bf16 computation, not the fp32 one.
  kernels::TrainMatmulDtypeGuard fp32(torch::kFloat);
  at::autocast::set_cpu_enabled(false);
  torch::Tensor ref;
  {
    torch::NoGradGuard ng;
    ref = model->forward(toks);
  }
  at::autocast::set_cpu_enabled(true);
  EXPECT_GT(max_diff(ref, nograd), 1e-5);
  EXPECT_LT(max_diff(ref, nograd), 0.05 * (1 + max_abs(ref)));
}

}  // namespace

TEST(TrainOpsBf16, LinearWithBias2d) { check_linear({{37, 70}, 33, true}); }
TEST(TrainOpsBf16, LinearWithoutBias2d) { check_linear({{37, 70}, 33, false}); }
TEST(TrainOpsBf16, LinearWithBias3d) { check_linear({{3, 13, 70}, 33, true}); }
TEST(TrainOpsBf16, LinearWithoutBias3dWide) { check_linear({{2, 19, 129}, 257, false}); }
// A vocabulary-sized output (N >= 16 K and >= 16384): the weight gradient is computed as
// x^T gy and transposed in 64 column ranges (a partial 16-column block at the end: 16411 = 16 *
// 1025 + 11).
TEST(TrainOpsBf16, LinearVocabularySizedWeightGradient) { check_linear({{3, 7, 40}, 16411, false}); }

// The blocked transpose against .t() on sizes with partial tiles in both directions and strides.
TEST(TrainOpsBf16, TransposeMatchesLibtorch) {
  for (auto [r, c] : {std::pair<int64_t, int64_t>{1, 1}, {16, 16}, {17, 33}, {40, 7}, {5, 100}}) {
    auto src = torch::randn({r, c + 3});
    auto dst = torch::full({c, r + 2}, 7.0f);
    kernels::transpose(src.data_ptr<float>(), c + 3, r, c, dst.data_ptr<float>(), r + 2);
    EXPECT_TRUE(dst.narrow(1, 0, r).equal(src.narrow(1, 0, c).t())) << r << "x" << c;
    EXPECT_TRUE(dst.narrow(1, r, 2).eq(7.0f).all().item<bool>()) << "wrote past its rows";
  }
}

// The fused GPT-2 MLP against the same chain written with explicit bf16 roundings where the Function
// rounds: x and the weights (operands), the pre-activation and the activation's gradient (bf16
// product outputs), the activation (the down-projection's operand), gy and the pre-activation's
// gradient (operands of the backward products). GELU and its derivative by autograd in fp32.
TEST(TrainOpsBf16, MlpGeluMatchesAutogradOnRoundedInputs) {
  for (bool bias : {true, false}) {
    torch::manual_seed(12);
    const int64_t C = 40, F = 72;
    auto x = torch::randn({3, 13, C}, torch::requires_grad());
    auto wu = (torch::randn({F, C}) * 0.3).requires_grad_(), wd = (torch::randn({C, F}) * 0.3).requires_grad_();
    auto bu = bias ? torch::randn({F}, torch::requires_grad()) : torch::Tensor();
    auto bd = bias ? torch::randn({C}, torch::requires_grad()) : torch::Tensor();
    auto gy = torch::randn({3, 13, C});
    auto y = kernels::train_mlp_gelu_bf16(x, wu, bu, wd, bd);
    ASSERT_EQ(y.sizes(), x.sizes());
    std::vector<torch::Tensor> inputs = {x, wu, wd};
    if (bias) inputs.push_back(bu), inputs.push_back(bd);
    auto g = torch::autograd::grad({y}, inputs, {gy});

    auto xr = round_bf16(x).reshape({-1, C}), wur = round_bf16(wu), wdr = round_bf16(wd);
    auto u = xr.mm(wur.t());
    if (bias) u = u + bu.detach();
    auto ur = round_bf16(u).requires_grad_();
    auto a = torch::gelu(ur, "tanh");
    auto ar = round_bf16(a);
    auto yr = ar.mm(wdr.t());
    if (bias) yr = yr + bd.detach();
    auto gyr = round_bf16(gy).reshape({-1, C});
    auto ga = round_bf16(gyr.mm(wdr));
    auto gu = torch::autograd::grad({a}, {ur}, {ga})[0];
    auto gur = round_bf16(gu);
    // One bf16 rounding of u or ga may land on the other side in a different accumulation order:
    // a few 1e-3 of the largest value.
    EXPECT_LT(max_diff(y.reshape({-1, C}), yr), 5e-3 * max_abs(yr)) << "bias " << bias;
    auto gx = gur.mm(wur), gwu = gur.t().mm(xr), gwd = gyr.t().mm(ar);
    EXPECT_LT(max_diff(g[0].reshape({-1, C}), gx), 5e-3 * max_abs(gx)) << "input gradient, bias " << bias;
    EXPECT_LT(max_diff(g[1], gwu), 5e-3 * max_abs(gwu)) << "up weight gradient, bias " << bias;
    EXPECT_LT(max_diff(g[2], gwd), 5e-3 * max_abs(gwd)) << "down weight gradient, bias " << bias;
    if (bias) {
      EXPECT_LT(max_diff(g[3], gu.sum(0)), 5e-3 * max_abs(gu.sum(0))) << "up bias gradient";
      EXPECT_LT(max_diff(g[4], gy.reshape({-1, C}).sum(0)), 1e-5 * max_abs(gy.reshape({-1, C}).sum(0))) << "down bias gradient";
    }
    // Not the unrounded fp32 computation.
    auto u32 = x.detach().reshape({-1, C}).mm(wu.detach().t());
    if (bias) u32 = u32 + bu.detach();
    auto y32 = torch::gelu(u32, "tanh").mm(wd.detach().t());
    if (bias) y32 = y32 + bd.detach();
    EXPECT_GT(max_diff(y.reshape({-1, C}), y32), kBf16Gap * max_abs(y32));
  }
}

TEST(TrainOpsBf16, MlpGeluChecksItsShapes) {
  auto x = torch::randn({4, 8});
  EXPECT_THROW(kernels::train_mlp_gelu_bf16(x, torch::randn({16, 8}), {}, torch::randn({8, 15}), {}), std::exception);
  EXPECT_THROW(kernels::train_mlp_gelu_bf16(x, torch::randn({16, 7}), {}, torch::randn({8, 16}), {}), std::exception);
  EXPECT_THROW(kernels::train_mlp_gelu_bf16(x, torch::randn({16, 8}), torch::randn({15}), torch::randn({8, 16}), {}),
               std::exception);
}

TEST(TrainOpsBf16, LinearTakesAStridedInputAndAFrozenOne) {
  torch::manual_seed(2);
  auto base = torch::randn({70, 37}, torch::requires_grad());
  auto x = base.t();  // (37, 70), not contiguous
  auto w = torch::randn({33, 70}, torch::requires_grad());
  auto y = kernels::train_linear_bf16(x, w, {});
  auto yr = torch::matmul(round_bf16(x), round_bf16(w).t());
  EXPECT_LT(max_diff(y, yr), kAccumTol * max_abs(yr));
  auto gx = torch::autograd::grad({y.sum()}, {base})[0];
  EXPECT_EQ(gx.sizes(), base.sizes());
  auto gxr = torch::ones({37, 33}).mm(round_bf16(w)).t();
  EXPECT_LT(max_diff(gx, gxr), kAccumTol * max_abs(gxr));
  // A frozen input: only the weight gets a gradient.
  auto xf = torch::randn({5, 70});
  auto g = torch::autograd::grad({kernels::train_linear_bf16(xf, w, {}).sum()}, {w})[0];
  auto gr = torch::ones({33, 5}).mm(round_bf16(xf));
  EXPECT_LT(max_diff(g, gr), kAccumTol * max_abs(gr));
}

TEST(TrainOpsBf16, LinearRunsFromSeveralThreadsAtOnce) {
  // Cached primitives are shared between threads; each call brings its own scratchpad and stream.
  torch::manual_seed(9);
  auto x = torch::randn({64, 48});
  auto w = torch::randn({40, 48});
  auto yr = torch::matmul(round_bf16(x), round_bf16(w).t());
  std::vector<double> worst(4, 0.0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) worst[t] = std::max(worst[t], max_diff(kernels::train_linear_bf16(x, w, {}), yr));
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_LT(worst[t], kAccumTol * max_abs(yr)) << "thread " << t;
}

TEST(TrainOpsBf16, RejectsMismatchedShapesAndDtypes) {
  auto w = torch::randn({4, 6});
  EXPECT_THROW(kernels::train_linear_bf16(torch::randn({3, 5}), w, {}), Error);
  EXPECT_THROW(kernels::train_linear_bf16(torch::randn({3, 6}), w, torch::randn({5})), Error);
  EXPECT_THROW(kernels::train_linear_bf16(torch::randn({3, 6}).to(torch::kBFloat16), w, {}), Error);
}

TEST(TrainOpsBf16, WeightCacheFollowsInPlaceUpdates) {
  torch::manual_seed(3);
  kernels::clear_bf16_weight_cache();
  auto x = torch::randn({9, 16});
  auto w = torch::randn({7, 16}, torch::requires_grad());
  auto fresh_ref = [&] { return torch::matmul(round_bf16(x), round_bf16(w).t()); };
  torch::Tensor y1;
  {
    kernels::TrainMatmulDtypeGuard bf16(torch::kBFloat16);
    y1 = kernels::train_linear_bf16(x, w, {});
    EXPECT_EQ(kernels::bf16_weight_cache_size(), 1u);
    kernels::train_linear_bf16(x, w, {});  // the same weight again: the copy is reused
    EXPECT_EQ(kernels::bf16_weight_cache_size(), 1u);
  }
  EXPECT_EQ(kernels::bf16_weight_cache_size(), 0u);  // dropped with the region

  // libtorch's SGD updates the weight in place through .data(), which leaves the version counter
  // alone: the next region must still see the new values.
  w.mutable_grad() = torch::ones_like(w);
  torch::optim::SGD sgd({w}, torch::optim::SGDOptions(0.5));
  sgd.step();
  {
    kernels::TrainMatmulDtypeGuard bf16(torch::kBFloat16);
    auto y2 = kernels::train_linear_bf16(x, w, {});
    EXPECT_LT(max_diff(y2, fresh_ref()), kAccumTol * max_abs(y2));
    EXPECT_GT(max_diff(y1, y2), 1.0);  // each output moved by 0.5 * sum(x row): a stale copy fails

    // An in-place op on the weight inside the region bumps its version: the copy is refreshed.
    {
      torch::NoGradGuard ng;
      w.mul_(-2.0);
    }
    auto y3 = kernels::train_linear_bf16(x, w, {});
    EXPECT_LT(max_diff(y3, fresh_ref()), kAccumTol * max_abs(y3));
    EXPECT_GT(max_diff(y2, y3), 1.0);

    // A raw-memory write inside the region needs an explicit clear.
    std::memcpy(w.data_ptr<float>(), torch::randn({7, 16}).data_ptr<float>(), sizeof(float) * 7 * 16);
    kernels::clear_bf16_weight_cache();
    auto y4 = kernels::train_linear_bf16(x, w, {});
    EXPECT_LT(max_diff(y4, fresh_ref()), kAccumTol * max_abs(y4));
  }
}

// A frozen weight (PPO's reference and reward models) keeps its bf16 copy across regions and
// outside them; an in-place update or a new storage still refreshes it.
TEST(TrainOpsBf16, FrozenWeightsKeepTheirCopyAcrossRegions) {
  torch::manual_seed(8);
  kernels::clear_bf16_weight_cache();
  auto x = torch::randn({5, 16});
  auto w = torch::randn({6, 16});  // requires_grad false
  auto ref = [&] { return torch::matmul(round_bf16(x), round_bf16(w).t()); };
  const int64_t made = kernels::bf16_weight_copies_made();
  for (int region = 0; region < 3; ++region) {
    kernels::TrainMatmulDtypeGuard bf16(torch::kBFloat16);
    auto y = kernels::train_linear_bf16(x, w, {});
    EXPECT_LT(max_diff(y, ref()), kAccumTol * max_abs(y));
  }
  kernels::train_linear_bf16(x, w, {});  // no region
  EXPECT_EQ(kernels::bf16_weight_copies_made() - made, 1);
  EXPECT_EQ(kernels::bf16_frozen_cache_size(), 1u);
  EXPECT_EQ(kernels::bf16_weight_cache_size(), 0u);
  {
    torch::NoGradGuard ng;
    w.mul_(3.0);  // bumps the version
  }
  auto y2 = kernels::train_linear_bf16(x, w, {});
  EXPECT_LT(max_diff(y2, ref()), kAccumTol * max_abs(y2));
  EXPECT_EQ(kernels::bf16_weight_copies_made() - made, 2);
  w.set_data(torch::randn({6, 16}));  // new storage
  auto y3 = kernels::train_linear_bf16(x, w, {});
  EXPECT_LT(max_diff(y3, ref()), kAccumTol * max_abs(y3));
  EXPECT_EQ(kernels::bf16_weight_copies_made() - made, 3);
  kernels::clear_bf16_weight_cache();
  EXPECT_EQ(kernels::bf16_frozen_cache_size(), 0u);
}

TEST(TrainOpsBf16, TrainerConvertsEachWeightOncePerStep) {
  // Two micro-batches per step share the bf16 copy made by the first; the next step (after the
  // optimizer's update) makes a new one from the updated weight.
  kernels::set_train_ops_enabled(true);
  torch::manual_seed(6);
  auto w = torch::randn({5, 8}, torch::requires_grad());
  TrainConfig tc;
  tc.dtype = "bf16";
  tc.grad_accum = 2;
  tc.steps = 2;
  tc.lr = 0.1;
  tc.warmup_steps = 0;
  tc.weight_decay = 0;
  Trainer trainer({{"w", w}}, tc);
  auto x = torch::randn({3, 8});
  for (int s = 0; s < 2; ++s) {
    const int64_t made = kernels::bf16_weight_copies_made();
    trainer.step([&](int64_t) {
      auto y = kernels::train_linear_bf16(x, w, {});
      at::autocast::set_cpu_enabled(false);  // the Trainer's region has autocast on; the reference is fp32
      auto ref = torch::matmul(round_bf16(x), round_bf16(w).t());
      at::autocast::set_cpu_enabled(true);
      EXPECT_LT(max_diff(y, ref), kAccumTol * max_abs(ref));  // the current weight, not last step's
      EXPECT_EQ(kernels::bf16_weight_cache_size(), 1u);
      MicroLoss ml;
      ml.sum = y.pow(2).sum();
      ml.count = 1;
      return ml;
    });
    EXPECT_EQ(kernels::bf16_weight_copies_made() - made, 1) << "step " << s;
    EXPECT_EQ(kernels::bf16_weight_cache_size(), 0u);
  }
}

TEST(TrainOpsBf16, WeightCacheDropsDeadWeights) {
  kernels::TrainMatmulDtypeGuard bf16(torch::kBFloat16);
  auto x = torch::randn({3, 8});
  for (int i = 0; i < 4; ++i) {
    auto w = torch::full({5, 8}, static_cast<float>(i));  // a new tensor each time, maybe at a reused address
    auto y = kernels::train_linear_bf16(x, w, {});
    auto yr = torch::matmul(round_bf16(x), round_bf16(w).t());
    EXPECT_LT(max_diff(y, yr), 1e-4 * (1 + max_abs(yr))) << "weight " << i;
  }
  EXPECT_LE(kernels::bf16_weight_cache_size(), 1u);  // expired entries are swept on insertion
}

TEST(TrainOpsBf16, GuardSetsAndRestoresTheMatmulDtype) {
  EXPECT_EQ(kernels::train_matmul_dtype(), torch::kFloat);
  {
    kernels::TrainMatmulDtypeGuard g(torch::kBFloat16);
    EXPECT_EQ(kernels::train_matmul_dtype(), torch::kBFloat16);
    {
      kernels::TrainMatmulDtypeGuard inner(torch::kFloat);
      EXPECT_EQ(kernels::train_matmul_dtype(), torch::kFloat);
    }
    EXPECT_EQ(kernels::train_matmul_dtype(), torch::kBFloat16);
  }
  EXPECT_EQ(kernels::train_matmul_dtype(), torch::kFloat);
  EXPECT_THROW({ kernels::TrainMatmulDtypeGuard half(torch::kHalf); }, Error);
}

TEST(TrainOpsBf16, TransformerNoGradForwardEqualsTheTrainingForward) {
  check_nograd_forward(tiny_gpt2());
  check_nograd_forward(tiny_llama());
}

TEST(TrainOpsBf16, TinyModelTrainsInBf16ModeLikeAutocast) {
  const int steps = 8;
  auto fused = train_tiny("bf16", true, steps);
  // The fused bf16 path ran: the Trainer set the matmul dtype, every linear layer's weight (four
  // per block and the tied LM head) got a bf16 copy, and logits stayed fp32 (autocast's are bf16).
  EXPECT_EQ(fused.matmul_dtype, torch::kBFloat16);
  EXPECT_EQ(fused.cached_weights, static_cast<size_t>(2 * 4 + 1));
  EXPECT_EQ(fused.cached_after_step, 0u);  // dropped after the optimizer step
  EXPECT_EQ(fused.logits_dtype, torch::kFloat);
  for (auto dt : fused.param_dtypes) EXPECT_EQ(dt, torch::kFloat);  // fp32 master weights
  EXPECT_LT(fused.losses.back(), fused.losses.front() - 0.2);        // it learns the batch

  auto autocast = train_tiny("bf16", false, steps);
  EXPECT_EQ(autocast.matmul_dtype, torch::kFloat);
  EXPECT_EQ(autocast.cached_weights, 0u);
  EXPECT_EQ(autocast.logits_dtype, torch::kBFloat16);
  auto fp32 = train_tiny("fp32", true, steps);
  for (int s = 0; s < steps; ++s) {
    EXPECT_NEAR(fused.losses[s], autocast.losses[s], 0.02 * autocast.losses[s]) << "step " << s;
    EXPECT_NEAR(fused.losses[s], fp32.losses[s], 0.02 * fp32.losses[s]) << "step " << s;
  }
  EXPECT_NE(fused.losses.back(), fp32.losses.back());  // bf16 rounding shows
}

TEST(TrainOpsBf16, TinyLlamaTrainsInBf16ModeLikeFp32) {
  const int steps = 6;
  auto bf16 = train_tiny("bf16", true, steps, tiny_llama());
  auto fp32 = train_tiny("fp32", true, steps, tiny_llama());
  EXPECT_EQ(bf16.cached_weights, static_cast<size_t>(2 * 4 + 1));  // qkv, out, up, down per block; head
  EXPECT_LT(bf16.losses.back(), bf16.losses.front() - 0.2);
  for (int s = 0; s < steps; ++s) EXPECT_NEAR(bf16.losses[s], fp32.losses[s], 0.02 * fp32.losses[s]) << "step " << s;
}
