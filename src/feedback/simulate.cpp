// Simulated annotators labelling through the HTTP API (see simulate.h).
#include "rlhf/feedback/simulate.h"

#include <httplib.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "rlhf/io/error.h"

namespace rlhf::feedback {

using json = nlohmann::json;

void SimulateConfig::validate() const {
  if (tokens.empty()) throw Error("--tokens: give at least one annotator token");
  if (mode != "pair" && mode != "ranking") throw Error("--mode must be pair or ranking (got " + mode + ")");
  if (first_annotator < 0) throw Error("--first-annotator must be >= 0");
  if (pool_size && pool_size < first_annotator + int(tokens.size()))
    throw Error("--pool-size must cover first-annotator + the number of tokens");
  annotator.validate();
}

const char* simulated_strength(double clarity, double tie_below) {
  if (clarity < tie_below) return "tie";
  if (clarity < 1.0 / 3) return "slightly_better";
  if (clarity < 2.0 / 3) return "better";
  return "much_better";
}

SimulateReport simulate_annotators(const SimulateConfig& cfg) {
  cfg.validate();
  int pool = cfg.pool_size ? cfg.pool_size : cfg.first_annotator + int(cfg.tokens.size());
  world::AnnotatorPool annotators(pool, cfg.annotator);
  SimulateReport rep;
  std::mutex mu;
  auto one = [&](size_t i) {
    int who = cfg.first_annotator + int(i);
    httplib::Client cli(cfg.url);
    cli.set_connection_timeout(10);
    cli.set_read_timeout(30);
    cli.set_bearer_token_auth(cfg.tokens[i]);
    cli.set_tcp_nodelay(true);
    cli.set_keep_alive(true);
    long long done = 0;
    struct Tally {  // adds this annotator's labels to the report however the loop ends
      long long& done;
      SimulateReport& rep;
      std::mutex& mu;
      ~Tally() {
        std::lock_guard<std::mutex> lock(mu);
        rep.labels += done;
      }
    } tally{done, rep, mu};
    auto fail = [&](const std::string& what) {
      std::lock_guard<std::mutex> lock(mu);
      ++rep.errors;
      rep.messages.push_back(annotators.id(who) + ": " + what);
    };
    while (cfg.max_labels < 0 || done < cfg.max_labels) {
      auto res = cli.Get("/api/tasks/next");
      if (!res) return fail("GET /api/tasks/next: " + httplib::to_string(res.error()));
      if (res->status == 204) break;
      if (res->status != 200) return fail("GET /api/tasks/next: HTTP " + std::to_string(res->status) + " " + res->body);
      json t = json::parse(res->body)["task"];
      auto responses = t["responses"].get<std::vector<std::string>>();
      auto order = t["display_order"].get<std::vector<int>>();
      std::string prompt = t["prompt"].get<std::string>();
      json label = {{"task_id", t["id"]}};
      if (cfg.mode == "ranking" && responses.size() > 2) {
        label["ranking"] = annotators.rank(prompt, responses, who);
      } else {
        int left = order[0], right = order[1];  // the pair shown, as a person would see it
        auto p = annotators.label_pair(prompt, responses[size_t(left)], responses[size_t(right)], who);
        label["chosen"] = p.first_preferred ? left : right;
        label["rejected"] = p.first_preferred ? right : left;
        label["strength"] = simulated_strength(p.strength, cfg.tie_below);
      }
      auto post = cli.Post("/api/labels", label.dump(), "application/json");
      if (!post) return fail("POST /api/labels: " + httplib::to_string(post.error()));
      if (post->status != 201) return fail("POST /api/labels: HTTP " + std::to_string(post->status) + " " + post->body);
      ++done;
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cfg.tokens.size(); ++i) threads.emplace_back(one, i);
  for (auto& t : threads) t.join();
  return rep;
}

}  // namespace rlhf::feedback
