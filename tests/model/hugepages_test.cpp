// The huge-page block cache and the libtorch CPU allocator built on it (kernels/hugepages.h).
#include <gtest/gtest.h>
#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/hugepages.h"

using namespace rlhf;

namespace {
bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kHugePageBytes == 0; }
}  // namespace

TEST(HugePages, BlocksAreAlignedAndReusedBySize) {
  huge_cache_clear();
  const size_t bytes = 3 * kHugePageBytes + 5;  // rounds up to whole 4 KiB pages
  const size_t rounded = 3 * kHugePageBytes + 4096;
  void* a = huge_alloc(bytes);
  ASSERT_TRUE(aligned(a));
  std::memset(a, 0x5A, bytes);  // writable through its last byte
  EXPECT_EQ(huge_cache_bytes(), 0u);
  huge_free(a, bytes);
  EXPECT_EQ(huge_cache_bytes(), rounded);
  void* other = huge_alloc(2 * kHugePageBytes);  // another size: a new mapping
  EXPECT_NE(other, a);
  EXPECT_TRUE(aligned(other));
  void* again = huge_alloc(rounded - 100);  // the same rounded size: the cached block
  EXPECT_EQ(again, a);
  EXPECT_EQ(huge_cache_bytes(), 0u);
  huge_free(other, 2 * kHugePageBytes);
  huge_free(again, rounded);
  EXPECT_EQ(huge_cache_bytes(), rounded + 2 * kHugePageBytes);
  // With the size given back (*got), a block up to a third larger serves a smaller request; the
  // exact form never does.
  size_t got = 0;
  void* near = huge_alloc(3 * kHugePageBytes - 4096, &got);
  EXPECT_EQ(near, a);
  EXPECT_EQ(got, rounded);
  void* fresh = huge_alloc(2 * kHugePageBytes - 4096);  // the 2 MiB block would fit, but is not this size
  EXPECT_NE(fresh, other);
  huge_free(near, got);
  huge_free(fresh, 2 * kHugePageBytes - 4096);
  EXPECT_LE(huge_cache_bytes(), huge_cache_cap());
  huge_cache_clear();
  EXPECT_EQ(huge_cache_bytes(), 0u);
}

TEST(HugePages, LibtorchAllocatorTakesLargeTensorsOnly) {
  install_hugepage_allocator(/*force=*/true);  // off by default (RLHF_HUGEPAGES=1 turns it on)
  install_hugepage_allocator(true);            // idempotent
  huge_cache_clear();
  void* first = nullptr;
  {
    auto big = torch::empty({int64_t(kHugeMinBytes / 4) + 7}, torch::kFloat);  // just over the threshold
    first = big.data_ptr();
    EXPECT_TRUE(aligned(first));
    big.fill_(2.0f);
    EXPECT_EQ(big.sum().item<double>(), 2.0 * big.numel());
  }
  EXPECT_EQ(huge_cache_bytes(), kHugeMinBytes + 4096);  // freed into the cache (whole 4 KiB pages)
  auto reuse = torch::empty({int64_t(kHugeMinBytes / 4) + 100}, torch::kFloat);  // fits that block
  EXPECT_EQ(reuse.data_ptr(), first);
  // Small tensors keep the previous allocator, and libtorch's raw path (address-only frees)
  // works for both sizes.
  auto small = torch::ones({100});
  EXPECT_EQ(small.sum().item<double>(), 100.0);
  c10::Allocator* alloc = c10::GetCPUAllocator();
  for (size_t n : {size_t{256}, 3 * kHugePageBytes}) {
    void* p = alloc->raw_allocate(n);
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, n);
    alloc->raw_deallocate(p);
  }
  // Switched off, large tensors go to the previous allocator again (the rest of this test
  // process runs with the default), and the tensors made before still free into the cache.
  set_hugepage_allocator_active(false);
  huge_cache_clear();
  {
    auto after = torch::empty({int64_t(kHugeMinBytes / 4) + 7}, torch::kFloat);
    after.fill_(1.0f);
  }
  EXPECT_EQ(huge_cache_bytes(), 0u);  // a huge-page block would have been cached on free
  reuse = torch::Tensor();
  EXPECT_EQ(huge_cache_bytes(), kHugeMinBytes + 4096);
  huge_cache_clear();
}

TEST(HugePages, VectorAllocator) {
  std::vector<float, HugeAlloc<float>> big(kHugeMinBytes / 4 + 1, 1.5f), small(10, 2.5f);
  if (hugepages_enabled()) EXPECT_TRUE(aligned(big.data()));  // with RLHF_HUGEPAGES=1
  EXPECT_EQ(big.back(), 1.5f);
  EXPECT_EQ(small.front(), 2.5f);
  big.resize(3 * kHugeMinBytes / 4);  // grows into another block, contents kept
  EXPECT_EQ(big[kHugeMinBytes / 4], 1.5f);
}
