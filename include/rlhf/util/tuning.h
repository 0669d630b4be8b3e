// Process-level settings that make libtorch's CPU kernels fastest on small machines, applied by
// re-executing the program once: OMP_WAIT_POLICY=passive (OpenMP threads sleep between parallel
// regions instead of spinning against the other core) and tcmalloc preloaded (Debian's
// libtcmalloc-minimal4, with TCMALLOC_RELEASE_RATE=0: reuses pages instead of faulting fresh ones
// per step). Both must be in
// place before the OpenMP runtime and the allocator initialise, hence the re-exec.
#pragma once

namespace rlhf {

// The tcmalloc library preloaded by reexec_tuned when it exists.
constexpr const char* kTcmallocPath = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";

// Re-executes /proc/self/exe with the settings above unless the environment variable `marker` is
// "1" already (set before the re-exec, so it happens once) or RLHF_UNTUNED=1. A user's own
// OMP_WAIT_POLICY is kept. Returns (without re-executing) when exec fails, printing a note unless
// `quiet`.
void reexec_tuned(char** argv, const char* marker, bool quiet = false);

}  // namespace rlhf
