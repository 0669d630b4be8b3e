// The two ways generate() can run a model, behind one small interface: prefill all prompts,
// then feed one token per running row; each call leaves the next-token logits in logits().
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "rlhf/generation/generate.h"

namespace rlhf::detail {

class DecodeBackend {
 public:
  virtual ~DecodeBackend() = default;
  // Runs the prompts; logits() then holds (prompts.size(), V), row i = prompt i's next token.
  virtual void prefill(const std::vector<std::vector<int64_t>>& prompts, int64_t max_new_tokens) = 0;
  // Appends tokens[i] to row rows[i] (row ids as in prefill, ascending, each still running);
  // logits() then holds (rows.size(), V) in that order.
  virtual void step(const std::vector<int64_t>& rows, const std::vector<int64_t>& tokens) = 0;
  virtual const float* logits() const = 0;
  virtual int64_t vocab() const = 0;
  // Calls fn(begin, end) over chunks covering [0, n), on the backend's threads when it has any.
  virtual void for_rows(int64_t n, const std::function<void(int64_t, int64_t)>& fn) { fn(0, n); }
};

// The libtorch path: TransformerImpl with a left-padded batch and a KVCache.
std::unique_ptr<DecodeBackend> make_torch_backend(Transformer& model, const GenerateOptions& opts);
// The hand-written CPU path (DecodeEngine).
std::unique_ptr<DecodeBackend> make_fast_backend(Transformer& model, const GenerateOptions& opts);
// Whether the fast path can run this model ("" = yes, else the reason).
std::string fast_backend_unsupported(const Transformer& model);

}  // namespace rlhf::detail
