// Register-blocked fp32 products for the small matrices of attention (a few dozen to a few hundred
// rows and columns per head), single-threaded. oneDNN's sgemm pays a fixed cost per call that
// dominated these shapes (measured on PPO's GPT-2-small batch, 16 x 12 heads of 96 x 64: 71 % of
// the attention forward's time inside sgemm, ~23 us per head for four products of ~1 MFLOP each).
#pragma once
#include <cstdint>

namespace rlhf::kernels {

// C (M, N) = alpha * A (M, K) . B (K, N) + beta * C, where A[m, k] = A[m * sam + k * sak] (a
// transposed A is a stride swap), B and C row-major with leading dimensions ldb and ldc. beta == 0
// never reads C. AVX-512 where the CPU has it; otherwise oneDNN's sgemm (A with a unit stride) or a
// plain loop.
void small_gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t sam, int64_t sak, const float* B,
                int64_t ldb, float beta, float* C, int64_t ldc);
// The path small_gemm takes on CPUs without AVX-512 (callable on any CPU, so tests cover it).
void small_gemm_fallback(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t sam, int64_t sak,
                         const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace rlhf::kernels
