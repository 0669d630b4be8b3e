#include "kernels/hugepages.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <unordered_map>

namespace rlhf {

namespace {

// Blocks are whole 4 KiB pages starting on a huge-page boundary: every full 2 MiB of a block is
// one huge page and the rest of its last 2 MiB stays on small pages (rounding a 2.4 MB weight
// up to 4 MiB would waste 40% of it).
constexpr size_t kSmallPage = 4096;
size_t round_up(size_t bytes) { return (bytes + kSmallPage - 1) / kSmallPage * kSmallPage; }

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> blocks;  // rounded size -> freed block
  size_t bytes = 0, cap = 0;
  Cache() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    cap = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 4 : size_t{1} << 30;
    if (const char* mb = std::getenv("RLHF_HUGEPAGE_CACHE_MB"); mb && *mb) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(mb, &end, 10);
      if (end && *end == '\0' && mb[0] != '-')
        cap = static_cast<size_t>(v) << 20;
      else
        std::cerr << "warning: RLHF_HUGEPAGE_CACHE_MB=\"" << mb << "\" is not a whole number of MiB; using "
                  << (cap >> 20) << "\n";
    }
  }
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: blocks may be freed during static destruction
  return *c;
}

// A new mapping of `size` bytes (whole small pages) starting on a huge-page boundary.
void* map_aligned(size_t size) {
  const size_t len = size + kHugePageBytes;
  void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = (base + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  if (start > base) munmap(raw, start - base);
  const uintptr_t end = start + size, raw_end = base + len;
  if (raw_end > end) munmap(reinterpret_cast<void*>(end), raw_end - end);
  void* p = reinterpret_cast<void*>(start);
  madvise(p, size, MADV_HUGEPAGE);  // advisory: with THP off this is a plain mapping
  return p;
}

// Blocks handed to libtorch, by address, with their rounded sizes: libtorch frees some buffers
// through raw_deleter() (the address alone), so the size cannot travel in the DataPtr's context.
struct Live {
  std::mutex mu;
  std::unordered_map<void*, size_t> size;
};
Live& live() {
  static Live* l = new Live;
  return *l;
}

c10::DeleterFnPtr g_fallback_raw_deleter = nullptr;

void huge_or_fallback_delete(void* p) {
  if (!p) return;
  size_t size = 0;
  {
    std::lock_guard<std::mutex> lock(live().mu);
    auto it = live().size.find(p);
    if (it != live().size.end()) {
      size = it->second;
      live().size.erase(it);
    }
  }
  if (size)
    huge_free(p, size);
  else if (g_fallback_raw_deleter)
    g_fallback_raw_deleter(p);
}

std::atomic<bool> g_active{true};  // set_hugepage_allocator_active

class HugePageCpuAllocator final : public c10::Allocator {
 public:
  explicit HugePageCpuAllocator(c10::Allocator* fallback) : fallback_(fallback) {}
  c10::DataPtr allocate(size_t n) const override {
    if (n < kHugeMinBytes || !g_active.load(std::memory_order_relaxed)) return fallback_->allocate(n);
    size_t size = 0;
    void* p = huge_alloc(n, &size);
    {
      std::lock_guard<std::mutex> lock(live().mu);
      live().size[p] = size;
    }
    return {p, p, &huge_or_fallback_delete, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return g_fallback_raw_deleter ? &huge_or_fallback_delete : nullptr; }

 private:
  c10::Allocator* fallback_;
};

}  // namespace

bool hugepages_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("RLHF_HUGEPAGES");
    return v && std::strcmp(v, "1") == 0;
  }();
  return on;
}

void* huge_alloc(size_t bytes, size_t* got) {
  const size_t size = round_up(bytes == 0 ? 1 : bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    // The smallest cached block that fits, when it wastes at most a quarter of itself (the
    // tensors of one step come in a few sizes; an exact match only would strand blocks).
    auto it = c.blocks.lower_bound(size);
    if (it != c.blocks.end() && (got ? it->first - size <= it->first / 4 : it->first == size)) {
      void* p = it->second;
      if (got) *got = it->first;
      c.bytes -= it->first;
      c.blocks.erase(it);
      return p;
    }
  }
  if (got) *got = size;
  return map_aligned(size);
}

void* huge_alloc(size_t bytes) { return huge_alloc(bytes, nullptr); }

void huge_free(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = round_up(bytes == 0 ? 1 : bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.bytes + size <= c.cap) {
      c.blocks.emplace(size, p);
      c.bytes += size;
      return;
    }
  }
  munmap(p, size);
}

size_t huge_cache_bytes() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().bytes;
}

size_t huge_cache_cap() { return cache().cap; }

void huge_cache_clear() {
  Cache& c = cache();
  std::multimap<size_t, void*> blocks;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    blocks.swap(c.blocks);
    c.bytes = 0;
  }
  for (auto& [size, p] : blocks) munmap(p, size);
}

void set_hugepage_allocator_active(bool on) { g_active.store(on, std::memory_order_relaxed); }

void install_hugepage_allocator(bool force) {
  if (!hugepages_enabled() && !force) return;
  g_active.store(true, std::memory_order_relaxed);
  static std::once_flag once;
  std::call_once(once, [] {
    c10::Allocator* prev = c10::GetCPUAllocator();
    g_fallback_raw_deleter = prev->raw_deleter();
    static HugePageCpuAllocator* alloc = new HugePageCpuAllocator(prev);
    c10::SetCPUAllocator(alloc, /*priority=*/1);
  });
}

}  // namespace rlhf
