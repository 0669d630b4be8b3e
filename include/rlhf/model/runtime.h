// Process-wide libtorch set-up shared by every command: denormal flushing (denormal floats in
// gradients slow a backward pass ~10x on x86), large CPU tensors on huge pages when
// RLHF_HUGEPAGES=1 (kernels/hugepages.h), thread count, and device selection.
#pragma once
#include <string>

namespace c10 {
struct Device;
}

namespace rlhf {

struct RuntimeOptions {
  int threads = 0;             // intra-op threads; 0 = all cores
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
};

// Applies the options once per process; safe to call again.
void init_runtime(const RuntimeOptions& opts = {});

// Parses "cpu" / "cuda" / "cuda:1"; throws rlhf::Error naming --device when unknown or when
// this libtorch build has no CUDA.
c10::Device parse_device(const std::string& name);

}  // namespace rlhf
