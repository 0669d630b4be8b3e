// The run loop: exact (bitwise) resume, atomic checkpoints under a simulated crash, NaN stop that
// keeps the last good checkpoint, metrics.jsonl contents.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/train/loop.h"
#include "rlhf/train/metrics.h"
#include "train/test_util.h"

using namespace rlhf;
using rlhf::testing::ToyLm;
namespace fs = std::filesystem;

namespace {

// A toy run whose every source of randomness is live: shuffled data order, dropout (torch's CPU
// generator), AdamW moments. `fail_at` throws from the loss closure at that step (a kill);
// `nan_at` makes that step's loss NaN.
struct ToyRun {
  ToyLm model{nullptr};
  std::unique_ptr<Trainer> trainer;
  std::vector<data::TokenizedExample> data;
  std::unique_ptr<data::EpochSampler> sampler;
  TrainLoop loop;
  int64_t fail_at = -1, nan_at = -1;

  ToyRun(const std::string& dir, int64_t steps, int64_t save_every) {
    torch::manual_seed(11);
    model = ToyLm(16, 8, /*dropout=*/0.2);
    data = rlhf::testing::toy_examples(20, 16);
    TrainConfig c;
    c.steps = steps;
    c.batch_size = 3;  // 20 examples / 3: epochs wrap mid-batch
    c.grad_accum = 2;
    c.lr = 5e-3;
    c.warmup_steps = 2;
    c.save_every = save_every;
    c.seed = 5;
    trainer = std::make_unique<Trainer>(named_params(*model), c);
    sampler = std::make_unique<data::EpochSampler>(static_cast<int64_t>(data.size()), c.seed);
    loop.run_dir = dir;
    loop.progress_tty = 0;
    loop.micro_loss = [this](int64_t) {
      auto& st = trainer->state();
      if (st.step + 1 == fail_at) throw std::runtime_error("killed");
      auto idx = sampler->next_batch(trainer->config().batch_size, st.epoch, st.position);
      std::vector<const data::TokenizedExample*> rows;
      for (auto i : idx) rows.push_back(&data[static_cast<size_t>(i)]);
      auto b = data::collate_padded(rows, 0);
      model->train();
      MicroLoss l = lm_loss_sum(model->forward(b.input_ids), b);
      if (st.step + 1 == nan_at) l.sum = l.sum * std::nan("");
      return l;
    };
    loop.eval_loss = [this] {
      model->eval();
      std::vector<const data::TokenizedExample*> rows;
      for (size_t i = 0; i < 4; ++i) rows.push_back(&data[i]);
      auto b = data::collate_padded(rows, 0);
      auto l = lm_loss_sum(model->forward(b.input_ids), b);
      return l.sum.item<double>() / l.count;
    };
    loop.save_model = [this](const std::string& d) {
      std::vector<torch::Tensor> ps;
      for (auto& p : model->parameters()) ps.push_back(p.detach().clone());
      torch::save(ps, d + "/model.pt");
    };
    loop.load_model = [this](const std::string& d) {
      std::vector<torch::Tensor> ps;
      torch::load(ps, d + "/model.pt");
      torch::NoGradGuard ng;
      auto mine = model->parameters();
      ASSERT_EQ(ps.size(), mine.size());
      for (size_t i = 0; i < ps.size(); ++i) mine[i].copy_(ps[i]);
    };
  }
  TrainResult run(bool resume) { return run_training(*trainer, loop, resume); }
};

}  // namespace

TEST(Resume, StoppedAndResumedRunEndsBitwiseEqual) {
  auto d1 = rlhf::testing::temp_dir("resume_a"), d2 = rlhf::testing::temp_dir("resume_b");
  ToyRun straight(d1, 9, 4);
  straight.run(false);
  auto want = rlhf::testing::flat_params(*straight.model);

  {
    ToyRun first(d2, 9, 4);
    first.fail_at = 7;  // dies during step 7; checkpoint-4 is the last one written
    EXPECT_THROW(first.run(false), std::runtime_error);
  }
  EXPECT_EQ(latest_checkpoint(d2), d2 + "/checkpoint-4");
  // A fresh process (new model with other random init, RNG in another state) resumes.
  torch::manual_seed(999);
  torch::rand({100});
  ToyRun second(d2, 9, 4);
  auto r = second.run(true);
  EXPECT_TRUE(r.resumed);
  auto got = rlhf::testing::flat_params(*second.model);
  EXPECT_TRUE(torch::equal(want, got)) << "max diff " << (want - got).abs().max().item<double>();
  EXPECT_EQ(r.final_dir, d2 + "/final");
  EXPECT_TRUE(run_finished(d2));
  // metrics.jsonl reads as one run: steps 1..9 once each (lines past the checkpoint dropped).
  auto lines = io::read_jsonl(d2 + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 9u);
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["step"].get<int64_t>(), static_cast<int64_t>(i + 1));
  // Resuming a finished run does nothing.
  ToyRun third(d2, 9, 4);
  EXPECT_TRUE(third.run(true).already_done);
  EXPECT_TRUE(torch::equal(want, rlhf::testing::flat_params(*third.model)));
}

TEST(Resume, WithoutResumeAnExistingRunIsAnError) {
  auto d = rlhf::testing::temp_dir("noresume");
  ToyRun a(d, 3, 0);
  a.run(false);
  ToyRun b(d, 3, 0);
  try {
    b.run(false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, CrashDuringWriteLeavesTheLastCompleteCheckpoint) {
  auto d = rlhf::testing::temp_dir("crash");
  ToyRun run(d, 9, 2);
  std::vector<torch::Tensor> at_step2;
  int writes = 0;
  run.loop.on_checkpoint_write = [&](const std::string& tmp) {
    if (++writes == 2) {
      // The temp folder exists with the model already in it; the trainer state is not written.
      EXPECT_TRUE(io::file_exists(tmp + "/model.pt"));
      throw std::runtime_error("simulated crash inside the checkpoint write");
    }
  };
  EXPECT_THROW(run.run(false), std::runtime_error);
  EXPECT_EQ(latest_checkpoint(d), d + "/checkpoint-2");
  EXPECT_FALSE(fs::exists(d + "/checkpoint-4"));
  // A kill -9 would have left the temp folder behind: it must be ignored.
  fs::create_directories(d + "/.tmp-checkpoint-6");
  std::ofstream(d + "/.tmp-checkpoint-6/model.pt") << "partial";
  fs::create_directories(d + "/checkpoint-8");  // a folder without trainer_state.json is incomplete too
  EXPECT_EQ(latest_checkpoint(d), d + "/checkpoint-2");
  fs::remove_all(d + "/checkpoint-8");
  // The last complete one loads and holds the step-2 state.
  ToyRun again(d, 9, 2);
  auto r = again.run(true);
  EXPECT_TRUE(r.resumed);
  EXPECT_EQ(again.trainer->state().step, 9);
  auto st = io::read_json(d + "/final/trainer_state.json");
  EXPECT_EQ(st["step"].get<int64_t>(), 9);
}

TEST(Checkpoint, KeepsOnlyTheNewestIntermediateCheckpoints) {
  auto d = rlhf::testing::temp_dir("keep");
  ToyRun run(d, 7, 2);
  int64_t seen_max = 0;
  run.loop.on_checkpoint_write = [&](const std::string&) {
    int n = 0;
    for (auto& e : fs::directory_iterator(d))
      if (e.path().filename().string().rfind("checkpoint-", 0) == 0) ++n;
    seen_max = std::max<int64_t>(seen_max, n);
  };
  run.run(false);
  EXPECT_LE(seen_max, 1);  // keep_checkpoints = 1: at most one complete one besides the one being written
  EXPECT_TRUE(run_finished(d));
  EXPECT_FALSE(fs::exists(d + "/checkpoint-6"));
}

TEST(NanStop, KeepsTheLastGoodCheckpointAndNamesTheStep) {
  auto d = rlhf::testing::temp_dir("nan");
  ToyRun run(d, 9, 2);
  run.nan_at = 5;
  try {
    run.run(false);
    FAIL();
  } catch (const NonFiniteError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("step 5"), std::string::npos) << m;
    EXPECT_NE(m.find("checkpoint-4"), std::string::npos) << m;
  }
  EXPECT_EQ(latest_checkpoint(d), d + "/checkpoint-4");
  EXPECT_FALSE(run_finished(d));
}

TEST(Metrics, OneRecordPerStepWithTheRequiredFields) {
  auto d = rlhf::testing::temp_dir("metrics");
  ToyRun run(d, 4, 0);
  run.trainer = std::make_unique<Trainer>(named_params(*run.model), [] {
    TrainConfig c;
    c.steps = 4;
    c.batch_size = 3;
    c.eval_every = 2;
    return c;
  }());
  auto r = run.run(false);
  auto lines = io::read_jsonl(d + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& l : lines)
    for (const char* k : {"step", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"})
      EXPECT_TRUE(l.contains(k)) << k;
  EXPECT_FALSE(lines[0].contains("eval_loss"));
  EXPECT_TRUE(lines[1].contains("eval_loss"));
  EXPECT_TRUE(lines[3].contains("eval_loss"));
  EXPECT_GT(lines[0]["tokens_per_s"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(lines[3]["loss"].get<double>(), r.last_loss);
}

TEST(Progress, PlainLinesWhenNotATerminal) {
  ::testing::internal::CaptureStdout();
  Progress p("sft", 10, 5, /*tty=*/0);
  for (int s = 1; s <= 10; ++s) p.update(s, 1.5, 1000, s * 1.0, 1.0);
  p.finish();
  std::string out = ::testing::internal::GetCapturedStdout();
  // Steps 1, 5 and 10, one line each, no carriage returns.
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_NE(out.find("step 10/10"), std::string::npos);
  EXPECT_NE(out.find("ETA"), std::string::npos);
  EXPECT_EQ(Progress::format_duration(65), "1:05");
  EXPECT_EQ(Progress::format_duration(3723), "1:02:03");
}
