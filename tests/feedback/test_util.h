// Helpers shared by the feedback tests: a temporary database path and small task lists.
#pragma once
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "rlhf/feedback/types.h"

namespace rlhf::feedback::testing {

// A fresh path under /tmp, removed (with its -wal/-shm files) when the object goes away.
struct TempDb {
  std::string path;
  TempDb() {
    static std::atomic<int> n{0};
    path = "/tmp/rlhf_fb_test_" + std::to_string(getpid()) + "_" + std::to_string(n++) + ".db";
    remove_all();
  }
  ~TempDb() { remove_all(); }
  void remove_all() const {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
};

inline TaskInput make_task(const std::string& prompt, double priority = 0, int k = 2, int overlap = 1) {
  TaskInput t;
  t.prompt = "\n\nHuman: " + prompt + "\n\nAssistant:";
  for (int i = 0; i < k; ++i) t.responses.push_back(" answer " + std::to_string(i) + " to " + prompt);
  t.priority = priority;
  t.overlap = overlap;
  return t;
}

}  // namespace rlhf::feedback::testing
