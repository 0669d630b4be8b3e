// The annotation server: a JSON REST API (docs/feedback.md) and the web UI, on cpp-httplib, over
// a Store. Tokens are checked on every /api request; bodies are size-limited; every input is
// validated and answered with a JSON 4xx {"error": "..."} that says what is wrong.
#pragma once
#include <memory>
#include <string>

#include "rlhf/feedback/store.h"

namespace rlhf::feedback {

struct ServerConfig {
  std::string host = "127.0.0.1";   // loopback by default; put a TLS proxy in front for remote annotators
  int port = 8080;                  // 0 = any free port (see Server::bind)
  std::string guidelines;           // text of the written guidelines shown beside every task (Markdown)
  std::string web_dir;              // serve the UI from this folder instead of the built-in copy
  size_t max_body_bytes = 64 * 1024;  // larger request bodies get 413
  int threads = 64;                 // worker threads (each keep-alive connection holds one)
  QueueConfig queue;
  void validate() const;            // throws rlhf::Error naming the field
};

class Server {
 public:
  Server(Store& store, ServerConfig cfg);
  ~Server();
  int bind();  // binds host:port, returns the port (useful with port 0); throws rlhf::Error on failure
  void run();  // serves until stop(); call bind() first
  void stop();
  bool running() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Request parsing, exposed for tests: the body of POST /api/labels and POST /api/feedback.
// Throws ApiError(400) naming the field at fault.
LabelInput parse_label_request(const std::string& body);
RatingInput parse_rating_request(const std::string& body);

}  // namespace rlhf::feedback
