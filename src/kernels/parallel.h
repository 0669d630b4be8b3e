// at::parallel_for for our kernels, with the caller's denormal mode on every thread that runs a
// chunk. libtorch's setFlushDenormal(true) (init_runtime) sets flush-to-zero / denormals-are-zero
// on the calling thread only, not on OpenMP's worker threads; measured, the token log-prob
// backward (exp of very negative logits) went 11 -> 300 ms once its rows ran on both threads.
#pragma once
#include <ATen/Parallel.h>

#include <cstdint>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace rlhf::kernels {

// The calling thread's flush-to-zero and denormals-are-zero bits (MXCSR; 0 elsewhere).
inline unsigned denormal_mode() {
#if defined(__x86_64__)
  return _mm_getcsr() & 0x8040u;
#else
  return 0;
#endif
}

// Sets the calling thread's FTZ / DAZ bits to `mode` (as denormal_mode() returned them).
inline void set_denormal_mode(unsigned mode) {
#if defined(__x86_64__)
  const unsigned csr = _mm_getcsr();
  if ((csr & 0x8040u) != mode) _mm_setcsr((csr & ~0x8040u) | mode);
#else
  (void)mode;
#endif
}

template <class F>
inline void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  const unsigned mode = denormal_mode();
  at::parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
    set_denormal_mode(mode);
    f(b, e);
  });
}

}  // namespace rlhf::kernels
