// The shared training loop: schedule, param groups, clipping, accumulation equivalence, NaN stop,
// bf16 autocast, config validation.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/train/config.h"
#include "rlhf/train/optim.h"
#include "rlhf/train/trainer.h"
#include "rlhf/util/flags.h"
#include "train/test_util.h"

using namespace rlhf;
using rlhf::testing::ToyLm;

TEST(Schedule, WarmupThenCosineToFloor) {
  TrainConfig c;
  c.lr = 1.0;
  c.steps = 11;
  c.warmup_steps = 2;
  c.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(lr_at(c, 0), 0.5);  // (0+1)/2
  EXPECT_DOUBLE_EQ(lr_at(c, 1), 1.0);  // peak at the end of warmup
  EXPECT_DOUBLE_EQ(lr_at(c, 2), 1.0);  // cosine starts at the peak
  // Midpoint of the 8 decay intervals (step 6): floor + (1-floor)/2 = 0.55.
  EXPECT_NEAR(lr_at(c, 6), 0.55, 1e-12);
  EXPECT_NEAR(lr_at(c, 10), 0.1, 1e-12);  // last step at the floor
  c.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(lr_at(c, 0), 1.0);
}

TEST(ParamGroups, NormsAndBiasesGetNoDecay) {
  ToyLm m(10, 4);
  auto g = split_param_groups(named_params(*m));
  std::set<std::string> decay(g.decay_names.begin(), g.decay_names.end());
  std::set<std::string> none(g.no_decay_names.begin(), g.no_decay_names.end());
  EXPECT_EQ(decay, (std::set<std::string>{"emb.weight", "fc.weight", "head.weight"}));
  EXPECT_EQ(none, (std::set<std::string>{"fc.bias", "ln.weight", "ln.bias", "head.bias"}));
  TrainConfig c;
  c.weight_decay = 0.3;
  auto opt = make_adamw(g, c);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  auto wd = [&](size_t i) {
    return static_cast<torch::optim::AdamWOptions&>(opt->param_groups()[i].options()).weight_decay();
  };
  EXPECT_DOUBLE_EQ(wd(0), 0.3);
  EXPECT_DOUBLE_EQ(wd(1), 0.0);
}

// The fused AdamW pass against torch::optim::AdamW::step on the same gradients: both parameter
// groups (with and without weight decay), several steps (bias correction changes), a gradient
// scale, and the state it leaves behind (the same entries torch's step would continue from).
TEST(FusedAdamW, MatchesTorchAdamW) {
  torch::manual_seed(8);
  auto make = [] {
    std::vector<torch::Tensor> ps = {torch::randn({33, 7}), torch::randn({19})};
    for (auto& p : ps) p.set_requires_grad(true);
    return ps;
  };
  auto a = make(), b = make();
  for (size_t i = 0; i < a.size(); ++i) {
    torch::NoGradGuard ng;
    b[i].copy_(a[i]);
  }
  TrainConfig c;
  c.lr = 0.01;
  c.weight_decay = 0.1;
  ParamGroups ga{{a[0]}, {a[1]}, {"w"}, {"b"}}, gb{{b[0]}, {b[1]}, {"w"}, {"b"}};
  auto oa = make_adamw(ga, c), ob = make_adamw(gb, c);
  const double scale = 0.25;
  for (int step = 0; step < 4; ++step) {
    for (size_t i = 0; i < a.size(); ++i) {
      auto g = torch::randn(a[i].sizes());
      a[i].mutable_grad() = g.clone();
      b[i].mutable_grad() = g * scale;
    }
    adamw_step(*oa, scale);
    ob->step();
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_LT((a[i] - b[i]).abs().max().item<double>(), 1e-6) << "step " << step << " param " << i;
      EXPECT_LT((a[i].grad() * scale - b[i].grad()).abs().max().item<double>(), 1e-7);  // read, not scaled
    }
  }
  // Then torch's own step continues from the fused pass's state exactly as from its own.
  for (size_t i = 0; i < a.size(); ++i) {
    auto g = torch::randn(a[i].sizes());
    a[i].mutable_grad() = g.clone();
    b[i].mutable_grad() = g.clone();
  }
  oa->step();
  ob->step();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LT((a[i] - b[i]).abs().max().item<double>(), 1e-6);
  // Weight decay moved the decayed parameter and not the other: a zero gradient changes only group 0.
  auto w0 = a[0].detach().clone(), b0 = a[1].detach().clone();
  for (auto& p : a) p.mutable_grad() = torch::zeros_like(p);
  auto fresh = make_adamw(ga, c);
  adamw_step(*fresh, 1.0);
  EXPECT_TRUE(torch::allclose(a[0], w0 * (1 - 0.01 * 0.1)));
  EXPECT_TRUE(torch::equal(a[1], b0));
}

TEST(ParamGroups, FrozenParametersAreLeftOut) {
  ToyLm m(10, 4);
  m->emb->weight.set_requires_grad(false);
  auto g = split_param_groups(named_params(*m));
  EXPECT_EQ(std::count(g.decay_names.begin(), g.decay_names.end(), "emb.weight"), 0);
}

TEST(Clip, ScalesToTheMaxNorm) {
  auto a = torch::zeros({2}, torch::requires_grad());
  auto b = torch::zeros({1}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  double n = clip_grad_norm({a, b}, 1.0);
  EXPECT_NEAR(n, 5.0, 1e-6);
  EXPECT_NEAR(a.grad()[0].item<double>(), 0.6, 1e-5);
  EXPECT_NEAR(b.grad()[0].item<double>(), 0.8, 1e-5);
  // Below the threshold: untouched.
  n = clip_grad_norm({a, b}, 10.0);
  EXPECT_NEAR(n, 1.0, 1e-5);
  EXPECT_NEAR(b.grad()[0].item<double>(), 0.8, 1e-5);
}

// The fused norm (one pass over chunks of contiguous fp32 gradients) against a double-precision
// sum of squares, across chunk boundaries (200k values = 4 chunks), tails that are not a multiple
// of 16, a non-contiguous gradient and a double one (the per-tensor fallback), and parameters
// without a gradient.
TEST(Clip, GradNormOverChunksAndFallbacks) {
  torch::manual_seed(5);
  std::vector<torch::Tensor> params;
  for (int64_t n : {200003, 17, 1, 65536}) {
    auto p = torch::zeros({n}, torch::requires_grad());
    p.mutable_grad() = torch::randn({n}) * 3;
    params.push_back(p);
  }
  auto strided = torch::zeros({40, 30}, torch::requires_grad());
  strided.mutable_grad() = torch::randn({30, 40}).t();  // not contiguous
  params.push_back(strided);
  auto dbl = torch::zeros({7}, torch::TensorOptions().dtype(torch::kDouble).requires_grad(true));
  dbl.mutable_grad() = torch::randn({7}, torch::kDouble);
  params.push_back(dbl);
  params.push_back(torch::zeros({5}, torch::requires_grad()));  // no gradient
  double want = 0;
  for (const auto& p : params)
    if (p.grad().defined()) want += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
  want = std::sqrt(want);
  const double got = grad_norm(params);
  EXPECT_NEAR(got, want, 1e-6 * want);
  EXPECT_GT(want, 700.0);  // the 4 chunks all count: sqrt(9 * 265k) ~ 1545
}

// One run of `steps` optimizer steps over the toy data with the given micro-batch size and
// accumulation; returns the final flat parameters.
static torch::Tensor train_toy(int64_t batch, int64_t accum, int64_t steps, const std::string& dtype = "fp32") {
  torch::manual_seed(3);
  ToyLm m(16, 8);
  auto data = rlhf::testing::toy_examples(64, 16);
  TrainConfig c;
  c.batch_size = batch;
  c.grad_accum = accum;
  c.steps = steps;
  c.lr = 1e-2;
  c.warmup_steps = 1;
  c.grad_clip = 0.5;  // exercised: clipping must see the accumulated gradient, not a micro-batch's
  c.dtype = dtype;
  Trainer tr(named_params(*m), c);
  data::EpochSampler sampler(static_cast<int64_t>(data.size()), c.seed);
  for (int64_t s = 0; s < steps; ++s) {
    tr.step([&](int64_t) {
      auto idx = sampler.next_batch(c.batch_size, tr.state().epoch, tr.state().position);
      std::vector<const data::TokenizedExample*> rows;
      for (auto i : idx) rows.push_back(&data[static_cast<size_t>(i)]);
      auto b = data::collate_padded(rows, 0);
      return lm_loss_sum(m->forward(b.input_ids), b);
    });
  }
  return rlhf::testing::flat_params(*m);
}

TEST(Accumulation, Batch8EqualsBatch1Times8) {
  auto a = train_toy(8, 1, 3);
  auto b = train_toy(1, 8, 3);
  auto c = train_toy(2, 4, 3);
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-5);
  EXPECT_LT((a - c).abs().max().item<double>(), 1e-5);
  // And the run moved: the comparison is not between two untouched models.
  torch::manual_seed(3);
  ToyLm fresh(16, 8);
  EXPECT_GT((a - rlhf::testing::flat_params(*fresh)).abs().max().item<double>(), 1e-3);
}

TEST(Accumulation, Bf16AutocastKeepsFp32MasterWeights) {
  torch::manual_seed(3);
  ToyLm m(16, 8);
  TrainConfig c;
  c.dtype = "bf16";
  c.steps = 2;
  Trainer tr(named_params(*m), c);
  auto data = rlhf::testing::toy_examples(8, 16);
  std::vector<const data::TokenizedExample*> rows;
  for (auto& e : data) rows.push_back(&e);
  auto b = data::collate_padded(rows, 0);
  torch::ScalarType seen = torch::kFloat32;
  auto st = tr.step([&](int64_t) {
    auto logits = m->forward(b.input_ids);
    seen = logits.scalar_type();
    return lm_loss_sum(logits, b);
  });
  EXPECT_EQ(seen, torch::kBFloat16);  // the matmuls ran in bf16
  for (auto& p : m->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(std::isfinite(st.loss));
  // bf16 and fp32 runs agree to bf16 precision.
  auto f32 = train_toy(8, 1, 2, "fp32");
  auto bf = train_toy(8, 1, 2, "bf16");
  EXPECT_LT((f32 - bf).abs().max().item<double>(), 5e-2);
  EXPECT_GT((f32 - bf).abs().max().item<double>(), 0.0);
}

TEST(NonFinite, NanLossStopsNamingTheStepWithoutUpdating) {
  torch::manual_seed(1);
  ToyLm m(16, 8);
  TrainConfig c;
  c.steps = 5;
  Trainer tr(named_params(*m), c);
  auto x = torch::randint(0, 16, {2, 3});
  auto ok = [&](int64_t) {
    MicroLoss l;
    l.sum = m->forward(x).pow(2).sum();
    l.count = 6;
    return l;
  };
  tr.step(ok);
  tr.step(ok);
  auto before = rlhf::testing::flat_params(*m);
  try {
    tr.step([&](int64_t) {
      MicroLoss l = ok(0);
      l.sum = l.sum * std::nan("");
      return l;
    });
    FAIL() << "expected NonFiniteError";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.step(), 3);
    EXPECT_NE(std::string(e.what()).find("step 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nan"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(torch::equal(before, rlhf::testing::flat_params(*m)));
  EXPECT_EQ(tr.state().step, 2);
}

TEST(NonFinite, InfGradientStops) {
  auto w = torch::ones({2}, torch::requires_grad());
  TrainConfig c;
  Trainer tr({{"w", w}}, c);
  try {
    tr.step([&](int64_t) {
      MicroLoss l;
      // Finite loss (0 * inf would be nan; use a finite value whose gradient overflows): sqrt at 0.
      l.sum = torch::sqrt(w - 1.0).sum();
      l.count = 1;
      return l;
    });
    FAIL() << "expected NonFiniteError";
  } catch (const NonFiniteError& e) {
    EXPECT_NE(std::string(e.what()).find("gradient norm"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(torch::equal(w.detach(), torch::ones({2})));
}

TEST(Config, OutOfRangeValuesNameTheKeyAndTheRange) {
  TrainConfig c;
  c.lr = -1;
  try {
    c.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--lr"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("(0, 1]"), std::string::npos);
  }
  c = TrainConfig{};
  c.dtype = "fp16";
  EXPECT_THROW(c.validate(), Error);
  c = TrainConfig{};
  c.grad_accum = 0;
  try {
    c.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--grad-accum"), std::string::npos);
  }
}

TEST(Config, FlagsAndConfigFileMapOntoTrainConfig) {
  auto dir = rlhf::testing::temp_dir("cfg");
  std::string path = dir + "/c.json";
  std::ofstream(path) << R"({"lr": 0.001, "grad_accum": 4, "dtype": "bf16"})";
  Flags f("x", "test");
  add_train_flags(f);
  ASSERT_TRUE(f.parse(std::vector<std::string>{"--config", path, "--steps", "7"}));
  TrainConfig c = train_config_from_flags(f);
  EXPECT_DOUBLE_EQ(c.lr, 0.001);
  EXPECT_EQ(c.grad_accum, 4);
  EXPECT_EQ(c.dtype, "bf16");
  EXPECT_EQ(c.steps, 7);
  // A typo in the config file names the key.
  std::ofstream(path) << R"({"learning_rate": 0.001})";
  Flags g("x", "test");
  add_train_flags(g);
  try {
    g.parse(std::vector<std::string>{"--config", path});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("learning_rate"), std::string::npos) << e.what();
  }
  // An out-of-range value from the command line names the flag.
  Flags h("x", "test");
  add_train_flags(h);
  h.parse(std::vector<std::string>{"--beta2", "1.5"});
  try {
    train_config_from_flags(h);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--beta2"), std::string::npos) << e.what();
  }
}
