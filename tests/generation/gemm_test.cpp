// The packed decode matmul (src/kernels/gemm.*) against torch::matmul in double precision on odd
// sizes (partial panels, odd K, row blocks of every size), fp32 and bf16, on every instruction set
// this CPU has (AVX512_BF16, AVX-512F, plain C++), and a row's result independent of its batch.
#include <gtest/gtest.h>

#include <atomic>
#include <torch/torch.h>

#include <cstring>
#include <limits>

#include "kernels/gemm.h"
#include "kernels/thread_pool.h"

namespace kn = rlhf::kernels;

namespace {

struct IsaGuard {
  ~IsaGuard() { kn::set_isa_limit(kn::Isa::Avx512Bf16); }
};

torch::Tensor bf16_round(const torch::Tensor& t) { return t.to(torch::kBFloat16).to(torch::kFloat); }

// Runs matmul with W given as (K, N) (or (N, K) when transposed) and returns Y (M, N).
torch::Tensor run(const torch::Tensor& X, const torch::Tensor& W, bool transposed, const torch::Tensor& bias,
                  bool bf16, const torch::Tensor& Y0, kn::ThreadPool& pool) {
  const int64_t M = X.size(0), K = X.size(1), N = transposed ? W.size(0) : W.size(1);
  auto p = kn::pack_matrix(W.contiguous().data_ptr<float>(), K, N, transposed,
                           bias.defined() ? bias.data_ptr<float>() : nullptr, bf16);
  torch::Tensor Y = Y0.defined() ? Y0.clone() : torch::full({M, N}, 7.0f);
  // Row stride wider than N: the kernel must not write past a row's N columns.
  torch::Tensor Yw = torch::full({M, N + 5}, -3.0f);
  Yw.narrow(1, 0, N).copy_(Y);
  kn::matmul(X.data_ptr<float>(), K, M, p, Yw.data_ptr<float>(), N + 5, Y0.defined(), pool);
  EXPECT_TRUE(torch::all(Yw.narrow(1, N, 5) == -3.0f).item<bool>()) << "wrote outside the row";
  return Yw.narrow(1, 0, N).contiguous();
}

}  // namespace

TEST(PackedMatmul, MatchesTorchOnOddSizesEveryIsa) {
  IsaGuard guard;
  kn::ThreadPool pool(2);
  torch::manual_seed(5);
  std::vector<kn::Isa> isas;
  for (int i = 0; i <= static_cast<int>(kn::cpu_isa()); ++i) isas.push_back(static_cast<kn::Isa>(i));
  for (kn::Isa isa : isas) {
    kn::set_isa_limit(isa);
    for (int64_t M : {1, 2, 5, 8, 9, 13, 16, 17, 35})
      for (int64_t K : {1, 7, 64, 131})
        for (int64_t N : {1, 15, 17, 50, 97})
          for (bool bf16 : {false, true}) {
            const bool transposed = (M + K + N) % 2 == 0, with_bias = N % 2 == 1, acc = M % 2 == 0;
            auto X = torch::randn({M, K});
            auto W = transposed ? torch::randn({N, K}) : torch::randn({K, N});
            auto bias = with_bias ? torch::randn({N}) : torch::Tensor();
            auto Y0 = acc ? torch::randn({M, N}) : torch::Tensor();
            auto Y = run(X, W, transposed, bias, bf16, Y0, pool);
            // Independent reference: torch in double, inputs rounded to bf16 as the kernel does.
            auto Xr = (bf16 ? bf16_round(X) : X).to(torch::kDouble);
            auto Wr = (bf16 ? bf16_round(W) : W).to(torch::kDouble);
            auto ref = torch::matmul(Xr, transposed ? Wr.t() : Wr);
            if (with_bias) ref = ref + bias.to(torch::kDouble);
            if (acc) ref = ref + Y0.to(torch::kDouble);
            const double err = (Y.to(torch::kDouble) - ref).abs().max().item<double>();
            EXPECT_LT(err, 2e-5 * std::sqrt(static_cast<double>(K)) + 1e-5)
                << "isa " << static_cast<int>(isa) << " M " << M << " K " << K << " N " << N << " bf16 " << bf16;
          }
  }
}

TEST(PackedMatmul, Bf16FallbacksEqualTheNativeKernel) {
  // vdpbf16ps adds the exact products of a k-pair (odd k first) to fp32 sums; the FMA and plain
  // C++ fallbacks do the same, so the sums agree bit for bit on normal numbers.
  IsaGuard guard;
  if (kn::cpu_isa() != kn::Isa::Avx512Bf16) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  kn::ThreadPool pool(2);
  torch::manual_seed(6);
  auto X = torch::randn({11, 77}), W = torch::randn({77, 53}), b = torch::randn({53});
  std::vector<torch::Tensor> out;
  for (kn::Isa isa : {kn::Isa::Avx512Bf16, kn::Isa::Avx512, kn::Isa::Generic}) {
    kn::set_isa_limit(isa);
    out.push_back(run(X, W, false, b, true, torch::Tensor(), pool));
  }
  EXPECT_TRUE(torch::equal(out[0], out[1]));
  EXPECT_TRUE(torch::equal(out[0], out[2]));
}

TEST(PackedMatmul, RowResultDoesNotDependOnTheBatch) {
  kn::ThreadPool pool(2);
  torch::manual_seed(7);
  for (bool bf16 : {false, true}) {
    auto X = torch::randn({16, 96}), W = torch::randn({96, 70});
    auto all = run(X, W, false, torch::Tensor(), bf16, torch::Tensor(), pool);
    for (int64_t m : {0, 7, 8, 15}) {
      auto one = run(X.narrow(0, m, 1).contiguous(), W, false, torch::Tensor(), bf16, torch::Tensor(), pool);
      EXPECT_TRUE(torch::equal(one[0], all[m])) << "row " << m << " bf16 " << bf16;
    }
  }
}

// Packing from strided views (a transposed view, a column slice of a wider matrix) on a pool
// gives the same panels, byte for byte, as packing the contiguous copy; odd sizes leave padding.
TEST(PackedMatmul, StridedPackingEqualsContiguousPacking) {
  torch::manual_seed(3);
  kn::ThreadPool pool(2);
  for (bool bf16 : {false, true})
    for (auto [K, N] : {std::pair<int64_t, int64_t>{37, 45}, {64, 16}, {19, 100}}) {
      auto big = torch::randn({N + 7, K + 5});
      auto nk = big.narrow(0, 3, N).narrow(1, 2, K);  // (N, K) view, row stride K + 5
      auto kn_view = nk.t();                          // (K, N) view, strides (1, K + 5)
      auto ref = kn::pack_matrix(nk.contiguous().data_ptr<float>(), K, N, true, nullptr, bf16);
      auto got = kn::pack_matrix(kn_view.data_ptr<float>(), K, N, kn_view.stride(0), kn_view.stride(1), nullptr, bf16,
                                 &pool);
      EXPECT_EQ(ref.f32, got.f32) << K << "x" << N;
      EXPECT_EQ(ref.b16, got.b16) << K << "x" << N;
      // The (N, K) tile path against the (K, N) row path on the same values.
      auto rows = kn::pack_matrix(kn_view.contiguous().data_ptr<float>(), K, N, false, nullptr, bf16);
      EXPECT_EQ(rows.f32, got.f32);
      EXPECT_EQ(rows.b16, got.b16);
      // And (K, N) row-major rows (stride_n 1) from a slice.
      auto kn_rows = big.t().contiguous().narrow(0, 2, K).narrow(1, 3, N);
      auto ref2 = kn::pack_matrix(kn_rows.contiguous().data_ptr<float>(), K, N, false, nullptr, bf16);
      auto got2 = kn::pack_matrix(kn_rows.data_ptr<float>(), K, N, kn_rows.stride(0), 1, nullptr, bf16, &pool);
      EXPECT_EQ(ref2.f32, got2.f32);
      EXPECT_EQ(ref2.b16, got2.b16);
      EXPECT_FALSE(bf16 ? ref.b16.empty() : ref.f32.empty());
    }
}

// The decode pool's contract under churn: every index of every call runs exactly once, and only
// while its call is in progress (a chunk running after run() returned would see the next call's
// id). 3 threads on this 2-core machine interleave workers and the caller; the chunk count changes
// from call to call (n = 1 .. 40 against 12 chunks at most), which is where a worker holding a
// finished call's ticket could once claim a chunk of the next call (thread_pool.cpp).
TEST(ThreadPool, EveryIndexRunsOnceAndOnlyDuringItsCall) {
  kn::ThreadPool pool(3);
  std::vector<int> hits(64);
  std::atomic<int64_t> current{-1}, stale{0}, wrong{0};
  for (int64_t call = 0; call < 60000; ++call) {
    const int64_t n = 1 + (call * 7919) % 40;
    std::fill(hits.begin(), hits.begin() + n, 0);
    current.store(call);
    pool.run(n, [&, call](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i] += 1;
      if (current.load() != call) stale.fetch_add(1);
    });
    current.store(-1);
    for (int64_t i = 0; i < n; ++i) wrong += hits[i] != 1;
  }
  EXPECT_EQ(stale.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

// Every packed bf16 value against libtorch's own bf16 rounding of the same float (round to
// nearest even), on both unit-stride layouts, with ties, huge values, infinities, signed zeros and
// NaN (which must stay NaN), and the zero padding of the last panel and of an odd K.
TEST(PackedMatmul, Bf16PackingRoundsLikeLibtorch) {
  kn::ThreadPool pool(2);
  for (auto [K, N] : {std::pair<int64_t, int64_t>{37, 45}, {33, 16}, {16, 17}}) {
    torch::manual_seed(K * 100 + N);
    auto w = torch::randn({K, N}) * 3;
    // Values whose bf16 rounding is a tie (low 16 bits exactly 0x8000), both parities.
    auto bits = w.view(torch::kInt);
    bits.view(-1).narrow(0, 0, 8).bitwise_and_(static_cast<int64_t>(0xFFFF0000)).bitwise_or_(0x8000);
    auto flat = w.view(-1);
    flat[8] = std::numeric_limits<float>::infinity();
    flat[9] = -std::numeric_limits<float>::infinity();
    flat[10] = -0.0f;
    flat[11] = 3.3895e38f;  // rounds up to infinity in bf16
    flat[12] = std::numeric_limits<float>::quiet_NaN();
    uint32_t snan = 0x7F800001u;  // a signalling NaN: naive rounding would carry it into infinity
    std::memcpy(flat.data_ptr<float>() + 13, &snan, 4);
    auto expect = w.to(torch::kBFloat16);
    const auto* e = reinterpret_cast<const uint16_t*>(expect.data_ptr<at::BFloat16>());
    auto wt = w.t().contiguous();  // (N, K): the same W with columns contiguous along k
    for (int layout = 0; layout < 2; ++layout) {
      auto p = layout == 0 ? kn::pack_matrix(w.data_ptr<float>(), K, N, N, 1, nullptr, true, &pool)
                           : kn::pack_matrix(wt.data_ptr<float>(), K, N, 1, K, nullptr, true, &pool);
      const int64_t K2 = p.k_pairs();
      for (int64_t pi = 0; pi < p.panels(); ++pi)
        for (int64_t k = 0; k < 2 * K2; ++k)
          for (int64_t j = 0; j < kn::kPanel; ++j) {
            const uint16_t got = p.b16[((pi * K2 + k / 2) * kn::kPanel + j) * 2 + (k & 1)];
            const int64_t n = pi * kn::kPanel + j;
            if (k >= K || n >= N) {
              ASSERT_EQ(got, 0) << "padding at k " << k << " n " << n;
              continue;
            }
            const uint16_t want = e[k * N + n];
            const bool want_nan = (want & 0x7F80) == 0x7F80 && (want & 0x7F) != 0;
            if (want_nan)
              ASSERT_TRUE((got & 0x7F80) == 0x7F80 && (got & 0x7F) != 0) << "NaN lost at k " << k << " n " << n;
            else
              ASSERT_EQ(got, want) << "layout " << layout << " k " << k << " n " << n << " value "
                                   << w[k][n].item<float>();
          }
    }
  }
}
