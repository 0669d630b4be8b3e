// Shared helpers for the training tests: a tiny model with every kind of parameter (embedding,
// matrices, biases, a norm, dropout), a deterministic toy dataset, and a temp-folder helper.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "rlhf/data/lm_batch.h"
#include "rlhf/data/sampler.h"
#include "rlhf/train/lm_loss.h"
#include "rlhf/train/trainer.h"

namespace rlhf::testing {

inline std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("rlhf_train_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

// Embedding -> Linear -> LayerNorm -> dropout -> Linear head over V tokens.
struct ToyLmImpl : torch::nn::Module {
  ToyLmImpl(int64_t V, int64_t C, double dropout = 0.0) {
    emb = register_module("emb", torch::nn::Embedding(V, C));
    fc = register_module("fc", torch::nn::Linear(C, C));
    ln = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));
    head = register_module("head", torch::nn::Linear(C, V));
    p = dropout;
  }
  torch::Tensor forward(const torch::Tensor& ids) {
    auto h = torch::gelu(fc(emb(ids)));
    // LayerNorm in fp32: libtorch 1.13 CPU autocast leaves layer_norm alone, and its kernel
    // rejects a bf16 input with fp32 weights.
    h = torch::dropout(ln(h.to(torch::kFloat32)), p, is_training());
    return head(h);
  }
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear fc{nullptr}, head{nullptr};
  torch::nn::LayerNorm ln{nullptr};
  double p = 0.0;
};
TORCH_MODULE(ToyLm);

// n examples of varying length (3..10 ids) with loss on a varying suffix, from a fixed seed.
inline std::vector<data::TokenizedExample> toy_examples(int64_t n, int64_t V, uint64_t seed = 7) {
  data::SplitMix64 rng(seed);
  std::vector<data::TokenizedExample> v;
  for (int64_t i = 0; i < n; ++i) {
    data::TokenizedExample ex;
    int64_t L = 3 + static_cast<int64_t>(rng.below(8));
    int64_t prompt = 1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(L - 2)));
    for (int64_t t = 0; t < L; ++t) {
      ex.ids.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(V - 1))) + 1);
      ex.train.push_back(t >= prompt ? 1 : 0);
    }
    v.push_back(ex);
  }
  return v;
}

inline torch::Tensor flat_params(torch::nn::Module& m) {
  std::vector<torch::Tensor> v;
  for (auto& p : m.parameters()) v.push_back(p.detach().reshape({-1}).clone());
  return torch::cat(v);
}

}  // namespace rlhf::testing
