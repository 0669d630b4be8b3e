// The command registry of the `rlhf` executable: each src/cli/*.cpp file registers its
// commands with a static RegisterCommand, so adding a command touches no other file.
// Names may have two words ("world corpus", "rm train"): `rlhf world --help` lists the group.
#pragma once
#include <string>
#include <vector>

namespace rlhf::cli {

// argc/argv are the arguments after the command name.
using CommandFn = int (*)(int argc, char** argv);

struct Command {
  std::string name;
  std::string summary;
  CommandFn run;
};

std::vector<Command>& registry();

struct RegisterCommand {
  RegisterCommand(const std::string& name, const std::string& summary, CommandFn run) {
    registry().push_back({name, summary, run});
  }
};

}  // namespace rlhf::cli
