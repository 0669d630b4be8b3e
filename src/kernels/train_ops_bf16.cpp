// oneDNN bf16 matmuls for the training linear layer (see train_ops_bf16.h).
#include "kernels/train_ops_bf16.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/util/intrusive_ptr.h>
#include <oneapi/dnnl/dnnl.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/train_ops.h"
#include "kernels/train_vec.h"
#include "rlhf/io/error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RLHF_BF16_X86 1
#endif

namespace rlhf::kernels {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

thread_local at::ScalarType tl_matmul_dtype = at::kFloat;
thread_local int tl_guard_depth = 0;  // TrainMatmulDtypeGuards alive on this thread

void check(dnnl_status_t st, const char* what) {
  if (st != dnnl_success)
    throw Error(std::string("oneDNN bf16 matmul: ") + what + " failed (status " + std::to_string(static_cast<int>(st)) + ")");
}

dnnl_engine_t engine() {
  static dnnl_engine_t e = [] {
    dnnl_engine_t made = nullptr;
    check(dnnl_engine_create(&made, dnnl_cpu, 0), "engine creation");
    return made;
  }();
  return e;
}

// One stream per thread: a oneDNN stream is not meant to be shared between threads.
dnnl_stream_t stream() {
  struct Owned {
    dnnl_stream_t s = nullptr;
    Owned() { check(dnnl_stream_create(&s, engine(), dnnl_stream_default_flags), "stream creation"); }
    ~Owned() { dnnl_stream_destroy(s); }
  };
  thread_local Owned owned;
  return owned.s;
}

// ---- matmul primitives, cached by shape and layout ----------------------------------------

// C (M, N) = A (M, K) B (K, N) [+ bias (N)], A and B bf16 addressed by strides, so a transposed
// operand costs nothing; C fp32 or bf16 with unit column stride and a given row stride.
struct MatmulKey {
  std::array<int64_t, 8> v;  // M, N, K, A row stride, A column stride, B row stride, B column stride, C row stride
  bool bias;
  bool c_bf16 = false;  // C rounded to bf16 (else fp32)
  bool operator<(const MatmulKey& o) const {
    return v != o.v ? v < o.v : bias != o.bias ? bias < o.bias : c_bf16 < o.c_bf16;
  }
};

struct Matmul {
  dnnl_primitive_t prim = nullptr;
  dnnl_memory_desc_t a, b, c, bias, scratch;
  size_t scratch_bytes = 0;
};

Matmul make_matmul(const MatmulKey& key) {
  const auto& k = key.v;
  Matmul m;
  dnnl_dims_t ad = {k[0], k[2]}, bd = {k[2], k[1]}, cd = {k[0], k[1]}, biasd = {1, k[1]};
  dnnl_dims_t as = {k[3], k[4]}, bs = {k[5], k[6]}, cs = {k[7], 1};
  check(dnnl_memory_desc_init_by_strides(&m.a, 2, ad, dnnl_bf16, as), "source descriptor");
  check(dnnl_memory_desc_init_by_strides(&m.b, 2, bd, dnnl_bf16, bs), "weights descriptor");
  check(dnnl_memory_desc_init_by_strides(&m.c, 2, cd, key.c_bf16 ? dnnl_bf16 : dnnl_f32, cs), "destination descriptor");
  check(dnnl_memory_desc_init_by_tag(&m.bias, 2, biasd, dnnl_f32, dnnl_ab), "bias descriptor");
  dnnl_matmul_desc_t desc;
  check(dnnl_matmul_desc_init(&desc, &m.a, &m.b, key.bias ? &m.bias : nullptr, &m.c), "descriptor");
  // A user scratchpad (allocated per call) lets several threads run one primitive at once.
  dnnl_primitive_attr_t attr;
  check(dnnl_primitive_attr_create(&attr), "attribute creation");
  check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
  dnnl_primitive_desc_t pd;
  dnnl_status_t st = dnnl_primitive_desc_create(&pd, &desc, attr, engine(), nullptr);
  dnnl_primitive_attr_destroy(attr);
  check(st, "primitive descriptor");
  m.scratch = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  m.scratch_bytes = dnnl_memory_desc_get_size(&m.scratch);
  st = dnnl_primitive_create(&m.prim, pd);
  dnnl_primitive_desc_destroy(pd);
  check(st, "primitive creation");
  return m;
}

// Creating a primitive (descriptor, kernel generation) costs far more than running it, and a
// training run sees a handful of shapes, so each is made once and kept for the process.
const Matmul& matmul_for(const MatmulKey& key) {
  static std::mutex mu;
  static std::map<MatmulKey, Matmul> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make_matmul(key)).first;
  return it->second;
}

struct Operand {
  const at::BFloat16* p;
  int64_t row_stride, col_stride;
};

// Round to nearest even, as vcvtneps2bf16 and at::to do (finite values).
uint16_t bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

// C (M, N) = A (M, K) B (K, N) [+ bias], C fp32 or (c_bf16) bf16 with rows ldc apart.
void bf16_matmul_into(int64_t M, int64_t N, int64_t K, Operand A, Operand B, const float* bias, void* C, bool c_bf16,
                      int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // oneDNN wants non-empty dimensions; the product is the bias alone
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const float v = bias ? bias[j] : 0.0f;
        if (c_bf16)
          static_cast<uint16_t*>(C)[i * ldc + j] = bf16_bits(v);
        else
          static_cast<float*>(C)[i * ldc + j] = v;
      }
    return;
  }
  MatmulKey key{{M, N, K, A.row_stride, A.col_stride, B.row_stride, B.col_stride, ldc}, bias != nullptr};
  key.c_bf16 = c_bf16;
  const Matmul& m = matmul_for(key);
  auto scratch = at::empty({static_cast<int64_t>(m.scratch_bytes) + 1}, at::kByte);
  auto eng = engine();
  dnnl_memory_t ma, mb, mc, mbias = nullptr, ms;
  check(dnnl_memory_create(&ma, &m.a, eng, const_cast<at::BFloat16*>(A.p)), "memory");
  check(dnnl_memory_create(&mb, &m.b, eng, const_cast<at::BFloat16*>(B.p)), "memory");
  check(dnnl_memory_create(&mc, &m.c, eng, C), "memory");
  check(dnnl_memory_create(&ms, &m.scratch, eng, scratch.data_ptr()), "memory");
  std::array<dnnl_exec_arg_t, 5> args = {{{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc},
                                          {DNNL_ARG_SCRATCHPAD, ms}, {DNNL_ARG_BIAS, nullptr}}};
  int nargs = 4;
  if (bias) {
    check(dnnl_memory_create(&mbias, &m.bias, eng, const_cast<float*>(bias)), "memory");
    args[nargs++].memory = mbias;
  }
  dnnl_stream_t strm = stream();
  dnnl_status_t st = dnnl_primitive_execute(m.prim, strm, nargs, args.data());
  if (st == dnnl_success) st = dnnl_stream_wait(strm);
  for (auto mem : {ma, mb, mc, ms, mbias})
    if (mem) dnnl_memory_destroy(mem);
  check(st, "execution");
}

// C (M, N) = A (M, K) B (K, N) [+ bias], fp32 C with rows ldc apart (0: N, dense).
void bf16_matmul(int64_t M, int64_t N, int64_t K, Operand A, Operand B, const float* bias, float* C, int64_t ldc = 0) {
  bf16_matmul_into(M, N, K, A, B, bias, C, false, ldc == 0 ? N : ldc);
}

const at::BFloat16* bf16_ptr(const at::Tensor& t) { return t.data_ptr<at::BFloat16>(); }

// ---- fp32 -> bf16 rows, with column sums --------------------------------------------------

// y[0..n) = bf16(x[0..n)); sum[0..n) += x[0..n) when sum is not null.
void cvt_row_generic(const float* x, uint16_t* y, int64_t n, float* sum) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_bits(x[i]);
  if (sum)
    for (int64_t i = 0; i < n; ++i) sum[i] += x[i];
}

#ifdef RLHF_BF16_X86
__attribute__((target("avx512f,avx512bf16,avx512vl"))) void cvt_row_avx512(const float* x, uint16_t* y, int64_t n,
                                                                         float* sum) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), (__m256i)_mm512_cvtneps_pbh(v));
    if (sum) _mm512_storeu_ps(sum + i, _mm512_add_ps(_mm512_loadu_ps(sum + i), v));
  }
  cvt_row_generic(x + i, y + i, n - i, sum ? sum + i : nullptr);
}
bool cpu_has_avx512_bf16() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
  return yes;
}
#endif

void cvt_row(const float* x, uint16_t* y, int64_t n, float* sum) {
#ifdef RLHF_BF16_X86
  if (cpu_has_avx512_bf16()) return cvt_row_avx512(x, y, n, sum);
#endif
  cvt_row_generic(x, y, n, sum);
}

// bf16 copy of a (M, N) fp32 matrix in one parallel pass (libtorch's conversion is not
// vectorised for AVX-512 here); with `colsum`, also its column sums in fp32 (the bias gradient
// of gy comes out of the same pass instead of a second read of gy).
at::Tensor rows_to_bf16(const at::Tensor& t, at::Tensor* colsum = nullptr) {
  auto a = t.contiguous();
  const int64_t M = a.size(0), N = a.size(1);
  auto out = at::empty({M, N}, a.options().dtype(at::kBFloat16));
  const float* src = a.data_ptr<float>();
  auto* dst = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
  const int64_t threads = at::get_num_threads();
  at::Tensor partial;
  if (colsum) partial = at::zeros({threads, N}, a.options());
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(N, 1));
  kernels::parallel_for(0, M, grain, [&](int64_t begin, int64_t end) {
    const int64_t tid = at::get_thread_num();
    TORCH_CHECK(tid < threads, "rows_to_bf16: thread ", tid, " of ", threads);
    float* sum = colsum ? partial.data_ptr<float>() + tid * N : nullptr;
    for (int64_t i = begin; i < end; ++i) cvt_row(src + i * N, dst + i * N, N, sum);
  });
  if (colsum) *colsum = partial.sum(0);
  return out;
}

// The bf16 copy of a weight (any shape): rows_to_bf16 over its last dimension (about 4x faster
// than libtorch's conversion here, measured on 38.6M values).
at::Tensor to_bf16(const at::Tensor& t) {
  if (t.dim() == 0 || t.numel() == 0 || t.scalar_type() != at::kFloat)
    return t.to(at::kBFloat16, false, false, at::MemoryFormat::Contiguous);
  return rows_to_bf16(t.reshape({-1, t.size(-1)})).view(t.sizes());
}

// ---- bf16 weight copies -------------------------------------------------------------------

// One bf16 copy per weight, made inside a TrainMatmulDtypeGuard region and dropped when the
// outermost one ends (the Trainer's region covers one micro-batch's forward; the optimizer step
// runs outside it). Within a region a copy is valid while the weight is alive, at the same
// version (in-place updates through the tensor bump it) and the same storage; updates through
// `.data()` (libtorch's SGD) or raw pointers do not bump the version, which is why copies never
// outlive the region. The weak reference keeps the TensorImpl's memory from being reused by
// another tensor while its entry exists, so the key cannot be mistaken.
struct WeightCopy {
  c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl> weak;
  uint32_t version;
  const void* data;
  at::Tensor bf16;
};

std::mutex cache_mu;
std::atomic<int64_t> copies_made{0};
std::unordered_map<const c10::TensorImpl*, WeightCopy>& weight_cache() {
  static std::unordered_map<const c10::TensorImpl*, WeightCopy> c;
  return c;
}

// Frozen weights (requires_grad false: PPO's reference and reward models) keep their copy across
// regions, under the same validity checks: no optimizer updates them, and the in-place writes that
// do happen to them (loading a checkpoint) go through the tensor and bump its version.
std::unordered_map<const c10::TensorImpl*, WeightCopy>& frozen_cache() {
  static std::unordered_map<const c10::TensorImpl*, WeightCopy> c;
  return c;
}

at::Tensor bf16_weight(const at::Tensor& w) {
  const bool frozen = !w.requires_grad();
  if (tl_guard_depth == 0 && !frozen) return to_bf16(w.detach());  // no region: nothing to share the copy with
  const c10::TensorImpl* key = w.unsafeGetTensorImpl();
  const uint32_t version = w._version();
  std::lock_guard<std::mutex> lock(cache_mu);
  auto& cache = frozen ? frozen_cache() : weight_cache();
  auto it = cache.find(key);
  if (it != cache.end() && !it->second.weak.expired() && it->second.version == version &&
      it->second.data == w.data_ptr())
    return it->second.bf16;
  for (auto e = cache.begin(); e != cache.end();) e = e->second.weak.expired() ? cache.erase(e) : std::next(e);
  at::Tensor copy = to_bf16(w.detach());
  copies_made.fetch_add(1, std::memory_order_relaxed);
  cache.insert_or_assign(
      key, WeightCopy{c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>(w.getIntrusivePtr()), version,
                      w.data_ptr(), copy});
  return copy;
}

// ---- the linear layer ---------------------------------------------------------------------

// gx (..., K) = gy W and gw (N, K) = gy^T x from the bf16 gy (M, N), x (M, K) and W (N, K), each
// when needed; gw is fp32 for the fp32 .grad. `out_sizes` are the sizes of gy before flattening.
std::pair<at::Tensor, at::Tensor> input_and_weight_grads(AutogradContext* ctx, const at::Tensor& gyb,
                                                         const at::Tensor& xb, const at::Tensor& wb,
                                                         at::IntArrayRef out_sizes) {
  const int64_t M = xb.size(0), K = xb.size(1), N = wb.size(0);
  const auto f32 = xb.options().dtype(at::kFloat);
  at::Tensor gx, gw;
  if (ctx->needs_input_grad(0)) {
    gx = at::empty({M, K}, f32);
    bf16_matmul(M, K, N, {bf16_ptr(gyb), N, 1}, {bf16_ptr(wb), K, 1}, nullptr, gx.data_ptr<float>());
    auto sizes = out_sizes.vec();
    sizes.back() = K;
    gx = gx.view(sizes);
  }
  if (ctx->needs_input_grad(1)) {
    gw = at::empty({N, K}, f32);
    if (N >= 16 * K && N >= 16384) {
      // Vocabulary-sized outputs (the LM head): oneDNN runs x^T gy (K, N) ~40% faster than gy^T x
      // (N, K) here (725 vs 520 GFLOP/s for 50257 x 768 x 1024); its transpose costs a few percent.
      auto gwt = at::empty({K, N}, f32);
      bf16_matmul(K, N, M, {bf16_ptr(xb), 1, K}, {bf16_ptr(gyb), N, 1}, nullptr, gwt.data_ptr<float>());
      const float* src = gwt.data_ptr<float>();
      float* dst = gw.data_ptr<float>();
      // Up to 64 ranges of whole 16-column blocks, split across the threads.
      const int64_t blocks = (N + 15) / 16, ranges = std::min<int64_t>(blocks, 64);
      kernels::parallel_for(0, ranges, 1, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const int64_t n0 = blocks * r / ranges * 16, n1 = std::min(N, blocks * (r + 1) / ranges * 16);
          transpose(src + n0, N, K, n1 - n0, dst + n0 * K, K);
        }
      });
    } else {  // gy^T (N, M) is gy read with strides (1, N)
      bf16_matmul(N, K, M, {bf16_ptr(gyb), 1, N}, {bf16_ptr(xb), K, 1}, nullptr, gw.data_ptr<float>());
    }
  }
  return {gx, gw};
}

struct LinearBf16Fn : public torch::autograd::Function<LinearBf16Fn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    const int64_t K = x.size(-1), N = w.size(0);
    auto xb = rows_to_bf16(x.reshape({-1, K}));  // (M, K), kept for the weight gradient
    auto wb = bf16_weight(w);               // (N, K)
    const int64_t M = xb.size(0);
    const bool has_bias = b.numel() > 0;  // an empty tensor stands for "no bias"
    auto bc = has_bias ? b.contiguous() : b;
    auto y = at::empty({M, N}, x.options());
    // y = x W^T: W^T (K, N) is W read with strides (1, K).
    bf16_matmul(M, N, K, {bf16_ptr(xb), K, 1}, {bf16_ptr(wb), 1, K}, has_bias ? bc.data_ptr<float>() : nullptr,
                y.data_ptr<float>());
    ctx->save_for_backward({xb, wb});
    ctx->saved_data["has_bias"] = has_bias;
    auto sizes = x.sizes().vec();
    sizes.back() = N;
    return y.view(sizes);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) { return linear_grads(ctx, grads); }

  // gx, gw, gb from the saved bf16 (x, W) (LinearBf16Fn and LinearBf16ReplayFn).
  static variable_list linear_grads(AutogradContext* ctx, const variable_list& grads) {
    auto saved = ctx->get_saved_variables();
    const auto& xb = saved[0];
    const auto& wb = saved[1];
    const int64_t M = xb.size(0), N = wb.size(0);
    at::Tensor gb;
    // The bias gradient is a plain fp32 sum of gy; it comes out of the bf16 conversion's pass.
    const bool want_gb = ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2);
    auto gyb = rows_to_bf16(grads[0].reshape({M, N}), want_gb ? &gb : nullptr);
    auto [gx, gw] = input_and_weight_grads(ctx, gyb, xb, wb, grads[0].sizes());
    return {gx, gw, gb};
  }
};

// LinearBf16Fn (plus an optional residual) whose output `out` is already known (the decode
// engine's recording): keeps the bf16 x and W for the same backward and returns `out`.
struct LinearBf16ReplayFn : public torch::autograd::Function<LinearBf16ReplayFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                            const at::Tensor& residual, const at::Tensor& out) {
    ctx->save_for_backward({rows_to_bf16(x.reshape({-1, x.size(-1)})), bf16_weight(w)});
    ctx->saved_data["has_bias"] = b.numel() > 0;
    ctx->saved_data["has_residual"] = residual.numel() > 0;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto g = LinearBf16Fn::linear_grads(ctx, grads);
    at::Tensor gr;
    if (ctx->saved_data["has_residual"].toBool() && ctx->needs_input_grad(3)) gr = grads[0];
    return {g[0], g[1], g[2], gr, at::Tensor()};
  }
};

// bf16 rows -> fp32 (exact).
void bf16_to_float_generic(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(x[i]) << 16;
    std::memcpy(y + i, &u, 4);
  }
}
#ifdef RLHF_BF16_X86
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_*); not our code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) void bf16_to_float_avx512(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
    _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
  bf16_to_float_generic(x + i, y + i, n - i);
}
#pragma GCC diagnostic pop
#endif
void bf16_to_float(const uint16_t* x, float* y, int64_t n) {
#ifdef RLHF_BF16_X86
  if (cpu_has_avx512_bf16()) return bf16_to_float_avx512(x, y, n);
#endif
  bf16_to_float_generic(x, y, n);
}

// ab (M, F) = bf16(gelu_tanh(ub)) row by row, for bf16 ub (M, F).
void gelu_rows_bf16(const at::Tensor& ub, at::Tensor& ab) {
  const int64_t M = ub.size(0), F = ub.size(1);
  const auto* pu = reinterpret_cast<const uint16_t*>(ub.data_ptr<at::BFloat16>());
  auto* pa = reinterpret_cast<uint16_t*>(ab.data_ptr<at::BFloat16>());
  kernels::parallel_for(0, M, std::max<int64_t>(1, 32768 / F), [&](int64_t begin, int64_t end) {
    std::vector<float> tmp(static_cast<size_t>(F));
    for (int64_t i = begin; i < end; ++i) {
      bf16_to_float(pu + i * F, tmp.data(), F);
      gelu_tanh_forward(tmp.data(), tmp.data(), F);
      cvt_row(tmp.data(), pa + i * F, F, nullptr);
    }
  });
}

// GPT-2's MLP, y = gelu_tanh(x Wu^T + bu) Wd^T + bd, as one Function whose intermediate (M, F)
// matrices are bf16: the pre-activation u comes out of its product as bf16, the activation a goes
// into the down-projection as bf16, and the activation's gradient comes out of its product as
// bf16 (autocast keeps these in bf16 too). GELU and its derivative run in fp32 on them. As two
// linear Functions around an fp32 GELU, the same chain moved 3 fp32 and 2 bf16 copies of the
// (M, F) matrix through memory each way (measured on PPO's GPT-2-small MLP, M 1536 x 768 x 3072:
// the GELU pass alone 4 ms of a 12.5 ms up-projection).
// Saved for the backward: the bf16 x, u and a.
struct MlpGeluBf16Fn : public torch::autograd::Function<MlpGeluBf16Fn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& wu, const at::Tensor& bu,
                            const at::Tensor& wd, const at::Tensor& bd) {
    const int64_t K = x.size(-1), F = wu.size(0), N = wd.size(0);
    auto xb = rows_to_bf16(x.reshape({-1, K}));
    auto wub = bf16_weight(wu), wdb = bf16_weight(wd);
    const int64_t M = xb.size(0);
    const bool has_bu = bu.numel() > 0, has_bd = bd.numel() > 0;
    auto buc = has_bu ? bu.contiguous() : bu, bdc = has_bd ? bd.contiguous() : bd;
    const auto b16 = x.options().dtype(at::kBFloat16);
    auto ub = at::empty({M, F}, b16), ab = at::empty({M, F}, b16);
    bf16_matmul_into(M, F, K, {bf16_ptr(xb), K, 1}, {bf16_ptr(wub), 1, K}, has_bu ? buc.data_ptr<float>() : nullptr,
                     ub.data_ptr<at::BFloat16>(), true, F);
    gelu_rows_bf16(ub, ab);
    auto y = at::empty({M, N}, x.options());
    bf16_matmul(M, N, F, {bf16_ptr(ab), F, 1}, {bf16_ptr(wdb), 1, F}, has_bd ? bdc.data_ptr<float>() : nullptr,
                y.data_ptr<float>());
    ctx->save_for_backward({xb, wub, wdb, ub, ab});
    ctx->saved_data["has_bu"] = has_bu;
    ctx->saved_data["has_bd"] = has_bd;
    auto sizes = x.sizes().vec();
    sizes.back() = N;
    return y.view(sizes);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) { return mlp_grads(ctx, grads); }

  // The gradients of x, Wu, bu, Wd, bd from the saved bf16 x, Wu, Wd, u, a (MlpGeluBf16Fn and
  // MlpGeluBf16ReplayFn).
  static variable_list mlp_grads(AutogradContext* ctx, const variable_list& grads) {
    auto saved = ctx->get_saved_variables();
    const auto &xb = saved[0], &wub = saved[1], &wdb = saved[2], &ub = saved[3], &ab = saved[4];
    const int64_t M = xb.size(0), F = wub.size(0), N = wdb.size(0);
    const auto f32 = grads[0].options();
    // Down-projection: bd's gradient from the bf16 conversion's pass, Wd's = gy^T a.
    at::Tensor gbd, gwd, gx, gwu, gbu;
    const bool want_gbd = ctx->saved_data["has_bd"].toBool() && ctx->needs_input_grad(4);
    auto gyb = rows_to_bf16(grads[0].reshape({M, N}), want_gbd ? &gbd : nullptr);
    if (ctx->needs_input_grad(3)) {
      gwd = at::empty({N, F}, f32);
      bf16_matmul(N, F, M, {bf16_ptr(gyb), 1, N}, {bf16_ptr(ab), F, 1}, nullptr, gwd.data_ptr<float>());
    }
    const bool want_gbu = ctx->saved_data["has_bu"].toBool() && ctx->needs_input_grad(2);
    if (ctx->needs_input_grad(0) || ctx->needs_input_grad(1) || want_gbu) {
      // ga = gy Wd (bf16), then gu = gelu'(u) ga rounded to bf16, with bu's gradient as its fp32
      // column sums.
      auto gab = at::empty({M, F}, ab.options()), gub = at::empty({M, F}, ab.options());
      bf16_matmul_into(M, F, N, {bf16_ptr(gyb), N, 1}, {bf16_ptr(wdb), F, 1}, nullptr, gab.data_ptr<at::BFloat16>(),
                       true, F);
      const auto* pu = reinterpret_cast<const uint16_t*>(ub.data_ptr<at::BFloat16>());
      const auto* pga = reinterpret_cast<const uint16_t*>(gab.data_ptr<at::BFloat16>());
      auto* pg = reinterpret_cast<uint16_t*>(gub.data_ptr<at::BFloat16>());
      const int64_t threads = at::get_num_threads();
      at::Tensor partial;
      if (want_gbu) partial = at::zeros({threads, F}, f32);
      kernels::parallel_for(0, M, std::max<int64_t>(1, 32768 / F), [&](int64_t begin, int64_t end) {
        const int64_t tid = at::get_thread_num();
        TORCH_CHECK(tid < threads, "MLP backward: thread ", tid, " of ", threads);
        float* sum = want_gbu ? partial.data_ptr<float>() + tid * F : nullptr;
        std::vector<float> u(static_cast<size_t>(F)), g(static_cast<size_t>(F));
        for (int64_t i = begin; i < end; ++i) {
          bf16_to_float(pu + i * F, u.data(), F);
          bf16_to_float(pga + i * F, g.data(), F);
          gelu_tanh_backward(u.data(), g.data(), g.data(), F);
          cvt_row(g.data(), pg + i * F, F, sum);
        }
      });
      if (want_gbu) gbu = partial.sum(0);
      // Up-projection: x's and Wu's gradients (inputs 0 and 1 of this Function, as of a linear one).
      auto sizes = grads[0].sizes().vec();
      sizes.back() = F;
      std::tie(gx, gwu) = input_and_weight_grads(ctx, gub, xb, wub, sizes);
    }
    return {gx, gwu, gbu, gwd, gbd};
  }
};

// GPT-2's MLP (plus the residual) whose pre-activation `u` (fp32, (..., F)) and output `out` are
// already known (the decode engine's recording): u is rounded to bf16 as the up-projection's
// bf16 result would be, the activation is computed from it as in MlpGeluBf16Fn, and the backward
// is that Function's (the residual gets gy).
struct MlpGeluBf16ReplayFn : public torch::autograd::Function<MlpGeluBf16ReplayFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& wu, const at::Tensor& bu,
                            const at::Tensor& wd, const at::Tensor& bd, const at::Tensor& residual, const at::Tensor& u,
                            const at::Tensor& out) {
    const int64_t K = x.size(-1), F = wu.size(0);
    auto xb = rows_to_bf16(x.reshape({-1, K}));
    auto ub = rows_to_bf16(u.reshape({-1, F}));
    const int64_t M = ub.size(0);
    auto ab = at::empty({M, F}, ub.options());
    gelu_rows_bf16(ub, ab);
    ctx->save_for_backward({xb, bf16_weight(wu), bf16_weight(wd), ub, ab});
    ctx->saved_data["has_bu"] = bu.numel() > 0;
    ctx->saved_data["has_bd"] = bd.numel() > 0;
    ctx->saved_data["has_residual"] = residual.numel() > 0;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto g = MlpGeluBf16Fn::mlp_grads(ctx, grads);
    at::Tensor gr;
    if (ctx->saved_data["has_residual"].toBool() && ctx->needs_input_grad(5)) gr = grads[0];
    return {g[0], g[1], g[2], g[3], g[4], gr, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::ScalarType train_matmul_dtype() { return tl_matmul_dtype; }

TrainMatmulDtypeGuard::TrainMatmulDtypeGuard(at::ScalarType dtype) : prev_(tl_matmul_dtype) {
  if (dtype != at::kFloat && dtype != at::kBFloat16)
    throw Error(std::string("training matmul dtype must be float32 or bfloat16, not ") + c10::toString(dtype));
  tl_matmul_dtype = dtype;
  ++tl_guard_depth;
}
TrainMatmulDtypeGuard::~TrainMatmulDtypeGuard() {
  tl_matmul_dtype = prev_;
  if (--tl_guard_depth == 0) {
    std::lock_guard<std::mutex> lock(cache_mu);
    weight_cache().clear();
  }
}

namespace {
void check_linear_args(const std::string& fn, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat || (b.defined() && b.scalar_type() != at::kFloat))
    throw Error(fn + ": x, w and b must be float32 (the bf16 copies are made inside)");
  if (!x.device().is_cpu() || !w.device().is_cpu()) throw Error(fn + ": CPU tensors only");
  if (w.dim() != 2 || x.dim() < 1 || x.size(-1) != w.size(1))
    throw Error(fn + ": input width " + std::to_string(x.size(-1)) + " != weight width " +
                std::to_string(w.dim() == 2 ? w.size(1) : -1));
  if (b.defined() && b.numel() != w.size(0))
    throw Error(fn + ": bias of " + std::to_string(b.numel()) + " values for " + std::to_string(w.size(0)) + " outputs");
}
}  // namespace

at::Tensor train_linear_bf16(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  check_linear_args("train_linear_bf16", x, w, b);
  RECORD_FUNCTION("rlhf::linear_bf16", std::vector<c10::IValue>());
  return LinearBf16Fn::apply(x, w, b.defined() ? b : at::empty({0}, w.options()));
}

at::Tensor train_mlp_gelu_bf16(const at::Tensor& x, const at::Tensor& w_up, const at::Tensor& b_up,
                               const at::Tensor& w_down, const at::Tensor& b_down) {
  check_linear_args("train_mlp_gelu_bf16 (up-projection)", x, w_up, b_up);
  if (w_down.dim() != 2 || w_down.size(1) != w_up.size(0))
    throw Error("train_mlp_gelu_bf16: down-projection width " + std::to_string(w_down.dim() == 2 ? w_down.size(1) : -1) +
                " != hidden width " + std::to_string(w_up.size(0)));
  check_linear_args("train_mlp_gelu_bf16 (down-projection)", at::empty({0, w_down.size(1)}, x.options()), w_down, b_down);
  RECORD_FUNCTION("rlhf::mlp_gelu_bf16", std::vector<c10::IValue>());
  auto none = at::empty({0}, w_up.options());
  return MlpGeluBf16Fn::apply(x, w_up, b_up.defined() ? b_up : none, w_down, b_down.defined() ? b_down : none);
}

at::Tensor train_linear_bf16_replay(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                                    const at::Tensor& residual, const at::Tensor& out) {
  check_linear_args("train_linear_bf16_replay", x, w, b);
  check_replay_out("train_linear_bf16_replay", x, out, w.size(0), residual);
  auto none = at::empty({0}, w.options());
  return LinearBf16ReplayFn::apply(x, w, b.defined() ? b : none, residual.defined() ? residual : none, out);
}

at::Tensor train_mlp_gelu_bf16_replay(const at::Tensor& x, const at::Tensor& w_up, const at::Tensor& b_up,
                                      const at::Tensor& w_down, const at::Tensor& b_down, const at::Tensor& residual,
                                      const at::Tensor& up, const at::Tensor& out) {
  check_linear_args("train_mlp_gelu_bf16_replay (up-projection)", x, w_up, b_up);
  const int64_t rows = x.numel() / x.size(-1);
  if (up.numel() != rows * w_up.size(0) || up.size(-1) != w_up.size(0))
    throw Error("train_mlp_gelu_bf16_replay: recorded pre-activation has " + std::to_string(up.numel()) +
                " values for " + std::to_string(rows) + " rows of width " + std::to_string(w_up.size(0)));
  check_replay_out("train_mlp_gelu_bf16_replay", x, out, w_down.size(0), residual);
  auto none = at::empty({0}, w_up.options());
  return MlpGeluBf16ReplayFn::apply(x, w_up, b_up.defined() ? b_up : none, w_down, b_down.defined() ? b_down : none,
                                    residual.defined() ? residual : none, up.contiguous(), out);
}

void clear_bf16_weight_cache() {
  std::lock_guard<std::mutex> lock(cache_mu);
  weight_cache().clear();
  frozen_cache().clear();
}

size_t bf16_frozen_cache_size() {
  std::lock_guard<std::mutex> lock(cache_mu);
  return frozen_cache().size();
}

size_t bf16_weight_cache_size() {
  std::lock_guard<std::mutex> lock(cache_mu);
  return weight_cache().size();
}

int64_t bf16_weight_copies_made() { return copies_made.load(); }

}  // namespace rlhf::kernels
