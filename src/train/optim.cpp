// AdamW param groups, learning-rate schedule and gradient utilities.
#include "rlhf/train/optim.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "kernels/parallel.h"
#include "kernels/train_ops.h"
#include "kernels/train_vec.h"

namespace rlhf {

std::vector<torch::Tensor> ParamGroups::all() const {
  std::vector<torch::Tensor> v = decay;
  v.insert(v.end(), no_decay.begin(), no_decay.end());
  return v;
}

ParamGroups split_param_groups(const NamedParams& named) {
  ParamGroups g;
  for (const auto& [name, p] : named) {
    if (!p.requires_grad()) continue;
    if (p.dim() >= 2) {
      g.decay.push_back(p);
      g.decay_names.push_back(name);
    } else {
      g.no_decay.push_back(p);
      g.no_decay_names.push_back(name);
    }
  }
  return g;
}

NamedParams named_params(const torch::nn::Module& m) {
  NamedParams v;
  for (const auto& item : m.named_parameters(true)) v.emplace_back(item.key(), item.value());
  return v;
}

std::unique_ptr<torch::optim::AdamW> make_adamw(const ParamGroups& groups, const TrainConfig& cfg) {
  auto opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(cfg.lr)
                                                            .betas({cfg.beta1, cfg.beta2})
                                                            .eps(cfg.adam_eps)
                                                            .weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> pg;
  pg.emplace_back(groups.decay, opts(cfg.weight_decay));
  pg.emplace_back(groups.no_decay, opts(0.0));
  return std::make_unique<torch::optim::AdamW>(std::move(pg), torch::optim::AdamWOptions(cfg.lr).weight_decay(0.0));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

namespace {
bool fusable(const torch::Tensor& p) {
  const auto& g = p.grad();
  return p.scalar_type() == torch::kFloat && p.device().is_cpu() && p.is_contiguous() && g.defined() &&
         g.scalar_type() == torch::kFloat && g.is_contiguous() && !g.is_sparse();
}
}  // namespace

void adamw_step(torch::optim::AdamW& opt, double grad_scale) {
  bool fused = kernels::train_ops_enabled();
  for (const auto& group : opt.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    fused = fused && !o.amsgrad();
    for (const auto& p : group.params())
      if (p.grad().defined()) fused = fused && fusable(p);
  }
  if (!fused) {
    std::vector<torch::Tensor> params;
    for (const auto& group : opt.param_groups())
      params.insert(params.end(), group.params().begin(), group.params().end());
    if (grad_scale != 1.0) scale_grads(params, grad_scale);
    opt.step();
    return;
  }
  torch::NoGradGuard ng;
  // Every tensor's update in chunks of 64k values, all in one parallel region: a region per
  // tensor (~300 for GPT-2-small's policy and value model) costs a thread wake-up each.
  struct Work {
    float *p, *m, *v;
    const float* g;
    int64_t n;
    kernels::AdamWCoefs c;
  };
  std::vector<Work> work;
  for (auto& group : opt.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      // The state entry torch::optim::AdamW::step creates, under the key it uses.
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = opt.state().find(key);
      if (it == opt.state().end()) {
        auto st = std::make_unique<torch::optim::AdamWParamState>();
        st->step(0);
        st->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        st->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = opt.state().emplace(key, std::move(st)).first;
      }
      auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
      st.step(st.step() + 1);
      const double b1 = std::get<0>(o.betas()), b2 = std::get<1>(o.betas());
      const kernels::AdamWCoefs c{static_cast<float>(o.lr()),
                                  static_cast<float>(b1),
                                  static_cast<float>(b2),
                                  static_cast<float>(o.eps()),
                                  static_cast<float>(o.weight_decay()),
                                  static_cast<float>(1.0 - std::pow(b1, st.step())),
                                  static_cast<float>(1.0 - std::pow(b2, st.step())),
                                  static_cast<float>(grad_scale)};
      float* pp = p.data_ptr<float>();
      const float* gp = p.grad().data_ptr<float>();
      float* mp = st.exp_avg().data_ptr<float>();
      float* vp = st.exp_avg_sq().data_ptr<float>();
      constexpr int64_t kChunk = 1 << 16;
      for (int64_t b = 0; b < p.numel(); b += kChunk)
        work.push_back({pp + b, mp + b, vp + b, gp + b, std::min(kChunk, p.numel() - b), c});
    }
  }
  kernels::parallel_for(0, static_cast<int64_t>(work.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) kernels::adamw_update(work[i].p, work[i].g, work[i].m, work[i].v, work[i].n, work[i].c);
  });
}

double lr_at(const TrainConfig& cfg, int64_t step) {
  if (cfg.warmup_steps > 0 && step < cfg.warmup_steps)
    return cfg.lr * static_cast<double>(step + 1) / static_cast<double>(cfg.warmup_steps);
  int64_t decay_steps = cfg.steps - cfg.warmup_steps - 1;
  double progress = decay_steps > 0 ? static_cast<double>(step - cfg.warmup_steps) / decay_steps : 1.0;
  progress = std::min(1.0, std::max(0.0, progress));
  double floor = cfg.lr * cfg.min_lr_ratio;
  return floor + 0.5 * (cfg.lr - floor) * (1.0 + std::cos(M_PI * progress));
}

double grad_norm(const std::vector<torch::Tensor>& params) {
  // Contiguous fp32 CPU gradients: one parallel pass over all of them (chunks of 64k values, each
  // chunk's sum of squares in double); any other gradient: its own norm, combined in fp64.
  struct Chunk {
    const float* p;
    int64_t n;
  };
  std::vector<Chunk> chunks;
  std::vector<torch::Tensor> norms;
  constexpr int64_t kChunk = 1 << 16;
  for (const auto& p : params) {
    const auto& g = p.grad();
    if (!g.defined()) continue;
    if (g.scalar_type() == torch::kFloat && g.device().is_cpu() && g.is_contiguous() && !g.is_sparse()) {
      const float* d = g.data_ptr<float>();
      for (int64_t o = 0; o < g.numel(); o += kChunk) chunks.push_back({d + o, std::min(kChunk, g.numel() - o)});
    } else {
      norms.push_back(g.detach().norm().to(torch::kFloat64));
    }
  }
  std::vector<double> sq(chunks.size());
  kernels::parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sq[i] = kernels::sum_squares(chunks[i].p, chunks[i].n);
  });
  double total = 0;
  for (double v : sq) total += v;
  for (const auto& n : norms) total += std::pow(n.item<double>(), 2);
  return std::sqrt(total);
}

void scale_grads(const std::vector<torch::Tensor>& params, double factor) {
  torch::NoGradGuard ng;
  for (const auto& p : params)
    if (p.grad().defined()) p.mutable_grad().mul_(factor);
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  double norm = grad_norm(params);
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) scale_grads(params, max_norm / (norm + 1e-6));
  return norm;
}

}  // namespace rlhf
