// Reward-model folders on top of the shared checkpoint layout (include/rlhf/model/checkpoint.h):
// trunk + "score.weight"/"score.bias" + reward_config.json; ensembles as member_<i>/ + ensemble.json.
#include <cmath>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/model/runtime.h"
#include "rlhf/reward/reward_model.h"

namespace rlhf::reward {

namespace {
const char* kRewardConfig = "reward_config.json";
const char* kEnsemble = "ensemble.json";

std::string member_dir(const std::string& dir, int i) { return io::join_path(dir, "member_" + std::to_string(i)); }

// Turns on the likelihood term a reward_config.json describes; mode "ref" also loads its frozen
// reference model (`lm_reference`, else `base`) onto `dev`.
void attach_lm_term(RewardNet& net, const RewardModelInfo& info, const std::string& dir, torch::Device dev) {
  if (!info.lm_term) return;
  LmMode mode = parse_lm_mode(info.lm_mode);
  net->enable_lm_term(info.lm_coef, mode);
  if (mode != LmMode::Ref) return;
  const std::string ref = info.lm_reference.empty() ? info.base : info.lm_reference;
  const std::string where = io::join_path(dir, kRewardConfig);
  if (ref.empty()) throw Error(where + ": \"lm_mode\" is \"ref\" but neither \"lm_reference\" nor \"base\" names a model");
  if (!io::dir_exists(ref))
    throw Error(where + ": the likelihood term's reference model \"" + ref + "\" (lm_reference/base) was not found");
  net->set_lm_reference(load_checkpoint(ref, dev).model);
}
}  // namespace

void save_reward_model(const std::string& dir, RewardNet& net, const Tokenizer& tok, const RewardModelInfo& info) {
  io::make_dirs(dir);
  const ScalarHead& head = net->head;
  RewardModelInfo saved = info;  // the likelihood coefficient is the net's current (learned) value
  saved.lm_term = net->has_lm_term();
  saved.lm_coef = net->lm_coef();
  if (saved.lm_term) saved.lm_mode = to_string(net->lm_mode());
  write_checkpoint_files(dir, net->trunk, &tok, &head, {{kRewardConfig, saved.to_json()}});
}

void load_reward_weights(const std::string& dir, RewardNet& net) {
  Checkpoint c = load_checkpoint(dir);
  if (c.head.is_empty())
    throw Error(dir + "/model.safetensors: no \"score.weight\"/\"score.bias\": not a reward-model checkpoint");
  torch::NoGradGuard ng;
  net->trunk->load_hf_state(c.model->hf_state(), dir);
  net->head->proj->weight.copy_(c.head->proj->weight);
  net->head->proj->bias.copy_(c.head->proj->bias);
  auto it = c.extra.find(kRewardConfig);
  if (it != c.extra.end()) {
    RewardModelInfo info = RewardModelInfo::from_json(it->second, io::join_path(dir, kRewardConfig));
    torch::Device dev = net->trunk->parameters().empty() ? torch::Device(torch::kCPU) : net->trunk->parameters()[0].device();
    attach_lm_term(net, info, dir, dev);
  }
}

RewardNet init_reward_net(const std::string& checkpoint_dir, uint64_t seed, bool* head_loaded) {
  Checkpoint c = load_checkpoint(checkpoint_dir);
  bool loaded = !c.head.is_empty();
  if (head_loaded) *head_loaded = loaded;
  ScalarHead head = c.head;
  if (!loaded) {
    // A fresh head: N(0, 1/(C+1)) weights, zero bias, so initial rewards are O(1) and seed-dependent.
    torch::manual_seed(seed);
    head = ScalarHead(c.config.d_model);
    torch::NoGradGuard ng;
    head->proj->weight.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(c.config.d_model) + 1.0));
    head->proj->bias.zero_();
  }
  return RewardNet(c.model, head);
}

bool is_ensemble_dir(const std::string& dir) { return io::file_exists(io::join_path(dir, kEnsemble)); }

void write_ensemble_manifest(const std::string& dir, int members, const nlohmann::json& extra) {
  nlohmann::json j = extra.is_object() ? extra : nlohmann::json::object();
  j["members"] = members;
  std::vector<std::string> names;
  for (int i = 0; i < members; ++i) names.push_back("member_" + std::to_string(i));
  j["member_dirs"] = names;
  io::write_json_atomic(io::join_path(dir, kEnsemble), j);
}

RewardModel RewardModel::load(const std::string& dir, const std::string& device) {
  torch::Device dev = parse_device(device);
  std::vector<std::string> dirs;
  if (is_ensemble_dir(dir)) {
    std::string path = io::join_path(dir, kEnsemble);
    auto j = io::read_json(path);
    int n = j.value("members", 0);
    if (n < 1) throw Error(path + ": \"members\" must be >= 1");
    for (int i = 0; i < n; ++i) dirs.push_back(member_dir(dir, i));
  } else {
    dirs.push_back(dir);
  }
  std::vector<RewardNet> nets;
  std::vector<RewardModelInfo> infos;
  std::shared_ptr<Tokenizer> tok;
  int64_t max_len = 0;
  for (const auto& d : dirs) {
    if (!io::dir_exists(d)) throw Error(d + ": reward-model folder not found");
    Checkpoint c = load_checkpoint(d, dev);
    if (c.head.is_empty())
      throw Error(d + "/model.safetensors: no \"score.weight\"/\"score.bias\": not a reward model (train one with rlhf rm train)");
    if (!c.tokenizer) throw Error(d + ": no tokenizer files in the reward-model folder");
    RewardModelInfo info;
    auto it = c.extra.find(kRewardConfig);
    if (it != c.extra.end()) info = RewardModelInfo::from_json(it->second, io::join_path(d, kRewardConfig));
    if (!tok) {
      tok = c.tokenizer;
      max_len = info.max_len > 0 ? std::min(info.max_len, c.config.max_seq) : c.config.max_seq;
    } else if (c.tokenizer->vocab_size() != tok->vocab_size()) {
      throw Error(d + ": ensemble members must share one vocabulary");
    }
    RewardNet net(c.model, c.head);
    attach_lm_term(net, info, d, dev);
    net->eval();
    nets.push_back(net);
    infos.push_back(info);
  }
  RewardModel m(std::move(nets), std::move(infos), tok, max_len);
  m.device_ = dev;
  return m;
}

}  // namespace rlhf::reward
