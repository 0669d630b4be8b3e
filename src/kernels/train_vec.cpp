// Training element-wise kernels: an AVX-512 version (compiled for that target, chosen at run
// time) and a plain C++ fallback of each (see train_vec.h).
#include "kernels/train_vec.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/vec.h"

// The shared AVX-512 helpers, compiled for that target (used only inside the AVX-512 regions below).
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")
#include "kernels/simd512.h"
#pragma GCC pop_options

namespace rlhf::kernels {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f, kGeluC = 0.044715f;
}

#pragma GCC push_options
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_*, the reductions); not our code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")

namespace {
using simd512::tail_mask;

// sigmoid(2u), u = sqrt(2/pi) (x + c x^3): 0.5 (1 + tanh(u)), the GELU gate.
inline __m512 gelu_gate(__m512 x) {
  const __m512 k = _mm512_set1_ps(-2.0f * kSqrt2OverPi), c = _mm512_set1_ps(kGeluC), one = _mm512_set1_ps(1.0f);
  __m512 inner = _mm512_mul_ps(k, _mm512_fmadd_ps(_mm512_mul_ps(c, x), _mm512_mul_ps(x, x), x));
  return _mm512_div_ps(one, _mm512_add_ps(one, simd512::exp(inner)));
}

void gelu_forward_512(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    __m512 v = simd512::loadu(m, x + i);
    simd512::storeu(y + i, m, _mm512_mul_ps(v, gelu_gate(v)));
  }
}

void gelu_backward_512(const float* x, const float* gy, float* gx, int64_t n) {
  // d/dx [x s] = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 c x^2), s = sigmoid(2u)
  const __m512 one = _mm512_set1_ps(1.0f), k2 = _mm512_set1_ps(2.0f * kSqrt2OverPi),
               c3 = _mm512_set1_ps(3.0f * kGeluC);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    __m512 v = simd512::loadu(m, x + i);
    __m512 s = gelu_gate(v);
    __m512 du = _mm512_mul_ps(k2, _mm512_fmadd_ps(c3, _mm512_mul_ps(v, v), one));
    __m512 d = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(v, s), _mm512_sub_ps(one, s)), du, s);
    simd512::storeu(gx + i, m, _mm512_mul_ps(d, simd512::loadu(m, gy + i)));
  }
}

float row_max_512(const float* x, int64_t n) {
  __m512 a = _mm512_set1_ps(-INFINITY), b = a;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a = _mm512_max_ps(a, _mm512_loadu_ps(x + i));
    b = _mm512_max_ps(b, _mm512_loadu_ps(x + i + 16));
  }
  for (; i < n; i += 16) a = _mm512_mask_max_ps(a, tail_mask(n - i), a, simd512::loadu(tail_mask(n - i), x + i));
  return _mm512_reduce_max_ps(_mm512_max_ps(a, b));
}

void scale_512(float* x, int64_t n, float a) {
  const __m512 av = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    simd512::storeu(x + i, m, _mm512_mul_ps(av, simd512::loadu(m, x + i)));
  }
}

// exp(x - mx) with -inf entries giving exactly 0; returns the sum.
float exp_masked_512(float* x, int64_t n, float mx) {
  const __m512 m = _mm512_set1_ps(mx), ninf = _mm512_set1_ps(-INFINITY);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    __m512 v = simd512::loadu(k, x + i);
    const __mmask16 live = _mm512_mask_cmp_ps_mask(k, v, ninf, _CMP_NEQ_OQ);
    __m512 e = _mm512_maskz_mov_ps(live, simd512::exp(_mm512_sub_ps(v, m)));
    acc = _mm512_add_ps(acc, e);
    simd512::storeu(x + i, k, e);
  }
  return _mm512_reduce_add_ps(acc);
}

// softmax_masked_inplace for rows of at most 128 values, held in registers: one load and one
// store per value (the general path's passes would reload what the previous pass just stored).
bool softmax_short_512(float* x, int64_t n) {
  __m512 v[8];
  const int nv = static_cast<int>((n + 15) / 16);
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 mx = ninf;
  for (int i = 0; i < nv; ++i) {
    v[i] = n - 16 * i >= 16 ? _mm512_loadu_ps(x + 16 * i) : _mm512_mask_loadu_ps(ninf, tail_mask(n - 16 * i), x + 16 * i);
    mx = _mm512_max_ps(mx, v[i]);
  }
  const float m = _mm512_reduce_max_ps(mx);
  if (m == -INFINITY) return false;
  const __m512 mv = _mm512_set1_ps(m);
  __m512 acc = _mm512_setzero_ps();
  for (int i = 0; i < nv; ++i) {
    const __mmask16 live = _mm512_cmp_ps_mask(v[i], ninf, _CMP_NEQ_OQ);
    v[i] = _mm512_maskz_mov_ps(live, simd512::exp(_mm512_sub_ps(v[i], mv)));
    acc = _mm512_add_ps(acc, v[i]);
  }
  const __m512 r = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
  for (int i = 0; i < nv; ++i) {
    if (n - 16 * i >= 16)
      _mm512_storeu_ps(x + 16 * i, _mm512_mul_ps(v[i], r));
    else
      simd512::storeu(x + 16 * i, tail_mask(n - 16 * i), _mm512_mul_ps(v[i], r));
  }
  return true;
}

void softmax_backward_512(const float* p, float* d, int64_t n, float pd) {
  const __m512 s = _mm512_set1_ps(pd);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    __m512 v = _mm512_sub_ps(simd512::loadu(m, d + i), s);
    simd512::storeu(d + i, m, _mm512_mul_ps(simd512::loadu(m, p + i), v));
  }
}

void column_sums_512(const float* a, int64_t m, int64_t n, int64_t ld, float* out, bool accumulate) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tail_mask(n - j);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
      s0 = _mm512_add_ps(s0, simd512::loadu(k, a + i * ld + j));
      s1 = _mm512_add_ps(s1, simd512::loadu(k, a + (i + 1) * ld + j));
      s2 = _mm512_add_ps(s2, simd512::loadu(k, a + (i + 2) * ld + j));
      s3 = _mm512_add_ps(s3, simd512::loadu(k, a + (i + 3) * ld + j));
    }
    for (; i < m; ++i) s0 = _mm512_add_ps(s0, simd512::loadu(k, a + i * ld + j));
    __m512 s = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
    if (accumulate) s = _mm512_add_ps(s, simd512::loadu(k, out + j));
    simd512::storeu(out + j, k, s);
  }
}

float entropy_512(const float* x, int64_t n, float lse) {
  const __m512 l = _mm512_set1_ps(lse);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    __m512 v = simd512::loadu(m, x + i);
    acc = _mm512_fmadd_ps(_mm512_maskz_mov_ps(m, simd512::exp(_mm512_sub_ps(v, l))), v, acc);
  }
  return lse - _mm512_reduce_add_ps(acc);
}

void logprob_grad_512(const float* x, int64_t n, float lse, float scale, float* g) {
  const __m512 l = _mm512_set1_ps(lse), s = _mm512_set1_ps(-scale);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    __m512 e = simd512::exp(_mm512_sub_ps(simd512::loadu(m, x + i), l));
    simd512::storeu(g + i, m, _mm512_mul_ps(s, e));
  }
}

// Sum of squares: fp32 lanes over blocks of 4096 values, each block's total added in double.
double sum_squares_512(const float* x, int64_t n) {
  double total = 0;
  for (int64_t b = 0; b < n; b += 4096) {
    const int64_t e = std::min(n, b + 4096);
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = b;
    for (; i + 32 <= e; i += 32) {
      const __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
      a0 = _mm512_fmadd_ps(v0, v0, a0);
      a1 = _mm512_fmadd_ps(v1, v1, a1);
    }
    for (; i < e; i += 16) {
      const __m512 v = simd512::loadu(tail_mask(e - i), x + i);
      a0 = _mm512_fmadd_ps(v, v, a0);
    }
    total += static_cast<double>(_mm512_reduce_add_ps(_mm512_add_ps(a0, a1)));
  }
  return total;
}

// dst (cols, rows) = src (rows, cols)^T in 16 x 16 tiles: rows loaded (zero past the edges),
// transposed in registers (64 shuffles), stored as 16 destination rows (masked past the edges).
void transpose_512(const float* src, int64_t ld_src, int64_t rows, int64_t cols, float* dst, int64_t ld_dst) {
  for (int64_t i0 = 0; i0 < rows; i0 += 16) {
    const int64_t ni = std::min<int64_t>(16, rows - i0);
    const __mmask16 store_mask = tail_mask(ni);
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
      const int64_t nj = std::min<int64_t>(16, cols - j0);
      const __mmask16 load_mask = tail_mask(nj);
      __m512 r[16], t[16], u[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < ni ? simd512::loadu(load_mask, src + (i0 + i) * ld_src + j0) : _mm512_setzero_ps();
      // Pairs of rows interleaved by 32 bits, then by 64 bits: u[4g + c]'s 128-bit lane L holds
      // column 4L + c of rows 4g .. 4g + 3.
      for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
      }
      for (int g = 0; g < 4; ++g) {
        const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]),
                      c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
      }
      // A 4 x 4 transpose of 128-bit lanes per c: column 4L + c gets lane L of u[4g + c] in lane g.
      for (int c = 0; c < 4; ++c) {
        const __m512 y0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), y1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE),
                     y2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44),
                     y3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        const __m512 out[4] = {_mm512_shuffle_f32x4(y0, y2, 0x88), _mm512_shuffle_f32x4(y0, y2, 0xDD),
                               _mm512_shuffle_f32x4(y1, y3, 0x88), _mm512_shuffle_f32x4(y1, y3, 0xDD)};
        for (int L = 0; L < 4; ++L)
          if (4 * L + c < nj) simd512::storeu(dst + (j0 + 4 * L + c) * ld_dst + i0, store_mask, out[L]);
      }
    }
  }
}

void adamw_512(float* p, const float* g, float* mo, float* vo, int64_t n, const AdamWCoefs& c) {
  const __m512 gs = _mm512_set1_ps(c.grad_scale), decay = _mm512_set1_ps(1.0f - c.lr * c.weight_decay),
               b1 = _mm512_set1_ps(c.beta1), b1c = _mm512_set1_ps(1.0f - c.beta1), b2 = _mm512_set1_ps(c.beta2),
               b2c = _mm512_set1_ps(1.0f - c.beta2), rbc2 = _mm512_set1_ps(std::sqrt(c.bias_correction2)),
               eps = _mm512_set1_ps(c.eps), step = _mm512_set1_ps(-c.lr / c.bias_correction1);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    __m512 gv = _mm512_mul_ps(simd512::loadu(k, g + i), gs);
    __m512 pv = _mm512_mul_ps(simd512::loadu(k, p + i), decay);
    __m512 mv = _mm512_add_ps(_mm512_mul_ps(simd512::loadu(k, mo + i), b1), _mm512_mul_ps(gv, b1c));
    __m512 vv = _mm512_add_ps(_mm512_mul_ps(simd512::loadu(k, vo + i), b2), _mm512_mul_ps(_mm512_mul_ps(gv, gv), b2c));
    __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vv), rbc2), eps);
    pv = _mm512_add_ps(pv, _mm512_mul_ps(step, _mm512_div_ps(mv, denom)));
    simd512::storeu(p + i, k, pv);
    simd512::storeu(mo + i, k, mv);
    simd512::storeu(vo + i, k, vv);
  }
}
}  // namespace

#pragma GCC pop_options

namespace {
inline float gate(float x) { return 1.0f / (1.0f + std::exp(-2.0f * kSqrt2OverPi * (x + kGeluC * x * x * x))); }
}  // namespace

void gelu_tanh_forward(const float* x, float* y, int64_t n) {
  if (has_avx512()) return gelu_forward_512(x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * gate(x[i]);
}

void gelu_tanh_backward(const float* x, const float* gy, float* gx, int64_t n) {
  if (has_avx512()) return gelu_backward_512(x, gy, gx, n);
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i], s = gate(v);
    gx[i] = gy[i] * (s + 2.0f * v * s * (1.0f - s) * kSqrt2OverPi * (1.0f + 3.0f * kGeluC * v * v));
  }
}

float max_value(const float* x, int64_t n) {
  if (n > 0 && has_avx512()) return row_max_512(x, n);
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}

bool softmax_masked_inplace(float* x, int64_t n) {
  if (n > 0 && n <= 128 && has_avx512()) return softmax_short_512(x, n);
  const float mx = max_value(x, n);
  if (mx == -INFINITY || n == 0) return false;
  float sum = 0;
  if (has_avx512()) {
    sum = exp_masked_512(x, n, mx);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      x[i] = x[i] == -INFINITY ? 0.0f : std::exp(x[i] - mx);
      sum += x[i];
    }
  }
  scale_inplace(x, n, 1.0f / sum);
  return true;
}

void scale_inplace(float* x, int64_t n, float a) {
  if (has_avx512()) return scale_512(x, n, a);
  for (int64_t i = 0; i < n; ++i) x[i] *= a;
}

void softmax_backward_row(const float* p, float* d, int64_t n) {
  const float pd = dot(p, d, n);
  if (has_avx512()) return softmax_backward_512(p, d, n, pd);
  for (int64_t i = 0; i < n; ++i) d[i] = p[i] * (d[i] - pd);
}

void column_sums(const float* a, int64_t m, int64_t n, int64_t ld, float* out, bool accumulate) {
  if (has_avx512()) return column_sums_512(a, m, n, ld, out, accumulate);
  if (!accumulate) std::fill(out, out + n, 0.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) out[j] += a[i * ld + j];
}

float logsumexp_row(const float* x, int64_t n) {
  const float mx = max_value(x, n);
  if (!std::isfinite(mx)) return mx;  // all -inf (or a +inf / NaN present): nothing stable to do
  return mx + static_cast<float>(std::log(exp_sum(x, n, mx, 1.0f)));
}

float entropy_row(const float* x, int64_t n, float lse) {
  if (has_avx512()) return entropy_512(x, n, lse);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - lse) * x[i];
  return lse - static_cast<float>(s);
}

void logprob_grad_row(const float* x, int64_t n, float lse, int64_t target, float scale, float* g) {
  const float xt = x[target];  // read before g (which may alias x) is written
  if (has_avx512()) {
    logprob_grad_512(x, n, lse, scale, g);
  } else {
    for (int64_t i = 0; i < n; ++i) g[i] = -scale * std::exp(x[i] - lse);
  }
  g[target] = scale * (1.0f - std::exp(xt - lse));
}

void transpose(const float* src, int64_t ld_src, int64_t rows, int64_t cols, float* dst, int64_t ld_dst) {
  if (has_avx512()) return transpose_512(src, ld_src, rows, cols, dst, ld_dst);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * ld_dst + i] = src[i * ld_src + j];
}

double sum_squares(const float* x, int64_t n) {
  if (has_avx512()) return sum_squares_512(x, n);
  double total = 0;
  for (int64_t b = 0; b < n; b += 4096) {
    float block = 0;
    for (int64_t i = b; i < std::min(n, b + 4096); ++i) block += x[i] * x[i];
    total += block;
  }
  return total;
}

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoefs& c) {
  if (has_avx512()) return adamw_512(p, g, m, v, n, c);
  const float decay = 1.0f - c.lr * c.weight_decay, rbc2 = std::sqrt(c.bias_correction2),
              step = -c.lr / c.bias_correction1;
  for (int64_t i = 0; i < n; ++i) {
    const float gv = g[i] * c.grad_scale;
    m[i] = m[i] * c.beta1 + gv * (1.0f - c.beta1);
    v[i] = v[i] * c.beta2 + gv * gv * (1.0f - c.beta2);
    p[i] = p[i] * decay + step * (m[i] / (std::sqrt(v[i]) / rbc2 + c.eps));
  }
}

}  // namespace rlhf::kernels
