// generate()'s CPU fast path: one DecodeEngine slot per row (no padding), bf16 weights when the
// model's are bf16 or the caller asks for them.
#include "generation/backend.h"
#include "rlhf/generation/decode_engine.h"

namespace rlhf::detail {

namespace {
class FastBackend : public DecodeBackend {
 public:
  FastBackend(Transformer& model, const GenerateOptions& opts) {
    record_ = opts.record;
    if (opts.engine) {
      engine_ = opts.engine;
      return;
    }
    DecodeEngineOptions eo;
    eo.bf16_weights = opts.bf16_weights || model->parameters().begin()->scalar_type() == torch::kBFloat16;
    eo.threads = opts.threads;
    owned_ = std::make_unique<DecodeEngine>(model, eo);
    engine_ = owned_.get();
  }
  void prefill(const std::vector<std::vector<int64_t>>& prompts, int64_t max_new_tokens) override {
    size_t longest = 0;
    std::vector<int64_t> slots(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      longest = std::max(longest, prompts[i].size());
      slots[i] = static_cast<int64_t>(i);
    }
    engine_->reset(static_cast<int64_t>(prompts.size()), static_cast<int64_t>(longest) + max_new_tokens);
    engine_->set_recording(record_);
    logits_ = engine_->feed(slots, prompts);
  }
  void step(const std::vector<int64_t>& rows, const std::vector<int64_t>& tokens) override {
    logits_ = engine_->feed_one(rows.data(), tokens.data(), static_cast<int64_t>(rows.size()));
  }
  const float* logits() const override { return logits_; }
  ~FastBackend() override {
    if (record_) engine_->set_recording(nullptr);  // a shared engine must not keep writing there
  }
  int64_t vocab() const override { return engine_->vocab(); }
  void for_rows(int64_t n, const std::function<void(int64_t, int64_t)>& fn) override {
    engine_->parallel_for(n, fn);
  }

 private:
  std::unique_ptr<DecodeEngine> owned_;
  DecodeEngine* engine_ = nullptr;
  DecodeRecording* record_ = nullptr;
  const float* logits_ = nullptr;
};
}  // namespace

std::string fast_backend_unsupported(const Transformer& model) {
  auto dt = model->parameters().begin()->scalar_type();
  if (dt != torch::kFloat && dt != torch::kBFloat16) return "weights are neither float32 nor bfloat16";
  return DecodeEngine::unsupported_reason(model);
}

std::unique_ptr<DecodeBackend> make_fast_backend(Transformer& model, const GenerateOptions& opts) {
  return std::make_unique<FastBackend>(model, opts);
}

}  // namespace rlhf::detail
