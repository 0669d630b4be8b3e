// Candidate responses for the reward-model stage, sampled from a checkpoint (the SFT model) with
// the shared batched generator: K samples per prompt, decoded without their stop token.
#include "rlhf/generation/generate.h"
#include "rlhf/io/error.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/model/runtime.h"
#include "rlhf/pipeline/stage_rm.h"

namespace rlhf::pipeline {

CandidateSampler checkpoint_sampler(const std::string& checkpoint_dir, double temperature, int64_t max_new_tokens,
                                    const std::string& device) {
  auto ckpt = std::make_shared<Checkpoint>(load_checkpoint(checkpoint_dir, parse_device(device)));
  if (!ckpt->tokenizer) throw Error(checkpoint_dir + ": no tokenizer files; the stage needs one to sample responses");
  return [ckpt, temperature, max_new_tokens](const std::vector<std::string>& prompts, int k, uint64_t seed) {
    const Tokenizer& tok = *ckpt->tokenizer;
    std::vector<std::vector<int64_t>> ids;
    bool bos = tok.add_bos_by_default() && tok.bos_id() >= 0;
    for (const auto& p : prompts) {
      std::vector<int64_t> row;
      if (bos) row.push_back(tok.bos_id());
      for (int32_t t : tok.encode(p)) row.push_back(t);
      // Keep the prompt's tail when it would not leave room for the response.
      int64_t room = ckpt->config.max_seq - max_new_tokens;
      if (room > 0 && static_cast<int64_t>(row.size()) > room) row.erase(row.begin(), row.end() - room);
      for (int j = 0; j < k; ++j) ids.push_back(row);  // row p*k + j
    }
    SamplingConfig sc;
    sc.temperature = temperature;
    sc.max_new_tokens = max_new_tokens;
    sc.seed = seed;
    if (tok.eos_id() >= 0) sc.stop_ids = std::vector<int64_t>{tok.eos_id()};
    auto rows = generate(ckpt->model, ids, sc);
    std::vector<std::vector<std::string>> out(prompts.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      std::vector<int32_t> t;
      for (int64_t x : rows[i].tokens)
        if (x != tok.eos_id()) t.push_back(static_cast<int32_t>(x));
      out[i / k].push_back(tok.decode(t, true));
    }
    return out;
  };
}

}  // namespace rlhf::pipeline
