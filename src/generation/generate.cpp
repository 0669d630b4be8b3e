// generate(): picks a backend, prefills every prompt in one pass, then samples one token per
// running row per step until each row hits a stop token or max_new_tokens.
#include "rlhf/generation/generate.h"

#include <algorithm>

#include "generation/backend.h"
#include "rlhf/io/error.h"

namespace rlhf {

std::vector<int64_t> resolve_stop_ids(const SamplingConfig& cfg, const ModelConfig& model_cfg) {
  if (cfg.stop_ids) return *cfg.stop_ids;
  if (model_cfg.eos_id >= 0) return {model_cfg.eos_id};
  return {};
}

std::vector<GeneratedRow> generate(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                   const SamplingConfig& cfg, const GenerateOptions& opts) {
  cfg.validate();
  const ModelConfig& mc = model->config();
  const int64_t B = static_cast<int64_t>(prompts.size());
  if (B == 0) return {};
  for (int64_t i = 0; i < B; ++i) {
    const int64_t n = static_cast<int64_t>(prompts[i].size());
    if (n == 0) throw Error("generate: prompt " + std::to_string(i) + " is empty (prepend BOS or give at least one token)");
    if (n + cfg.max_new_tokens > mc.max_seq)
      throw Error("generate: prompt " + std::to_string(i) + " has " + std::to_string(n) + " tokens; with max_new_tokens " +
                  std::to_string(cfg.max_new_tokens) + " it would reach " + std::to_string(n + cfg.max_new_tokens) +
                  " positions, over the model's max_seq " + std::to_string(mc.max_seq) +
                  " (shorten the prompt or lower max_new_tokens)");
    for (int64_t t : prompts[i])
      if (t < 0 || t >= mc.vocab_size)
        throw Error("generate: prompt " + std::to_string(i) + " holds token id " + std::to_string(t) +
                    " outside the model's vocabulary of " + std::to_string(mc.vocab_size));
  }
  std::unique_ptr<detail::DecodeBackend> backend;
  bool backend_is_fast = false;
  if (opts.backend == "torch") {
    backend = detail::make_torch_backend(model, opts);
  } else if (opts.backend == "fast" || opts.backend == "auto") {
    std::string why = opts.engine ? "" : detail::fast_backend_unsupported(model);
    if (why.empty())
      backend = detail::make_fast_backend(model, opts), backend_is_fast = true;
    else if (opts.backend == "fast")
      throw Error("generate: the fast backend cannot run this model: " + why + " (use backend \"torch\")");
    else
      backend = detail::make_torch_backend(model, opts);
  } else {
    throw Error("generate: unknown backend \"" + opts.backend + "\" (allowed: auto, torch, fast)");
  }

  if (opts.record && static_cast<int64_t>(opts.record->part.size()) != B)
    throw Error("generate: the activation recording plans " + std::to_string(opts.record->part.size()) +
                " rows for " + std::to_string(B) + " prompts");
  if (opts.record && !backend_is_fast)
    throw Error("generate: activation recording needs the fast backend (backend \"" + opts.backend +
                "\" runs the torch one here)");
  torch::NoGradGuard no_grad;
  const std::vector<int64_t> stops = resolve_stop_ids(cfg, mc);
  const int64_t V = backend->vocab();
  std::vector<GeneratedRow> out(B);
  std::vector<Rng> rngs;
  for (int64_t i = 0; i < B; ++i) rngs.emplace_back(cfg.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(i));
  std::vector<SampledToken> samples;

  backend->prefill(prompts, cfg.max_new_tokens);
  std::vector<int64_t> active(B), next, next_tokens;
  for (int64_t i = 0; i < B; ++i) active[i] = i;
  for (auto& r : out) {
    r.tokens.reserve(cfg.max_new_tokens);
    r.logprobs.reserve(cfg.max_new_tokens);
    r.model_logprobs.reserve(cfg.max_new_tokens);
  }
  for (;;) {
    const float* logits = backend->logits();
    next.clear();
    next_tokens.clear();
    // Rows sample independently (each has its own generator), so the backend may spread them
    // over its threads; the result does not depend on how they are split.
    samples.resize(active.size());
    backend->for_rows(static_cast<int64_t>(active.size()), [&](int64_t j0, int64_t j1) {
      thread_local std::vector<float> scratch;
      thread_local std::vector<int32_t> index_scratch;
      for (int64_t j = j0; j < j1; ++j)
        samples[j] = sample_token(logits + j * V, V, cfg, rngs[active[j]], scratch, index_scratch);
    });
    for (size_t j = 0; j < active.size(); ++j) {
      const int64_t r = active[j];
      const SampledToken& s = samples[j];
      GeneratedRow& row = out[r];
      row.tokens.push_back(s.token);
      row.logprobs.push_back(s.logprob);
      row.model_logprobs.push_back(s.model_logprob);
      if (std::find(stops.begin(), stops.end(), s.token) != stops.end()) {
        row.finished = true;
      } else if (static_cast<int64_t>(row.tokens.size()) < cfg.max_new_tokens) {
        next.push_back(r);
        next_tokens.push_back(s.token);
      }
    }
    if (next.empty()) break;
    backend->step(next, next_tokens);
    active.swap(next);
  }
  if (opts.record) opts.record->finish();
  return out;
}

}  // namespace rlhf
