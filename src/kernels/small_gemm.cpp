// small_gemm (see small_gemm.h): micro-kernels of up to 6 rows x 4 vectors (64 columns) of
// accumulators; per k, the 4 vectors of B's row are loaded once and each of the 6 A values is
// broadcast once (24 FMAs per 10 loads). Column tiles run outermost so a tile of B (K x 64 floats)
// stays in L1 while every row block passes over it.
#include "kernels/small_gemm.h"

#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "kernels/vec.h"
#include "rlhf/io/error.h"

namespace rlhf::kernels {

namespace {
constexpr int kRows = 6;  // rows per micro-kernel
constexpr int kVecs = 4;  // 16-float vectors of columns per micro-kernel

using Kern = void (*)(int64_t K, float alpha, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb,
                      float beta, float* C, int64_t ldc, __mmask16 last);
using Table = std::array<std::array<Kern, kVecs>, kRows>;
}  // namespace

#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")
namespace {
// MR rows x NV vectors; the last vector's columns are `last` (a mask).
template <int MR, int NV>
void kern(int64_t K, float alpha, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb, float beta,
          float* C, int64_t ldc, __mmask16 last) {
  __m512 acc[MR][NV];
#pragma GCC unroll 6
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NV];
    const float* bk = B + k * ldb;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      b[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, bk + 16 * v) : _mm512_loadu_ps(bk + 16 * v);
    const float* ak = A + k * sak;
#pragma GCC unroll 6
    for (int m = 0; m < MR; ++m) {
      const __m512 a = _mm512_set1_ps(ak[m * sam]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_fmadd_ps(a, b[v], acc[m][v]);
    }
  }
  const __m512 al = _mm512_set1_ps(alpha), be = _mm512_set1_ps(beta);
#pragma GCC unroll 6
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* c = C + m * ldc + 16 * v;
      const __mmask16 mk = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      __m512 r = _mm512_mul_ps(acc[m][v], al);
      if (beta != 0.0f) r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, c), be, r);
      if (mk == 0xFFFF)
        _mm512_storeu_ps(c, r);
      else
        _mm512_mask_storeu_ps(c, mk, r);
    }
}

template <size_t... R>
constexpr Table make_table(std::index_sequence<R...>) {
  return {{{&kern<R + 1, 1>, &kern<R + 1, 2>, &kern<R + 1, 3>, &kern<R + 1, 4>}...}};
}
}  // namespace
#pragma GCC pop_options

// Without AVX-512: oneDNN's sgemm where A has a unit stride (the layouts attention uses; the path
// it took before this kernel), a plain loop otherwise.
void small_gemm_fallback(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t sam, int64_t sak,
                         const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K > 0 && (sak == 1 || sam == 1)) {
    const bool ta = sak != 1;
    const dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', 'N', M, N, K, alpha, A, ta ? sak : sam, B, ldb, beta, C, ldc);
    if (st != dnnl_success) throw Error("oneDNN sgemm failed (status " + std::to_string(static_cast<int>(st)) + ")");
    return;
  }
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float s = 0;
      for (int64_t k = 0; k < K; ++k) s += A[m * sam + k * sak] * B[k * ldb + n];
      float& c = C[m * ldc + n];
      c = beta == 0.0f ? alpha * s : alpha * s + beta * c;
    }
}

void small_gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t sam, int64_t sak, const float* B,
                int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (!has_avx512()) return small_gemm_fallback(M, N, K, alpha, A, sam, sak, B, ldb, beta, C, ldc);
  static const Table table = make_table(std::make_index_sequence<kRows>{});
  constexpr int64_t tile = 16 * kVecs;
  for (int64_t n0 = 0; n0 < N; n0 += tile) {
    const int64_t nc = std::min(tile, N - n0);
    const int nv = static_cast<int>((nc + 15) / 16);
    const int tail = static_cast<int>(nc - 16 * (nv - 1));
    const __mmask16 last = tail >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << tail) - 1);
    for (int64_t m0 = 0; m0 < M; m0 += kRows) {
      const int mr = static_cast<int>(std::min<int64_t>(kRows, M - m0));
      table[mr - 1][nv - 1](K, alpha, A + m0 * sam, sam, sak, B + n0, ldb, beta, C + m0 * ldc + n0, ldc, last);
    }
  }
}

}  // namespace rlhf::kernels
