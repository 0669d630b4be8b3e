// Packed small-M matmul (see gemm.h): AVX-512 register-blocked micro-kernels instantiated for
// every block of 1..8 rows x 1..3 panels, fp32 weights or bf16 k-pairs (vdpbf16ps where the CPU
// has AVX512_BF16, the same arithmetic with FMAs where not), and plain C++ for CPUs without
// AVX-512.
#include "kernels/gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <utility>

#include "kernels/vec.h"

// The shared AVX-512 helpers, compiled for that target (used only inside the AVX-512 regions below).
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")
#include "kernels/simd512.h"
#pragma GCC pop_options

namespace rlhf::kernels {

namespace {
constexpr int kMaxRows = 8;    // rows per micro-kernel block
constexpr int kGroup = 3;      // panels per micro-kernel block

uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7FFF + ((u >> 16) & 1);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}
float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::atomic<int> g_isa_limit{static_cast<int>(Isa::Avx512Bf16)};

// --- plain C++ (no AVX-512) ------------------------------------------------------------------
void block_generic_f32(const float* X, int64_t ldx, int mr, const float* W, int64_t pstride, int np, int64_t K,
                       const float* bias, float* Y, int64_t ldy, int ncols_last, bool acc_y) {
  for (int m = 0; m < mr; ++m)
    for (int p = 0; p < np; ++p) {
      float acc[kPanel] = {};
      const float* w = W + p * pstride;
      for (int64_t k = 0; k < K; ++k) {
        const float x = X[m * ldx + k];
        for (int j = 0; j < kPanel; ++j) acc[j] += x * w[k * kPanel + j];
      }
      const int nc = p == np - 1 ? ncols_last : static_cast<int>(kPanel);
      for (int j = 0; j < nc; ++j) {
        float r = acc[j] + (bias ? bias[p * kPanel + j] : 0.0f);
        float& y = Y[m * ldy + p * kPanel + j];
        y = acc_y ? y + r : r;
      }
    }
}

void block_generic_b16(const uint32_t* Xp, int64_t ldxp, int mr, const uint16_t* W, int64_t pstride, int np,
                       int64_t K2, const float* bias, float* Y, int64_t ldy, int ncols_last, bool acc_y) {
  for (int m = 0; m < mr; ++m)
    for (int p = 0; p < np; ++p) {
      float acc[kPanel] = {};
      const uint16_t* w = W + p * pstride;
      for (int64_t kk = 0; kk < K2; ++kk) {
        const uint32_t xp = Xp[m * ldxp + kk];
        const float x_hi = bits_to_float(xp & 0xFFFF0000u), x_lo = bits_to_float(xp << 16);
        for (int j = 0; j < kPanel; ++j) {
          // Products of two bf16 values are exact in fp32: the same sums as vdpbf16ps.
          acc[j] += x_hi * bits_to_float(uint32_t(w[(kk * kPanel + j) * 2 + 1]) << 16);
          acc[j] += x_lo * bits_to_float(uint32_t(w[(kk * kPanel + j) * 2]) << 16);
        }
      }
      const int nc = p == np - 1 ? ncols_last : static_cast<int>(kPanel);
      for (int j = 0; j < nc; ++j) {
        float r = acc[j] + (bias ? bias[p * kPanel + j] : 0.0f);
        float& y = Y[m * ldy + p * kPanel + j];
        y = acc_y ? y + r : r;
      }
    }
}

using KernF32 = void (*)(const float* X, int64_t ldx, const float* W, int64_t pstride, int64_t K, const float* bias,
                         float* Y, int64_t ldy, int ncols_last, bool acc_y);
using KernB16 = void (*)(const uint32_t* Xp, int64_t ldxp, const uint16_t* W, int64_t pstride, int64_t K2,
                         const float* bias, float* Y, int64_t ldy, int ncols_last, bool acc_y);
using TableF32 = std::array<std::array<KernF32, kGroup>, kMaxRows>;
using TableB16 = std::array<std::array<KernB16, kGroup>, kMaxRows>;
}  // namespace

#pragma GCC push_options
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_*); not our code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")
namespace {

// Stores MR x NP accumulators (+ bias, + Y when accumulating); the last panel may be partial.
template <int MR, int NP>
inline void store_block(__m512 (&acc)[MR][NP], const float* bias, float* Y, int64_t ldy, int ncols_last, bool acc_y) {
#pragma GCC unroll 3
  for (int p = 0; p < NP; ++p) {
    const int nc = p == NP - 1 ? ncols_last : static_cast<int>(kPanel);
    const __mmask16 mask = nc >= kPanel ? 0xFFFF : static_cast<__mmask16>((1u << nc) - 1);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + p * kPanel) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      __m512 r = _mm512_add_ps(acc[m][p], b);
      float* y = Y + m * ldy + p * kPanel;
      if (acc_y) r = _mm512_add_ps(r, simd512::loadu(mask, y));
      simd512::storeu(y, mask, r);
    }
  }
}

template <int MR, int NP>
void kern_f32(const float* X, int64_t ldx, const float* W, int64_t pstride, int64_t K, const float* bias, float* Y,
              int64_t ldy, int ncols_last, bool acc_y) {
  __m512 acc[MR][NP];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 3
    for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 w[NP];
#pragma GCC unroll 3
    for (int p = 0; p < NP; ++p) w[p] = _mm512_loadu_ps(W + p * pstride + k * kPanel);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m512 x = _mm512_set1_ps(X[m * ldx + k]);
#pragma GCC unroll 3
      for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_fmadd_ps(x, w[p], acc[m][p]);
    }
  }
  store_block<MR, NP>(acc, bias, Y, ldy, ncols_last, acc_y);
}

// bf16 k-pairs with FMAs: odd k, then even k, per pair (vdpbf16ps's order; exact products).
template <int MR, int NP>
void kern_b16_fma(const uint32_t* Xp, int64_t ldxp, const uint16_t* W, int64_t pstride, int64_t K2,
                  const float* bias, float* Y, int64_t ldy, int ncols_last, bool acc_y) {
  __m512 acc[MR][NP];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 3
    for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_setzero_ps();
  const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int64_t kk = 0; kk < K2; ++kk) {
    __m512 w_hi[NP], w_lo[NP];
#pragma GCC unroll 3
    for (int p = 0; p < NP; ++p) {
      const __m512i w = _mm512_loadu_si512(W + p * pstride + kk * 2 * kPanel);
      w_hi[p] = _mm512_castsi512_ps(_mm512_and_si512(w, hi_mask));
      w_lo[p] = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    }
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const uint32_t xp = Xp[m * ldxp + kk];
      const __m512 x_hi = _mm512_set1_ps(bits_to_float(xp & 0xFFFF0000u));
      const __m512 x_lo = _mm512_set1_ps(bits_to_float(xp << 16));
#pragma GCC unroll 3
      for (int p = 0; p < NP; ++p) {
        acc[m][p] = _mm512_fmadd_ps(x_hi, w_hi[p], acc[m][p]);
        acc[m][p] = _mm512_fmadd_ps(x_lo, w_lo[p], acc[m][p]);
      }
    }
  }
  store_block<MR, NP>(acc, bias, Y, ldy, ncols_last, acc_y);
}

// bf16 bits (round to nearest even; NaN quieted, as to_bf16) in the low half of each lane.
inline __m512i bf16_bits_512(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
                                                _mm512_set1_epi32(0x7F800000));
  return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
}

// One bf16 panel (cols <= 16 columns starting at `base`) into dst: (K2, 16) k-pairs as uint32
// (even k low, odd k high), zero padded. Rows contiguous along n (stride_n == 1).
void pack_panel_b16_rows(const float* base, int64_t K, int64_t stride_k, int64_t cols, uint32_t* dst) {
  const __mmask16 m = cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1);
  for (int64_t k = 0; k < K; k += 2) {
    const __m512i lo = bf16_bits_512(_mm512_maskz_loadu_ps(m, base + k * stride_k));
    const __m512i hi = k + 1 < K ? bf16_bits_512(_mm512_maskz_loadu_ps(m, base + (k + 1) * stride_k))
                                 : _mm512_setzero_si512();
    _mm512_storeu_si512(dst + (k / 2) * kPanel, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
  }
}

// The same with columns contiguous along k (stride_k == 1, torch's (out, in) weights): tiles of
// 16 k x 16 columns, each column's 16 values rounded and paired in registers, then transposed.
void pack_panel_b16_cols(const float* base, int64_t K, int64_t stride_n, int64_t cols, uint32_t* dst) {
  alignas(64) uint32_t tile[kPanel][8];
  for (int64_t k0 = 0; k0 < K; k0 += 16) {
    const int64_t kn = std::min<int64_t>(16, K - k0), pairs = (kn + 1) / 2;
    const __mmask16 m = kn >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << kn) - 1);
    for (int64_t j = 0; j < kPanel; ++j) {
      const __m512i r = j < cols ? bf16_bits_512(_mm512_maskz_loadu_ps(m, base + j * stride_n + k0))
                                 : _mm512_setzero_si512();
      _mm256_store_si256(reinterpret_cast<__m256i*>(tile[j]), _mm512_cvtepi32_epi16(r));
    }
    for (int64_t q = 0; q < pairs; ++q) {
      uint32_t* d = dst + (k0 / 2 + q) * kPanel;
      for (int64_t j = 0; j < kPanel; ++j) d[j] = tile[j][q];
    }
  }
}

// One activation row as bf16 k-pairs (low half: even k, high half: odd k; a missing odd k is 0),
// i.e. the row's bf16 values in order, rounded as to_bf16.
void row_to_pairs_512(const float* x, int64_t K, uint32_t* dst) {
  auto* d16 = reinterpret_cast<uint16_t*>(dst);
  int64_t k = 0;
  for (; k + 16 <= K; k += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d16 + k), _mm512_cvtepi32_epi16(bf16_bits_512(_mm512_loadu_ps(x + k))));
  for (; k < K; ++k) d16[k] = to_bf16(x[k]);
  if (K & 1) d16[K] = 0;
}

template <size_t... R>
constexpr TableF32 make_f32(std::index_sequence<R...>) {
  return {{{&kern_f32<R + 1, 1>, &kern_f32<R + 1, 2>, &kern_f32<R + 1, 3>}...}};
}
template <size_t... R>
constexpr TableB16 make_b16_fma(std::index_sequence<R...>) {
  return {{{&kern_b16_fma<R + 1, 1>, &kern_b16_fma<R + 1, 2>, &kern_b16_fma<R + 1, 3>}...}};
}
}  // namespace
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2")
namespace {
template <int MR, int NP>
void kern_b16_dp(const uint32_t* Xp, int64_t ldxp, const uint16_t* W, int64_t pstride, int64_t K2, const float* bias,
                 float* Y, int64_t ldy, int ncols_last, bool acc_y) {
  __m512 acc[MR][NP];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 3
    for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < K2; ++kk) {
    __m512bh w[NP];
#pragma GCC unroll 3
    for (int p = 0; p < NP; ++p) w[p] = (__m512bh)_mm512_loadu_si512(W + p * pstride + kk * 2 * kPanel);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m512bh x = (__m512bh)_mm512_set1_epi32(static_cast<int>(Xp[m * ldxp + kk]));
#pragma GCC unroll 3
      for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_dpbf16_ps(acc[m][p], w[p], x);
    }
  }
  store_block<MR, NP>(acc, bias, Y, ldy, ncols_last, acc_y);
}

template <size_t... R>
constexpr TableB16 make_b16_dp(std::index_sequence<R...>) {
  return {{{&kern_b16_dp<R + 1, 1>, &kern_b16_dp<R + 1, 2>, &kern_b16_dp<R + 1, 3>}...}};
}
}  // namespace
#pragma GCC pop_options

Isa cpu_isa() {
  static const Isa isa = !has_avx512()                           ? Isa::Generic
                         : __builtin_cpu_supports("avx512bf16") ? Isa::Avx512Bf16
                                                                 : Isa::Avx512;
  return isa;
}
Isa active_isa() { return static_cast<Isa>(std::min(static_cast<int>(cpu_isa()), g_isa_limit.load())); }
void set_isa_limit(Isa limit) { g_isa_limit.store(static_cast<int>(limit)); }

PackedMatrix pack_matrix(const float* w, int64_t K, int64_t N, int64_t stride_k, int64_t stride_n, const float* bias,
                         bool bf16, ThreadPool* pool) {
  PackedMatrix p;
  p.K = K;
  p.N = N;
  p.bf16 = bf16;
  const int64_t K2 = p.k_pairs();
  if (bf16)
    p.b16.assign(p.panels() * K2 * 2 * kPanel, 0);
  else
    p.f32.assign(p.panels() * K * kPanel, 0.0f);
  // Destination of W[k, n] inside panel pi (column j = n - 16 pi).
  auto put = [&](int64_t pi, int64_t k, int64_t j, float v) {
    if (bf16)
      p.b16[((pi * K2 + k / 2) * kPanel + j) * 2 + (k & 1)] = to_bf16(v);
    else
      p.f32[(pi * K + k) * kPanel + j] = v;
  };
  // bf16 panels from unit-stride rows or columns take the AVX-512 routines (bit-identical to put).
  const bool fast_b16 = bf16 && cpu_isa() != Isa::Generic && (stride_n == 1 || stride_k == 1);
  auto body = [&](int64_t p0, int64_t p1) {
    for (int64_t pi = p0; pi < p1; ++pi) {
      const int64_t cols = std::min<int64_t>(kPanel, N - pi * kPanel);
      const float* base = w + pi * kPanel * stride_n;
      if (fast_b16) {
        auto* dst = reinterpret_cast<uint32_t*>(p.b16.data()) + pi * K2 * kPanel;
        if (stride_n == 1)
          pack_panel_b16_rows(base, K, stride_k, cols, dst);
        else
          pack_panel_b16_cols(base, K, stride_n, cols, dst);
      } else if (stride_n == 1) {
        // Rows of W contiguous along n: 16 consecutive values per k.
        for (int64_t k = 0; k < K; ++k) {
          const float* src = base + k * stride_k;
          if (!bf16)
            std::memcpy(p.f32.data() + (pi * K + k) * kPanel, src, cols * sizeof(float));
          else
            for (int64_t j = 0; j < cols; ++j) put(pi, k, j, src[j]);
        }
      } else {
        // Columns of W contiguous along k (torch's (out, in) Linear): 16 x 16 tiles, read along k.
        for (int64_t k0 = 0; k0 < K; k0 += 16) {
          const int64_t kn = std::min<int64_t>(16, K - k0);
          for (int64_t j = 0; j < cols; ++j) {
            const float* src = base + j * stride_n + k0 * stride_k;
            for (int64_t kk = 0; kk < kn; ++kk) put(pi, k0 + kk, j, src[kk * stride_k]);
          }
        }
      }
    }
  };
  if (pool)
    pool->run(p.panels(), body);
  else
    body(0, p.panels());
  if (bias) p.bias.assign(bias, bias + N);
  return p;
}

PackedMatrix pack_matrix(const float* w, int64_t K, int64_t N, bool transposed, const float* bias, bool bf16) {
  return transposed ? pack_matrix(w, K, N, 1, K, bias, bf16) : pack_matrix(w, K, N, N, 1, bias, bf16);
}

void matmul(const float* X, int64_t ldx, int64_t M, const PackedMatrix& W, float* Y, int64_t ldy, bool accumulate,
            ThreadPool& pool) {
  static const TableF32 t_f32 = make_f32(std::make_index_sequence<kMaxRows>{});
  static const TableB16 t_b16_fma = make_b16_fma(std::make_index_sequence<kMaxRows>{});
  static const TableB16 t_b16_dp = make_b16_dp(std::make_index_sequence<kMaxRows>{});
  if (M <= 0) return;
  const Isa isa = active_isa();
  const int64_t K = W.K, N = W.N, P = W.panels(), K2 = W.k_pairs();
  // Activations as bf16 k-pairs (low half: even k, high half: odd k; a missing odd k is 0).
  thread_local std::vector<uint32_t> xpairs;
  if (W.bf16) {
    if (static_cast<int64_t>(xpairs.size()) < M * K2) xpairs.resize(M * K2);
    for (int64_t m = 0; m < M; ++m) {
      if (isa != Isa::Generic) {
        row_to_pairs_512(X + m * ldx, K, xpairs.data() + m * K2);
        continue;
      }
      for (int64_t kk = 0; kk < K2; ++kk) {
        const uint32_t lo = to_bf16(X[m * ldx + 2 * kk]);
        const uint32_t hi = 2 * kk + 1 < K ? to_bf16(X[m * ldx + 2 * kk + 1]) : 0;
        xpairs[m * K2 + kk] = lo | (hi << 16);
      }
    }
  }
  const uint32_t* xp = xpairs.data();
  // Row blocks of at most kMaxRows, as even as possible (16 rows: 8 + 8; 12: 6 + 6).
  const int64_t nblocks = (M + kMaxRows - 1) / kMaxRows;
  const int64_t groups = (P + kGroup - 1) / kGroup;
  pool.run(groups, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t p0 = g * kGroup;
      const int np = static_cast<int>(std::min<int64_t>(kGroup, P - p0));
      const int ncols_last = static_cast<int>(std::min<int64_t>(kPanel, N - (p0 + np - 1) * kPanel));
      const float* bias = W.bias.empty() ? nullptr : W.bias.data() + p0 * kPanel;
      float* y0 = Y + p0 * kPanel;
      int64_t m0 = 0;
      for (int64_t b = 0; b < nblocks; ++b) {
        const int mr = static_cast<int>(M / nblocks + (b < M % nblocks ? 1 : 0));
        float* y = y0 + m0 * ldy;
        if (W.bf16) {
          const uint16_t* w = W.b16.data() + p0 * K2 * 2 * kPanel;
          const int64_t ps = K2 * 2 * kPanel;
          if (isa == Isa::Avx512Bf16)
            t_b16_dp[mr - 1][np - 1](xp + m0 * K2, K2, w, ps, K2, bias, y, ldy, ncols_last, accumulate);
          else if (isa == Isa::Avx512)
            t_b16_fma[mr - 1][np - 1](xp + m0 * K2, K2, w, ps, K2, bias, y, ldy, ncols_last, accumulate);
          else
            block_generic_b16(xp + m0 * K2, K2, mr, w, ps, np, K2, bias, y, ldy, ncols_last, accumulate);
        } else {
          const float* w = W.f32.data() + p0 * K * kPanel;
          const int64_t ps = K * kPanel;
          if (isa != Isa::Generic)
            t_f32[mr - 1][np - 1](X + m0 * ldx, ldx, w, ps, K, bias, y, ldy, ncols_last, accumulate);
          else
            block_generic_f32(X + m0 * ldx, ldx, mr, w, ps, np, K, bias, y, ldy, ncols_last, accumulate);
        }
        m0 += mr;
      }
    }
  });
}

}  // namespace rlhf::kernels
