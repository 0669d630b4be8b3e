// rlhf serve: the human-feedback annotation server (REST API + web UI) over a SQLite store.
// docs/feedback.md documents the API; `rlhf feedback token` issues the tokens it accepts.
#include <csignal>
#include <iostream>

#include "cli/command.h"
#include "rlhf/feedback/server.h"
#include "rlhf/io/files.h"
#include "rlhf/util/flags.h"

namespace {

rlhf::feedback::Server* g_server = nullptr;

void on_signal(int) {
  if (g_server) g_server->stop();
}

int run(int argc, char** argv) {
  rlhf::Flags f("serve", "Serve the annotation web UI and JSON API over a SQLite database (docs/feedback.md).");
  f.add("db", "", "SQLite database file (created if absent)");
  f.add("port", "8080", "TCP port (0 = any free port; the chosen one is printed)");
  f.add("host", "127.0.0.1", "address to listen on (loopback by default)");
  f.add("guidelines", "", "Markdown file of annotation guidelines (the 'constitution') shown beside every task");
  f.add("web-dir", "", "serve the UI from this folder instead of the copy built into the binary");
  f.add("max-body", "65536", "largest request body in bytes; larger gets 413");
  f.add("threads", "64", "worker threads (each open keep-alive connection holds one)");
  f.add("timeout", "900", "seconds before an unanswered task returns to the queue");
  f.add("gold-rate", "0.1", "share of hand-outs that are gold tasks (while the annotator has some left)");
  f.add("duplicate-rate", "0.05", "share of hand-outs that are swapped repeats of the annotator's earlier tasks");
  f.add("duplicate-gap", "3", "a repeat is of a task labelled at least this many labels earlier");
  f.add("seed", "0", "seed of display orders and of the gold/duplicate draws");
  f.add_bool("sync-full", "fsync every commit (survives power loss; slower). Default: WAL + synchronous=NORMAL, "
                          "which keeps every acknowledged label through a crash of the process");
  if (!f.parse(argc, argv)) return 0;
  if (f.str("db").empty()) throw rlhf::Error("--db: required (the SQLite file to store tasks and labels in)");
  rlhf::feedback::ServerConfig c;
  c.host = f.str("host");
  c.port = int(f.integer("port"));
  if (!f.str("guidelines").empty()) c.guidelines = rlhf::io::read_file(f.str("guidelines"));
  c.web_dir = f.str("web-dir");
  if (f.integer("max-body") < 1024) throw rlhf::Error("--max-body: must be at least 1024 bytes");
  c.max_body_bytes = size_t(f.integer("max-body"));
  c.threads = int(f.integer("threads"));
  c.queue.assignment_timeout_s = f.num("timeout");
  c.queue.gold_rate = f.num("gold-rate");
  c.queue.duplicate_rate = f.num("duplicate-rate");
  c.queue.duplicate_min_gap = int(f.integer("duplicate-gap"));
  if (f.integer("seed") < 0) throw rlhf::Error("--seed: must be >= 0");
  c.queue.seed = uint64_t(f.integer("seed"));
  rlhf::feedback::StoreOptions so;
  so.sync_full = f.flag("sync-full");
  rlhf::feedback::Store store(f.str("db"), so);
  rlhf::feedback::Server server(store, c);
  int port = server.bind();
  g_server = &server;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "serving http://" << c.host << ":" << port << "/ (admin dashboard: /admin), database " << f.str("db")
            << std::endl;
  server.run();
  g_server = nullptr;
  std::cerr << "serve: stopped\n";
  return 0;
}

rlhf::cli::RegisterCommand reg("serve", "annotation server: web UI + JSON API over SQLite (docs/feedback.md)", run);

}  // namespace
