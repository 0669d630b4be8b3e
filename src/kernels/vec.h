// Vectorised element-wise kernels for the CPU decode path (AVX-512 where the CPU has it, plain
// C++ otherwise): exp, softmax pieces, GELU, SiLU, norms, dot products. All on float arrays.
#pragma once
#include <cstdint>

namespace rlhf::kernels {

// True when the AVX-512 (F, BW, VL, DQ) kernels run on this CPU.
bool has_avx512();

// out[i] = exp((x[i] - shift) * scale); returns the sum of out (double accumulation).
double exp_shifted(const float* x, int64_t n, float shift, float scale, float* out);
// Sum of exp((x[i] - shift) * scale) without storing.
double exp_sum(const float* x, int64_t n, float shift, float scale);
// Index of the first maximum of x[0..n).
int64_t argmax(const float* x, int64_t n);
// x[i] = gelu_tanh(x[i]) (GPT-2's "gelu_new").
void gelu_tanh_inplace(float* x, int64_t n);
// g[i] = silu(g[i]) * u[i] (Llama's SwiGLU).
void silu_mul_inplace(float* g, const float* u, int64_t n);
// y = LayerNorm(x) * w + b (b may be null); one row of n.
void layer_norm(const float* x, int64_t n, const float* w, const float* b, float eps, float* y);
// y = x / sqrt(mean(x^2) + eps) * w; one row of n.
void rms_norm(const float* x, int64_t n, const float* w, float eps, float* y);
float dot(const float* a, const float* b, int64_t n);
// Sum of x[0..n) (float lanes, summed in a tree).
float sum(const float* x, int64_t n);
// One query against n cached keys/values (rows of D floats): out (D) = softmax(q.K^T * scale) V.
// scratch holds n floats.
void attend(const float* q, const float* K, const float* V, int64_t n, int64_t D, float scale, float* out,
            float* scratch);
// The same with K and V stored as bfloat16 (the upper 16 bits of a float).
void attend_bf16(const float* q, const uint16_t* K, const uint16_t* V, int64_t n, int64_t D, float scale, float* out,
                 float* scratch);
// Rounds floats to bfloat16 (nearest even).
void to_bf16(const float* x, uint16_t* y, int64_t n);
// y[i] += a * x[i]
void axpy(float a, const float* x, float* y, int64_t n);
// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);

}  // namespace rlhf::kernels
