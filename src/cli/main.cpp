// rlhf: the command-line front end. Finds the command in the registry and runs it; library
// errors are caught here, printed as one line, and turned into exit status 1.
#include <algorithm>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "rlhf/io/error.h"
#include "rlhf/util/tuning.h"

namespace rlhf::cli {
std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace rlhf::cli

using rlhf::cli::registry;

static void print_usage(const std::string& group) {
  auto cmds = registry();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  if (group.empty()) {
    std::cout << "rlhf: reinforcement learning from human feedback, in C++\n\n"
                 "usage: rlhf <command> [flags]   (rlhf <command> --help lists its flags and defaults)\n\ncommands:\n";
  } else {
    std::cout << "usage: rlhf " << group << " <command> [flags]\n\ncommands:\n";
  }
  std::map<std::string, bool> groups_shown;
  for (const auto& c : cmds) {
    if (!group.empty() && c.name.rfind(group + " ", 0) != 0) continue;
    std::string n = c.name;
    std::cout << "  " << n << std::string(n.size() < 22 ? 22 - n.size() : 1, ' ') << c.summary << "\n";
  }
}

int main(int argc, char** argv) {
  // OpenMP passive waiting + tcmalloc (rlhf/util/tuning.h); RLHF_UNTUNED=1 turns it off.
  if (argc >= 2 && std::strcmp(argv[1], "--help") && std::strcmp(argv[1], "-h")) rlhf::reexec_tuned(argv, "RLHF_TUNED", true);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_usage("");
    return argc < 2 ? 1 : 0;
  }
  std::string one = argv[1];
  std::string two = argc >= 3 ? one + " " + argv[2] : "";
  const rlhf::cli::Command* found = nullptr;
  int consumed = 0;
  for (const auto& c : registry()) {
    if (!two.empty() && c.name == two) {
      found = &c;
      consumed = 2;
    }
  }
  if (!found)
    for (const auto& c : registry())
      if (c.name == one) {
        found = &c;
        consumed = 1;
      }
  if (!found) {
    bool is_group = false;
    for (const auto& c : registry()) is_group |= c.name.rfind(one + " ", 0) == 0;
    if (is_group) {
      print_usage(one);
      bool asked = argc >= 3 && (!std::strcmp(argv[2], "--help") || !std::strcmp(argv[2], "-h"));
      if (argc >= 3 && !asked) std::cerr << "error: unknown command `rlhf " << one << " " << argv[2] << "`\n";
      return asked ? 0 : 1;
    }
    std::cerr << "error: unknown command `" << one << "` (rlhf --help lists the commands)\n";
    return 1;
  }
  try {
    return found->run(argc - 1 - consumed, argv + 1 + consumed);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
