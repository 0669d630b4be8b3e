// AVX-512 building blocks shared by the element-wise kernel files (vec.cpp, train_vec.cpp).
// Include only inside a region compiled for AVX-512 (`#pragma GCC target("avx512f,...")`), and
// call only after has_avx512() (kernels/vec.h) said yes.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace rlhf::kernels::simd512 {

// exp(x) for 16 floats: Cephes' polynomial after range reduction by ln 2 (about 1 ulp), inputs
// clamped to [-87, 88] so the result stays finite and normal.
inline __m512 exp(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500E-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// Mask of the first min(left, 16) lanes (the tail of an array).
inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1); }

// Loads and stores of the lanes in m: whole vectors take the plain instructions. Masked stores
// streaming to memory from both cores ran ~35% slower than plain ones on Zen 5 even with every
// lane set (AdamW over 124M values: 60 vs 45 ms; in the PPO step 210 vs 112 ms).
inline __m512 loadu(__mmask16 m, const float* p) { return m == 0xFFFF ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p); }
inline void storeu(float* p, __mmask16 m, __m512 v) {
  if (m == 0xFFFF)
    _mm512_storeu_ps(p, v);
  else
    _mm512_mask_storeu_ps(p, m, v);
}

}  // namespace rlhf::kernels::simd512
