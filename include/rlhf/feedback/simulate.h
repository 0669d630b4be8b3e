// Simulated annotators as API clients: each one fetches tasks from a running server, asks the
// world's annotator model (rlhf/world/annotators.h) for a preference, and posts the label, so the
// pipeline can be tested with the real service in the loop.
#pragma once
#include <string>
#include <vector>

#include "rlhf/world/annotators.h"

namespace rlhf::feedback {

struct SimulateConfig {
  std::string url = "http://127.0.0.1:8080";  // the server (scheme://host:port)
  std::vector<std::string> tokens;  // one annotator token per simulated annotator (run concurrently)
  int first_annotator = 0;          // token i is world annotator first_annotator + i
  int pool_size = 0;                // annotators in the world's pool (0: first_annotator + tokens)
  world::AnnotatorConfig annotator; // the world's annotator model
  std::string mode = "pair";        // pair: compare the two responses shown first; ranking: rank all K
  long long max_labels = -1;        // per annotator; -1 = until the queue is empty
  double tie_below = 0.05;          // |2P-1| below this is answered "tie"
  void validate() const;            // throws rlhf::Error naming the field
};

struct SimulateReport {
  long long labels = 0;
  long long errors = 0;  // requests answered with an error (each stops that annotator)
  std::vector<std::string> messages;
};

// The strength name for a simulated annotator's |2P - 1|.
const char* simulated_strength(double clarity, double tie_below);

SimulateReport simulate_annotators(const SimulateConfig& cfg);

}  // namespace rlhf::feedback
