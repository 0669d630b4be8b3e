// rlhf-bench ops: forward + backward time of each fused training operator (src/kernels) beside
// the same computation written op by op in libtorch and differentiated by autograd, in the same
// process, on the shapes of the training benchmark (tiny: B 8, H 4, T 256, d 256; GPT-2-small:
// B 4, H 12, T 256, d 768) and of PPO's GPT-2-small batch (B 16, T 96). "ours" and "reference"
// are calls per second; ratio > 1 = ours faster.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include "bench.h"
#include "kernels/gemm.h"
#include "kernels/thread_pool.h"
#include "kernels/train_ops.h"
#include "kernels/train_ops_bf16.h"

namespace rlhf::bench {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Median calls/s of fn over a few timed repeats (after one warm-up call).
double calls_per_s(const std::function<void()>& fn, bool quick) {
  fn();
  std::vector<double> r;
  const int repeats = quick ? 3 : 7, iters = quick ? 2 : 5;
  for (int rep = 0; rep < repeats; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) fn();
    r.push_back(iters / seconds_since(t0));
  }
  std::sort(r.begin(), r.end());
  return r[r.size() / 2];
}

torch::Tensor ref_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale) {
  const int64_t T = q.size(2), S = k.size(2);
  auto scores = torch::matmul(q, k.transpose(-1, -2)) * scale;
  auto blocked = torch::ones({T, S}, torch::kBool).triu(1);
  return torch::matmul(torch::softmax(scores.masked_fill(blocked, -1e30), -1), v);
}

void report(BenchContext& ctx, const std::string& name, double ours, double ref, const char* what) {
  BenchResult r;
  r.name = name;
  r.ours = ours;
  r.reference = ref;
  r.extra["unit"] = "calls/s";
  r.extra["what"] = what;
  r.extra["reference_kind"] = "libtorch op-by-op + autograd, same process";
  ctx.report(r);
}

void run_ops(BenchContext& ctx) {
  if (ctx.opts.threads > 0) torch::set_num_threads(ctx.opts.threads);
  struct Shape {
    const char* name;
    int64_t B, H, T, C;
  };
  // ppo-gpt2-small: PPO's batch (16 rows of 32 prompt + 64 response tokens) on GPT-2-small heads.
  for (const Shape& s : {Shape{"tiny", 8, 4, 256, 256}, Shape{"gpt2-small", 4, 12, 256, 768},
                         Shape{"ppo-gpt2-small", 16, 12, 96, 768}}) {
    const int64_t D = s.C / s.H;
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    const std::string attn = std::string("ops/attention/") + s.name;
    if (ctx.wanted(attn)) {
      torch::manual_seed(0);
      auto q = torch::randn({s.B, s.H, s.T, D}, torch::requires_grad());
      auto k = torch::randn({s.B, s.H, s.T, D}, torch::requires_grad());
      auto v = torch::randn({s.B, s.H, s.T, D}, torch::requires_grad());
      auto go = torch::randn({s.B, s.H, s.T, D});
      auto ours = [&] {
        kernels::train_attention(q, k, v, true, {}, {}, scale).backward(go);
      };
      auto ref = [&] { ref_attention(q, k, v, scale).backward(go); };
      auto fwd = [&] { kernels::train_attention(q, k, v, true, {}, {}, scale); };
      std::cout << "  forward only: " << 1e3 / calls_per_s(fwd, ctx.opts.quick) << " ms\n";
      report(ctx, attn, calls_per_s(ours, ctx.opts.quick), ctx.opts.reference ? calls_per_s(ref, ctx.opts.quick) : 0,
             "causal attention forward + backward");
      if (ctx.opts.profile) std::cout << op_profile(ours, 12);
      // q, k, v as the model slices them out of one (B, T, 3H, D) projection (strided heads).
      auto qkv = torch::randn({s.B, s.T, 3 * s.H, D}, torch::requires_grad());
      auto sq = qkv.narrow(2, 0, s.H).transpose(1, 2), sk = qkv.narrow(2, s.H, s.H).transpose(1, 2),
           sv = qkv.narrow(2, 2 * s.H, s.H).transpose(1, 2);
      auto strided = [&] { kernels::train_attention(sq, sk, sv, true, {}, {}, scale).backward(go); };
      report(ctx, attn + "/strided", calls_per_s(strided, ctx.opts.quick), calls_per_s(ours, ctx.opts.quick),
             "causal attention on heads sliced from a fused projection; reference = ours on contiguous heads");
      // The same with left padding (PPO's batches of prompts) and with packed documents (SFT):
      // masks generated per key inside the kernel.
      auto km = torch::ones({s.B, s.T}, torch::kLong);
      for (int64_t b = 0; b < s.B; ++b) km[b].narrow(0, 0, 3 * b).fill_(0);
      auto seg = (torch::arange(s.T) / 37).repeat({s.B, 1});
      auto pad = [&] { kernels::train_attention(q, k, v, true, km, {}, scale).backward(go); };
      auto packed = [&] { kernels::train_attention(q, k, v, true, {}, seg, scale).backward(go); };
      report(ctx, attn + "/padded", calls_per_s(pad, ctx.opts.quick), calls_per_s(ours, ctx.opts.quick),
             "left-padded causal attention forward + backward; reference = ours without padding");
      report(ctx, attn + "/packed", calls_per_s(packed, ctx.opts.quick), calls_per_s(ours, ctx.opts.quick),
             "packed causal attention forward + backward; reference = ours without packing");
    }
  }
  // bf16 linear layers (oneDNN bf16 products, fp32 master weight and activations) on PPO's
  // GPT-2-small update shapes (16 rows x 96 tokens; the LM head over the 64 response positions),
  // forward + backward, beside libtorch's bf16 matmul (x and w cast to bf16, autograd) in the same
  // process; GFLOP/s of both printed.
  struct Lin {
    const char* name;
    int64_t M, K, N;
  };
  for (const Lin& l : {Lin{"qkv", 1536, 768, 2304}, Lin{"up", 1536, 768, 3072}, Lin{"down", 1536, 3072, 768},
                       Lin{"lm-head", 1024, 768, 50257}}) {
    const std::string name = std::string("ops/linear-bf16/") + l.name;
    if (!ctx.wanted(name)) continue;
    torch::manual_seed(0);
    auto x = torch::randn({l.M, l.K}, torch::requires_grad());
    auto w = (torch::randn({l.N, l.K}) * 0.02).requires_grad_();
    auto gy = torch::randn({l.M, l.N});
    auto ours = [&] {
      kernels::TrainMatmulDtypeGuard g(torch::kBFloat16);
      kernels::train_linear_bf16(x, w, {}).backward(gy);
    };
    auto ref = [&] {
      torch::linear(x.to(torch::kBFloat16), w.to(torch::kBFloat16)).to(torch::kFloat).backward(gy);
    };
    const double flop = 6.0 * l.M * l.K * l.N;
    const double a = calls_per_s(ours, ctx.opts.quick), b = ctx.opts.reference ? calls_per_s(ref, ctx.opts.quick) : 0;
    std::cout << "  " << name << ": ours " << a * flop / 1e9 << " GFLOP/s, libtorch bf16 " << b * flop / 1e9
              << " GFLOP/s\n";
    report(ctx, name, a, b, "bf16 linear forward + backward (input and weight gradients)");
  }
  // GPT-2-small's MLP on PPO's batch (train_mlp_gelu_bf16) beside its two bf16 linear layers with
  // nothing between them: the ratio is what the GELU (forward and backward) costs on top of the
  // products. Forward alone and forward + backward are printed.
  if (ctx.wanted("ops/mlp-bf16/ppo-gpt2-small")) {
    const int64_t M = 1536, C = 768, F = 3072;
    torch::manual_seed(0);
    auto x = torch::randn({M, C}, torch::requires_grad());
    auto wu = (torch::randn({F, C}) * 0.02).requires_grad_(), wd = (torch::randn({C, F}) * 0.02).requires_grad_();
    auto bu = torch::zeros({F}, torch::requires_grad()), bd = torch::zeros({C}, torch::requires_grad());
    auto gy = torch::randn({M, C});
    kernels::TrainMatmulDtypeGuard g(torch::kBFloat16);
    auto mlp = [&] { return kernels::train_mlp_gelu_bf16(x, wu, bu, wd, bd); };
    auto plain = [&] { return kernels::train_linear_bf16(kernels::train_linear_bf16(x, wu, bu), wd, bd); };
    auto fwd = [](const std::function<torch::Tensor()>& f) {
      return [f] {
        torch::NoGradGuard ng;
        f();
      };
    };
    auto fwd_bwd = [&](const std::function<torch::Tensor()>& f) { return [f, &gy] { f().backward(gy); }; };
    const double mf = calls_per_s(fwd(mlp), ctx.opts.quick), pf = calls_per_s(fwd(plain), ctx.opts.quick);
    const double mfb = calls_per_s(fwd_bwd(mlp), ctx.opts.quick), pfb = calls_per_s(fwd_bwd(plain), ctx.opts.quick);
    std::cout << "  ops/mlp-bf16/ppo-gpt2-small: forward " << 1e3 / mf << " ms (without the GELU " << 1e3 / pf
              << " ms), forward + backward " << 1e3 / mfb << " ms (without the GELU " << 1e3 / pfb << " ms)\n";
    report(ctx, "ops/mlp-bf16/ppo-gpt2-small", mfb, pfb,
           "bf16 GPT-2 MLP forward + backward; reference = its two bf16 linear layers without the GELU");
  }
}

// The decode engine's packed product (kernels/gemm.h, weights packed once) on the forward shapes
// of PPO's GPT-2-small training batch (16 rows x 95 positions; the LM head over 64), beside the
// training forward the frozen reward and reference models run today (oneDNN sgemm in fp32; the
// oneDNN bf16 product with the weight's bf16 copy cached, in bf16), no gradients, same process.
// A measurement for deciding whether frozen models should take the packed path; not used there.
void run_packed_gemm(BenchContext& ctx) {
  struct Lin {
    const char* name;
    int64_t M, K, N;
  };
  kernels::ThreadPool pool(ctx.opts.threads > 0 ? ctx.opts.threads : torch::get_num_threads());
  for (const std::string dtype : {"fp32", "bf16"})
    for (const Lin& l : {Lin{"qkv", 1520, 768, 2304}, Lin{"proj", 1520, 768, 768}, Lin{"up", 1520, 768, 3072},
                         Lin{"down", 1520, 3072, 768}, Lin{"lm-head", 1024, 768, 50257}}) {
      const std::string name = std::string("ops/packed-gemm/") + l.name + "/" + dtype;
      if (!ctx.wanted(name)) continue;
      const bool bf16 = dtype == "bf16";
      torch::manual_seed(0);
      auto x = torch::randn({l.M, l.K});
      auto w = torch::randn({l.N, l.K}) * 0.02;  // frozen: no gradient
      auto b = torch::randn({l.N}) * 0.02;
      auto t0 = std::chrono::steady_clock::now();
      const kernels::PackedMatrix packed = kernels::pack_matrix(w.data_ptr<float>(), l.K, l.N, /*stride_k=*/1,
                                                                /*stride_n=*/l.K, b.data_ptr<float>(), bf16, &pool);
      const double pack_ms = 1e3 * seconds_since(t0);
      auto y = torch::empty({l.M, l.N});
      auto ours = [&] { kernels::matmul(x.data_ptr<float>(), l.K, l.M, packed, y.data_ptr<float>(), l.N, false, pool); };
      auto ref = [&] {
        torch::NoGradGuard ng;
        if (bf16) {
          kernels::TrainMatmulDtypeGuard g(torch::kBFloat16);
          kernels::train_linear_bf16(x, w, b);
        } else {
          kernels::train_linear(x, w, b);
        }
      };
      const double flop = 2.0 * l.M * l.K * l.N;
      const double a = calls_per_s(ours, ctx.opts.quick), r = calls_per_s(ref, ctx.opts.quick);
      if (!ctx.opts.json)
        std::cout << "  " << name << ": packed " << a * flop / 1e9 << " GFLOP/s, training forward " << r * flop / 1e9
                  << " GFLOP/s; packing the weight once " << pack_ms << " ms\n";
      BenchResult res;
      res.name = name;
      res.ours = a;
      res.reference = r;
      res.extra["unit"] = "calls/s";
      res.extra["what"] = "forward product, weights packed once (the decode engine's kernel)";
      res.extra["reference_kind"] = "our training forward (oneDNN), same process";
      res.extra["gflops"] = {{"ours", a * flop / 1e9}, {"reference", r * flop / 1e9}};
      res.extra["pack_ms"] = pack_ms;
      ctx.report(res);
    }
}

void run_ops_all(BenchContext& ctx) {
  run_ops(ctx);
  run_packed_gemm(ctx);
}

RegisterBench reg("ops", "fused training operators (forward + backward) beside libtorch op-by-op in the same process",
                  run_ops_all);

}  // namespace
}  // namespace rlhf::bench
