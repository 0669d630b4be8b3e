// rlhf-bench --profile: one run of a case's step under libtorch's operator profiler, printed as a
// table of operators by self time (time not spent in a nested operator), to see where a step goes.
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

#include "bench.h"

namespace rlhf::bench {

// "torch::autograd::CppNode<rlhf::kernels::(anonymous namespace)::LinearBf16Fn>" -> "backward of
// LinearBf16Fn": our operators' backward nodes by their Function's name.
static std::string short_name(std::string name) {
  const std::string node = "torch::autograd::CppNode<";
  if (name.rfind(node, 0) == 0) {
    name = name.substr(node.size());
    if (!name.empty() && name.back() == '>') name.pop_back();
    const auto colon = name.rfind("::");
    name = "backward of " + (colon == std::string::npos ? name : name.substr(colon + 2));
  }
  return name;
}

std::string op_profile(const std::function<void()>& fn, int top) {
  namespace prof = torch::autograd::profiler;
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  const double wall_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  auto lists = prof::disableProfilerLegacy();
  struct Agg {
    double self_us = 0, total_us = 0;
    int64_t calls = 0;
  };
  std::map<std::string, Agg> agg;
  for (const auto& list : lists) {
    struct Open {
      const prof::LegacyEvent* ev;
      double child_us;
    };
    std::vector<Open> stack;
    for (const auto& ev : list) {
      if (ev.kind() == prof::EventKind::PushRange) {
        stack.push_back({&ev, 0});
      } else if (ev.kind() == prof::EventKind::PopRange && !stack.empty()) {
        Open o = stack.back();
        stack.pop_back();
        const double us = o.ev->cpuElapsedUs(ev);
        Agg& a = agg[short_name(o.ev->name())];
        a.total_us += us;
        a.self_us += us - o.child_us;
        a.calls += 1;
        if (!stack.empty()) stack.back().child_us += us;
      }
    }
  }
  std::vector<std::pair<std::string, Agg>> rows(agg.begin(), agg.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.self_us > b.second.self_us; });
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "  wall %.1f ms (profiler overhead included)\n  %-44s %8s %10s %10s %6s\n", wall_us / 1e3,
                "operator", "calls", "self ms", "total ms", "self%");
  out << line;
  for (int i = 0; i < static_cast<int>(rows.size()) && i < top; ++i) {
    const auto& [name, a] = rows[i];
    std::snprintf(line, sizeof line, "  %-44.44s %8lld %10.2f %10.2f %5.1f%%\n", name.c_str(),
                  static_cast<long long>(a.calls), a.self_us / 1e3, a.total_us / 1e3, 100.0 * a.self_us / wall_us);
    out << line;
  }
  return out.str();
}

}  // namespace rlhf::bench
