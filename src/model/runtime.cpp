// Process-wide libtorch set-up.
#include "rlhf/model/runtime.h"

#include <thread>

#include "rlhf/io/error.h"
#include "kernels/hugepages.h"

namespace rlhf {

void init_runtime(const RuntimeOptions& opts) {
  at::globalContext().setFlushDenormal(true);
  install_hugepage_allocator();  // a no-op unless RLHF_HUGEPAGES=1
  int n = opts.threads > 0 ? opts.threads : static_cast<int>(std::thread::hardware_concurrency());
  if (n > 0) torch::set_num_threads(n);
  parse_device(opts.device);
}

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error("--device " + name + ": this libtorch build has no usable CUDA device (build against a CUDA "
                  "libtorch with -DCMAKE_PREFIX_PATH=... to use one)");
    return c10::Device(name);
  }
  throw Error("--device " + name + ": unknown device (allowed: cpu, cuda, cuda:N)");
}

}  // namespace rlhf
