// Trainer state save/load and atomic checkpoint folders.
#include "rlhf/train/state.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"

namespace fs = std::filesystem;

namespace rlhf {

nlohmann::json TrainerState::to_json() const {
  return {{"step", step},           {"epoch", epoch}, {"position", position}, {"tokens_seen", tokens_seen},
          {"elapsed_s", elapsed_s}, {"seed", seed},   {"last_loss", last_loss}, {"extra", extra}};
}

TrainerState TrainerState::from_json(const nlohmann::json& j, const std::string& where) {
  io::Where w{where, 0};
  TrainerState s;
  s.step = io::get_int(j, "step", w);
  s.epoch = io::get_int(j, "epoch", w);
  s.position = io::get_int(j, "position", w);
  s.tokens_seen = io::get_int(j, "tokens_seen", w);
  s.elapsed_s = io::get_number(j, "elapsed_s", w);
  s.seed = static_cast<uint64_t>(io::get_number(j, "seed", w));
  if (j.contains("seed") && j["seed"].is_number_unsigned()) s.seed = j["seed"].get<uint64_t>();
  s.last_loss = j.value("last_loss", 0.0);
  if (j.contains("extra")) s.extra = j["extra"];
  return s;
}

void save_trainer_state(const std::string& dir, const TrainerState& st, torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive ar;
  torch::serialize::OutputArchive opt_ar;
  opt.save(opt_ar);
  ar.write("optimizer", opt_ar);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    ar.write("rng_cpu", gen.get_state());
  }
  std::string pt = io::join_path(dir, "trainer_state.pt");
  std::string tmp = pt + ".tmp";
  ar.save_to(tmp);
  fs::rename(tmp, pt);
  io::write_json_atomic(io::join_path(dir, "trainer_state.json"), st.to_json());
}

TrainerState load_trainer_state(const std::string& dir, torch::optim::Optimizer& opt) {
  std::string js = io::join_path(dir, "trainer_state.json");
  std::string pt = io::join_path(dir, "trainer_state.pt");
  if (!io::file_exists(js) || !io::file_exists(pt))
    throw Error(dir + ": not a resumable checkpoint (trainer_state.json / trainer_state.pt missing)");
  TrainerState st = TrainerState::from_json(io::read_json(js), js);
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(pt);
    torch::serialize::InputArchive opt_ar;
    ar.read("optimizer", opt_ar);
    opt.load(opt_ar);
    torch::Tensor rng;
    ar.read("rng_cpu", rng);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
  } catch (const c10::Error& e) {
    throw Error(pt + ": cannot restore the optimizer/RNG state (" + std::string(e.what_without_backtrace()) +
                "); was it written for a different model or parameter set?");
  }
  return st;
}

namespace {
// step of a "checkpoint-<step>" folder name, or -1.
int64_t checkpoint_step(const std::string& name) {
  const std::string prefix = "checkpoint-";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return -1;
  std::string digits = name.substr(prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
  return std::stoll(digits);
}
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, std::string>> v;
  if (!io::dir_exists(run_dir)) return v;
  for (const auto& e : fs::directory_iterator(run_dir)) {
    if (!e.is_directory()) continue;
    int64_t s = checkpoint_step(e.path().filename().string());
    if (s >= 0) v.emplace_back(s, e.path().string());
  }
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

std::string commit_checkpoint(const std::string& run_dir, int64_t step,
                              const std::function<void(const std::string& dir)>& fill, int64_t keep) {
  io::make_dirs(run_dir);
  std::string name = "checkpoint-" + std::to_string(step);
  std::string tmp = io::join_path(run_dir, ".tmp-" + name);
  std::string dst = io::join_path(run_dir, name);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  io::make_dirs(tmp);
  try {
    fill(tmp);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  if (io::dir_exists(dst))
    io::replace_dir_atomic(tmp, dst);
  else {
    fs::rename(tmp, dst, ec);
    if (ec) throw Error(dst + ": cannot rename " + tmp + " into place (" + ec.message() + ")");
  }
  auto all = list_checkpoints(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i)
    if (all[i].second != dst) fs::remove_all(all[i].second, ec);
  return dst;
}

std::string finalize_checkpoint(const std::string& run_dir, const std::string& checkpoint_dir) {
  std::string dst = io::join_path(run_dir, "final");
  if (io::dir_exists(dst))
    io::replace_dir_atomic(checkpoint_dir, dst);
  else {
    std::error_code ec;
    fs::rename(checkpoint_dir, dst, ec);
    if (ec) throw Error(dst + ": cannot rename " + checkpoint_dir + " into place (" + ec.message() + ")");
  }
  std::error_code ec;
  for (const auto& c : list_checkpoints(run_dir)) fs::remove_all(c.second, ec);
  return dst;
}

std::string latest_checkpoint(const std::string& run_dir) {
  std::string fin = io::join_path(run_dir, "final");
  if (io::file_exists(io::join_path(fin, "trainer_state.json"))) return fin;
  auto all = list_checkpoints(run_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (io::file_exists(io::join_path(it->second, "trainer_state.json"))) return it->second;
  return "";
}

bool run_finished(const std::string& run_dir) {
  return io::file_exists(io::join_path(io::join_path(run_dir, "final"), "trainer_state.json"));
}

}  // namespace rlhf
