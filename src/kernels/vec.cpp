// Element-wise CPU kernels: an AVX-512 version (compiled for that target, chosen at run time)
// and a plain C++ fallback of each. exp uses the Cephes polynomial (about 1 ulp).
#include "kernels/vec.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/train_vec.h"

// The shared AVX-512 helpers, compiled for that target (used only inside the AVX-512 regions below).
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")
#include "kernels/simd512.h"
#pragma GCC pop_options

namespace rlhf::kernels {

bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return yes;
}

#pragma GCC push_options
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_*, the reductions); not our code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")

namespace {
using simd512::tail_mask;
inline __m512 exp512(__m512 x) { return simd512::exp(x); }

double exp_shifted_512(const float* x, int64_t n, float shift, float scale, float* out) {
  __m512 s = _mm512_set1_ps(shift), sc = _mm512_set1_ps(scale);
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512 v = simd512::loadu(m, x + i);
    __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_mul_ps(_mm512_sub_ps(v, s), sc)));
    if (out) simd512::storeu(out + i, m, e);
    acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
}

int64_t argmax_512(const float* x, int64_t n) {
  if (n < 16) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
      if (x[i] > x[best]) best = i;
    return best;
  }
  __m512 mx = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + i));
  float m = _mm512_reduce_max_ps(mx);
  for (int64_t j = i; j < n; ++j) m = std::max(m, x[j]);
  for (int64_t j = 0; j < n; ++j)
    if (x[j] == m) return j;
  return 0;  // only reached with NaNs
}

void silu_mul_512(float* g, const float* u, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512 v = simd512::loadu(m, g + i);
    __m512 s = _mm512_div_ps(v, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    simd512::storeu(g + i, m, _mm512_mul_ps(s, simd512::loadu(m, u + i)));
  }
}

float dot_512(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    acc0 = _mm512_fmadd_ps(simd512::loadu(m, a + i), simd512::loadu(m, b + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float sum_512(const float* x, int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
  }
  for (; i < n; i += 16) a0 = _mm512_add_ps(a0, simd512::loadu(tail_mask(n - i), x + i));
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

void attend_512(const float* q, const float* K, const float* V, int64_t n, int64_t D, float scale, float* out,
                float* sc) {
  float mx = -INFINITY;
  if (D == 64) {
    const __m512 q0 = _mm512_loadu_ps(q), q1 = _mm512_loadu_ps(q + 16), q2 = _mm512_loadu_ps(q + 32),
                 q3 = _mm512_loadu_ps(q + 48);
    for (int64_t j = 0; j < n; ++j) {
      const float* k = K + j * 64;
      __m512 a = _mm512_mul_ps(q0, _mm512_loadu_ps(k));
      __m512 b = _mm512_mul_ps(q1, _mm512_loadu_ps(k + 16));
      a = _mm512_fmadd_ps(q2, _mm512_loadu_ps(k + 32), a);
      b = _mm512_fmadd_ps(q3, _mm512_loadu_ps(k + 48), b);
      sc[j] = _mm512_reduce_add_ps(_mm512_add_ps(a, b)) * scale;
      mx = std::max(mx, sc[j]);
    }
  } else {
    for (int64_t j = 0; j < n; ++j) {
      sc[j] = dot_512(q, K + j * D, D) * scale;
      mx = std::max(mx, sc[j]);
    }
  }
  const float inv = static_cast<float>(1.0 / exp_shifted_512(sc, n, mx, 1.0f, sc));
  for (int64_t d = 0; d < D; d += 16) {
    const __mmask16 m = tail_mask(D - d);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
      acc0 = _mm512_fmadd_ps(_mm512_set1_ps(sc[j]), simd512::loadu(m, V + j * D + d), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_set1_ps(sc[j + 1]), simd512::loadu(m, V + (j + 1) * D + d), acc1);
    }
    if (j < n) acc0 = _mm512_fmadd_ps(_mm512_set1_ps(sc[j]), simd512::loadu(m, V + j * D + d), acc0);
    simd512::storeu(out + d, m, _mm512_mul_ps(_mm512_add_ps(acc0, acc1), _mm512_set1_ps(inv)));
  }
}

inline __m512 load_bf16(__mmask16 m, const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

void attend_bf16_512(const float* q, const uint16_t* K, const uint16_t* V, int64_t n, int64_t D, float scale,
                     float* out, float* sc) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; d += 16) {
      const __mmask16 m = tail_mask(D - d);
      acc = _mm512_fmadd_ps(simd512::loadu(m, q + d), load_bf16(m, K + j * D + d), acc);
    }
    sc[j] = _mm512_reduce_add_ps(acc) * scale;
    mx = std::max(mx, sc[j]);
  }
  const float inv = static_cast<float>(1.0 / exp_shifted_512(sc, n, mx, 1.0f, sc));
  for (int64_t d = 0; d < D; d += 16) {
    const __mmask16 m = tail_mask(D - d);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
      acc0 = _mm512_fmadd_ps(_mm512_set1_ps(sc[j]), load_bf16(m, V + j * D + d), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_set1_ps(sc[j + 1]), load_bf16(m, V + (j + 1) * D + d), acc1);
    }
    if (j < n) acc0 = _mm512_fmadd_ps(_mm512_set1_ps(sc[j]), load_bf16(m, V + j * D + d), acc0);
    simd512::storeu(out + d, m, _mm512_mul_ps(_mm512_add_ps(acc0, acc1), _mm512_set1_ps(inv)));
  }
}

void axpy_512(float a, const float* x, float* y, int64_t n) {
  __m512 av = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    simd512::storeu(y + i, m, _mm512_fmadd_ps(av, simd512::loadu(m, x + i), simd512::loadu(m, y + i)));
  }
}
}  // namespace

#pragma GCC pop_options

double exp_shifted(const float* x, int64_t n, float shift, float scale, float* out) {
  if (has_avx512()) return exp_shifted_512(x, n, shift, scale, out);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    float e = std::exp((x[i] - shift) * scale);
    if (out) out[i] = e;
    s += e;
  }
  return s;
}

double exp_sum(const float* x, int64_t n, float shift, float scale) { return exp_shifted(x, n, shift, scale, nullptr); }

int64_t argmax(const float* x, int64_t n) {
  if (has_avx512()) return argmax_512(x, n);
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

void gelu_tanh_inplace(float* x, int64_t n) { gelu_tanh_forward(x, x, n); }

void silu_mul_inplace(float* g, const float* u, int64_t n) {
  if (has_avx512()) return silu_mul_512(g, u, n);
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

float dot(const float* a, const float* b, int64_t n) {
  if (has_avx512()) return dot_512(a, b, n);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

float sum(const float* x, int64_t n) {
  if (has_avx512()) return sum_512(x, n);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return s;
}

void attend(const float* q, const float* K, const float* V, int64_t n, int64_t D, float scale, float* out,
            float* scratch) {
  if (has_avx512()) return attend_512(q, K, V, n, D, scale, out, scratch);
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    float s = 0;
    for (int64_t d = 0; d < D; ++d) s += q[d] * K[j * D + d];
    scratch[j] = s * scale;
    mx = std::max(mx, scratch[j]);
  }
  double total = 0;
  for (int64_t j = 0; j < n; ++j) total += (scratch[j] = std::exp(scratch[j] - mx));
  const float inv = static_cast<float>(1.0 / total);
  std::fill(out, out + D, 0.0f);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t d = 0; d < D; ++d) out[d] += scratch[j] * inv * V[j * D + d];
}

namespace {
float bf16_to_float(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

void to_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    y[i] = static_cast<uint16_t>(u >> 16);
  }
}

void attend_bf16(const float* q, const uint16_t* K, const uint16_t* V, int64_t n, int64_t D, float scale, float* out,
                 float* scratch) {
  if (has_avx512()) return attend_bf16_512(q, K, V, n, D, scale, out, scratch);
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    float s = 0;
    for (int64_t d = 0; d < D; ++d) s += q[d] * bf16_to_float(K[j * D + d]);
    scratch[j] = s * scale;
    mx = std::max(mx, scratch[j]);
  }
  double total = 0;
  for (int64_t j = 0; j < n; ++j) total += (scratch[j] = std::exp(scratch[j] - mx));
  const float inv = static_cast<float>(1.0 / total);
  std::fill(out, out + D, 0.0f);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t d = 0; d < D; ++d) out[d] += scratch[j] * inv * bf16_to_float(V[j * D + d]);
}

void axpy(float a, const float* x, float* y, int64_t n) {
  if (has_avx512()) return axpy_512(a, x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void add_inplace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void layer_norm(const float* x, int64_t n, const float* w, const float* b, float eps, float* y) {
  // Two-pass mean/variance in double, as the reference's float accumulations are close enough.
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= n;
  double var = 0;
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= n;
  float rstd = static_cast<float>(1.0 / std::sqrt(var + eps)), m = static_cast<float>(mean);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * rstd * w[i] + (b ? b[i] : 0.0f);
}

void rms_norm(const float* x, int64_t n, const float* w, float eps, float* y) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  float r = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * r * w[i];
}

}  // namespace rlhf::kernels
