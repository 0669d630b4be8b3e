// Packed small-M matmul: AVX-512 register-blocked kernels (M rows x 16 columns per panel,
// instantiated for every M from 1 to 16, fp32 or bf16 weights widened to fp32 in registers)
// and a plain C++ fallback for CPUs without AVX-512.
#include "kernels/gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/vec.h"

namespace rlhf::kernels {

namespace {
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

using PanelFn = void (*)(const float* X, int64_t ldx, const void* wp, int64_t K, const float* bias, float* Y,
                         int64_t ldy, int ncols, bool acc_y);

// Plain C++ panel kernel (any M), used when the CPU has no AVX-512.
template <bool BF16>
void panel_generic(const float* X, int64_t ldx, int mr, const void* wp, int64_t K, const float* bias, float* Y,
                   int64_t ldy, int ncols, bool acc_y) {
  for (int m = 0; m < mr; ++m) {
    float acc[kPanel] = {};
    for (int64_t k = 0; k < K; ++k) {
      float x = X[m * ldx + k];
      for (int j = 0; j < kPanel; ++j) {
        float w = BF16 ? from_bf16(static_cast<const uint16_t*>(wp)[k * kPanel + j])
                       : static_cast<const float*>(wp)[k * kPanel + j];
        acc[j] += x * w;
      }
    }
    for (int j = 0; j < ncols; ++j) {
      float r = acc[j] + (bias ? bias[j] : 0.0f);
      Y[m * ldy + j] = acc_y ? Y[m * ldy + j] + r : r;
    }
  }
}
}  // namespace

#pragma GCC push_options
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_*); not our code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")
namespace {
template <bool BF16>
inline __m512 load_w(const void* wp, int64_t k) {
  if constexpr (BF16) {
    __m256i r = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(wp) + k * kPanel));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(r), 16));
  } else {
    return _mm512_loadu_ps(static_cast<const float*>(wp) + k * kPanel);
  }
}

// MR rows x 16 columns; KU independent accumulator sets hide FMA latency when MR is small.
template <int MR, bool BF16>
void panel_512(const float* X, int64_t ldx, const void* wp, int64_t K, const float* bias, float* Y, int64_t ldy,
               int ncols, bool acc_y) {
  constexpr int KU = MR == 1 ? 4 : MR <= 3 ? 2 : 1;
  __m512 acc[KU][MR];
#pragma GCC unroll 4
  for (int u = 0; u < KU; ++u)
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) acc[u][m] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + KU <= K; k += KU) {
#pragma GCC unroll 4
    for (int u = 0; u < KU; ++u) {
      __m512 w = load_w<BF16>(wp, k + u);
#pragma GCC unroll 16
      for (int m = 0; m < MR; ++m) acc[u][m] = _mm512_fmadd_ps(_mm512_set1_ps(X[m * ldx + k + u]), w, acc[u][m]);
    }
  }
  for (; k < K; ++k) {
    __m512 w = load_w<BF16>(wp, k);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) acc[0][m] = _mm512_fmadd_ps(_mm512_set1_ps(X[m * ldx + k]), w, acc[0][m]);
  }
  const __mmask16 mask = ncols >= kPanel ? 0xFFFF : static_cast<__mmask16>((1u << ncols) - 1);
  const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    __m512 r = acc[0][m];
#pragma GCC unroll 4
    for (int u = 1; u < KU; ++u) r = _mm512_add_ps(r, acc[u][m]);
    r = _mm512_add_ps(r, b);
    if (acc_y) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, Y + m * ldy));
    _mm512_mask_storeu_ps(Y + m * ldy, mask, r);
  }
}

template <bool BF16, size_t... I>
constexpr std::array<PanelFn, sizeof...(I)> make_table(std::index_sequence<I...>) {
  return {&panel_512<static_cast<int>(I) + 1, BF16>...};
}
}  // namespace
#pragma GCC pop_options

PackedMatrix pack_matrix(const float* w, int64_t K, int64_t N, bool transposed, const float* bias, bool bf16) {
  PackedMatrix p;
  p.K = K;
  p.N = N;
  p.bf16 = bf16;
  const int64_t total = p.panels() * K * kPanel;
  if (bf16)
    p.b16.assign(total, 0);
  else
    p.f32.assign(total, 0.0f);
  for (int64_t pi = 0; pi < p.panels(); ++pi) {
    int64_t cols = std::min<int64_t>(kPanel, N - pi * kPanel);
    for (int64_t j = 0; j < cols; ++j) {
      int64_t n = pi * kPanel + j;
      for (int64_t k = 0; k < K; ++k) {
        float v = transposed ? w[n * K + k] : w[k * N + n];
        int64_t dst = (pi * K + k) * kPanel + j;
        if (bf16)
          p.b16[dst] = to_bf16(v);
        else
          p.f32[dst] = v;
      }
    }
  }
  if (bias) p.bias.assign(bias, bias + N);
  return p;
}

void matmul(const float* X, int64_t ldx, int64_t M, const PackedMatrix& W, float* Y, int64_t ldy, bool accumulate,
            ThreadPool& pool) {
  static const auto table_f32 = make_table<false>(std::make_index_sequence<16>{});
  static const auto table_b16 = make_table<true>(std::make_index_sequence<16>{});
  const bool avx = has_avx512();
  const int64_t K = W.K, N = W.N;
  const void* base = W.bf16 ? static_cast<const void*>(W.b16.data()) : static_cast<const void*>(W.f32.data());
  const size_t elem = W.bf16 ? 2 : 4;
  pool.run(W.panels(), [&](int64_t p0, int64_t p1) {
    for (int64_t pi = p0; pi < p1; ++pi) {
      const void* wp = static_cast<const char*>(base) + static_cast<size_t>(pi * K * kPanel) * elem;
      const int ncols = static_cast<int>(std::min<int64_t>(kPanel, N - pi * kPanel));
      const float* bias = W.bias.empty() ? nullptr : W.bias.data() + pi * kPanel;
      for (int64_t m0 = 0; m0 < M; m0 += kPanel) {
        const int mr = static_cast<int>(std::min<int64_t>(kPanel, M - m0));
        const float* x = X + m0 * ldx;
        float* y = Y + m0 * ldy + pi * kPanel;
        if (avx)
          (W.bf16 ? table_b16 : table_f32)[mr - 1](x, ldx, wp, K, bias, y, ldy, ncols, accumulate);
        else if (W.bf16)
          panel_generic<true>(x, ldx, mr, wp, K, bias, y, ldy, ncols, accumulate);
        else
          panel_generic<false>(x, ldx, mr, wp, K, bias, y, ldy, ncols, accumulate);
      }
    }
  });
}

}  // namespace rlhf::kernels
