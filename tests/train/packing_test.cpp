// SFT packing: several examples per row with a block-diagonal causal mask and positions
// restarting per example give the same summed loss and gradients as running each example alone,
// unpadded; the packed layout itself is checked by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernels/train_ops.h"
#include "rlhf/data/lm_batch.h"
#include "rlhf/model/transformer.h"
#include "rlhf/train/lm_loss.h"
#include "test_util.h"

using namespace rlhf;

namespace {

ModelConfig tiny(const std::string& arch) {
  ModelConfig c;
  c.arch = arch;
  c.vocab_size = 61;
  c.n_layer = 2;
  c.n_head = 4;
  c.d_model = 32;
  c.max_seq = 24;
  if (arch == "llama") {
    c.n_kv_head = 2;
    c.d_ff = 48;
    c.bias = false;
  }
  return c;
}

data::TokenizedExample example(std::vector<int64_t> ids, int64_t prompt) {
  data::TokenizedExample ex;
  ex.ids = std::move(ids);
  for (size_t i = 0; i < ex.ids.size(); ++i) ex.train.push_back(static_cast<int64_t>(i) >= prompt ? 1 : 0);
  return ex;
}

// Summed loss of every example run alone (batch of one, no padding), and its gradients.
std::pair<double, torch::Tensor> one_by_one(Transformer& m, const std::vector<data::TokenizedExample>& exs) {
  for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  double total = 0;
  for (const auto& ex : exs) {
    auto b = data::collate_padded({&ex}, 0);
    auto l = lm_loss_sum(m->forward(b.input_ids, lm_forward_args(b)), b);
    l.sum.backward();
    total += l.sum.item<double>();
  }
  std::vector<torch::Tensor> g;
  for (auto& p : m->parameters()) g.push_back(p.grad().reshape({-1}).clone());
  return {total, torch::cat(g)};
}

std::pair<double, torch::Tensor> packed(Transformer& m, const std::vector<data::TokenizedExample>& exs,
                                        int64_t row_len, int64_t* rows = nullptr) {
  for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  std::vector<const data::TokenizedExample*> ptrs;
  for (const auto& e : exs) ptrs.push_back(&e);
  auto b = data::collate_packed(ptrs, row_len, 0);
  if (rows) *rows = b.input_ids.size(0);
  auto l = lm_loss_sum(m->forward(b.input_ids, lm_forward_args(b)), b);
  l.sum.backward();
  std::vector<torch::Tensor> g;
  for (auto& p : m->parameters()) g.push_back(p.grad().reshape({-1}).clone());
  return {l.sum.item<double>(), torch::cat(g)};
}

}  // namespace

TEST(Packing, LayoutByHand) {
  // Lengths (inputs) 3, 2, 4 into rows of 6: first-fit decreasing puts 4 then 2 in row 0, 3 in row 1.
  auto a = example({10, 11, 12, 13}, 2), b = example({20, 21, 22}, 1), c = example({30, 31, 32, 33, 34}, 3);
  auto p = data::collate_packed({&a, &b, &c}, 6, 0);
  EXPECT_TRUE(torch::equal(p.input_ids, torch::tensor({{30, 31, 32, 33, 20, 21}, {10, 11, 12, 0, 0, 0}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(p.position_ids, torch::tensor({{0, 1, 2, 3, 0, 1}, {0, 1, 2, 0, 0, 0}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(p.segment_ids, torch::tensor({{0, 0, 0, 0, 1, 1}, {0, 0, 0, -1, -1, -1}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(p.attention_mask, torch::tensor({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}}, torch::kInt64)));
  // Labels: the next id of the same example where it is trained; never across examples.
  EXPECT_TRUE(torch::equal(p.labels, torch::tensor({{-100, -100, 33, 34, 21, 22}, {-100, 12, 13, -100, -100, -100}},
                                                   torch::kInt64)));
  EXPECT_EQ(p.loss_tokens(), 2 + 2 + 2);
  EXPECT_EQ(p.tokens(), 9);
  EXPECT_THROW(data::collate_packed({&c}, 3, 0), Error);  // an example longer than a row
}

TEST(Packing, LossAndGradientsEqualExamplesRunOneByOneUnpadded) {
  auto exs = rlhf::testing::toy_examples(9, 61, 21);  // 3..10 ids each
  for (const std::string arch : {"gpt2", "llama"}) {
    for (bool fused : {true, false}) {  // the fused training attention and the op-by-op mask
      kernels::set_train_ops_enabled(fused);
      torch::manual_seed(4);
      Transformer m(tiny(arch));
      {
        torch::NoGradGuard ng;
        for (auto& p : m->parameters()) p.add_(torch::randn(p.sizes()) * 0.1);
      }
      auto [l1, g1] = one_by_one(m, exs);
      int64_t rows = 0;
      auto [l2, g2] = packed(m, exs, 20, &rows);
      EXPECT_LT(rows, static_cast<int64_t>(exs.size())) << "nothing was packed together";
      EXPECT_NEAR(l2, l1, 1e-5 * std::max(1.0, std::abs(l1))) << arch << (fused ? " fused" : " op-by-op");
      EXPECT_LT((g1 - g2).abs().max().item<double>(), 1e-5) << arch << (fused ? " fused" : " op-by-op");
    }
  }
  kernels::set_train_ops_enabled(true);
}
