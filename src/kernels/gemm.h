// Small-M matrix products for decoding: Y (M, N) = X (M, K) . W (K, N) + bias, with W packed
// once into panels of 16 output columns, so a decode step streams each weight byte from memory
// once and uses it for all M rows. A register-blocked micro-kernel keeps up to 8 rows x 3 panels
// (48 columns) of accumulators, so each weight vector loaded serves 8 rows and each broadcast
// activation 3 panels; the two threads split the panels (columns).
//
// fp32 weights: panels (P, K, 16) floats, one FMA per row and k.
// bf16 weights: panels (P, ceil(K/2), 16, 2) bfloat16, the two values of a k-pair side by side in
// one 32-bit lane, multiplied by the activations rounded to bfloat16 with AVX512_BF16's
// vdpbf16ps (32 products per instruction). CPUs without AVX512_BF16 get the same arithmetic
// (exact bf16 x bf16 products added in the same order, odd k first) from AVX-512F FMAs or plain
// C++; the results agree up to denormals.
//
// Every row's sums run over k in the same order whatever M is and whichever block the row falls
// in, so a row's result does not depend on the batch it is computed in.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/hugepages.h"

#include "kernels/thread_pool.h"

namespace rlhf::kernels {

constexpr int64_t kPanel = 16;  // output columns per panel (one AVX-512 register of floats)

struct PackedMatrix {
  int64_t K = 0, N = 0;          // logical shape of W (K, N)
  bool bf16 = false;             // weights stored as bfloat16 (round to nearest even)
  // Read whole once per decode step: on huge pages with RLHF_HUGEPAGES=1 (kernels/hugepages.h).
  std::vector<float, HugeAlloc<float>> f32;        // panels: (ceil(N/16), K, 16), zero padded
  std::vector<uint16_t, HugeAlloc<uint16_t>> b16;  // panels: (ceil(N/16), ceil(K/2), 16, 2), zero padded
  std::vector<float> bias;       // (N) or empty

  int64_t panels() const { return (N + kPanel - 1) / kPanel; }
  int64_t k_pairs() const { return (K + 1) / 2; }
  size_t bytes() const { return bf16 ? b16.size() * 2 : f32.size() * 4; }
};

// Packs W. `w` holds K*N floats: (K, N) row-major when transposed is false, (N, K) row-major
// (torch Linear's (out, in)) when true. bias: N floats or null.
PackedMatrix pack_matrix(const float* w, int64_t K, int64_t N, bool transposed, const float* bias, bool bf16);
// The same from any strided W: W[k, n] = w[k * stride_k + n * stride_n] (a transposed view of a
// torch weight needs no copy first); panels are packed in parallel on `pool` when given.
PackedMatrix pack_matrix(const float* w, int64_t K, int64_t N, int64_t stride_k, int64_t stride_n, const float* bias,
                         bool bf16, ThreadPool* pool = nullptr);

// Y[m, n] (+)= sum_k X[m, k] W[k, n] + bias[n]; ldx/ldy are row strides. accumulate adds into Y.
void matmul(const float* X, int64_t ldx, int64_t M, const PackedMatrix& W, float* Y, int64_t ldy, bool accumulate,
            ThreadPool& pool);

// Which instruction set matmul uses: the best this CPU has, capped by set_isa_limit (tests run
// the fallbacks on any CPU this way).
enum class Isa { Generic = 0, Avx512 = 1, Avx512Bf16 = 2 };
Isa cpu_isa();            // the best this CPU supports
Isa active_isa();         // min(cpu_isa(), limit)
void set_isa_limit(Isa limit);

}  // namespace rlhf::kernels
