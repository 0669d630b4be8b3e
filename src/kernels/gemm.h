// Small-M matrix products for decoding: Y (M, N) = X (M, K) . W (K, N) + bias, with W packed
// once into panels of 16 output columns (K x 16 contiguous, fp32 or bf16), so a decode step
// streams each weight byte exactly once and uses it for all M rows held in registers.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/thread_pool.h"

namespace rlhf::kernels {

constexpr int64_t kPanel = 16;  // output columns per panel (one AVX-512 register of floats)

struct PackedMatrix {
  int64_t K = 0, N = 0;          // logical shape of W (K, N)
  bool bf16 = false;             // weights stored as bfloat16 (round to nearest even)
  std::vector<float> f32;        // panels: (ceil(N/16), K, 16), zero padded
  std::vector<uint16_t> b16;     // same layout in bfloat16
  std::vector<float> bias;       // (N) or empty

  int64_t panels() const { return (N + kPanel - 1) / kPanel; }
  size_t bytes() const { return bf16 ? b16.size() * 2 : f32.size() * 4; }
};

// Packs W. `w` holds K*N floats: (K, N) row-major when transposed is false, (N, K) row-major
// (torch Linear's (out, in)) when true. bias: N floats or null.
PackedMatrix pack_matrix(const float* w, int64_t K, int64_t N, bool transposed, const float* bias, bool bf16);

// Y[m, n] (+)= sum_k X[m, k] W[k, n] + bias[n]; ldx/ldy are row strides. accumulate adds into Y.
void matmul(const float* X, int64_t ldx, int64_t M, const PackedMatrix& W, float* Y, int64_t ldy, bool accumulate,
            ThreadPool& pool);

}  // namespace rlhf::kernels
