// rlhf version: build information (libtorch version, BLAS, threads).
#include <torch/torch.h>

#include <iostream>

#include "cli/command.h"
#include "rlhf/util/flags.h"

namespace {
int run(int argc, char** argv) {
  rlhf::Flags f("version", "Print the version and the libtorch build this binary links.");
  if (!f.parse(argc, argv)) return 0;
  std::cout << "rlhf 0.1.0\nlibtorch " << TORCH_VERSION << "\nthreads " << torch::get_num_threads() << "\n";
  return 0;
}
rlhf::cli::RegisterCommand reg("version", "print version and build information", run);
}  // namespace
