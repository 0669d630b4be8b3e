// A minimal GGUF writer for tests (metadata only, no tensors), independent of the reader.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rlhf_test {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t version = 3) : version_(version) {}
  void add_string(const std::string& key, const std::string& v) {
    begin(key, 8);
    str(body_, v);
  }
  void add_u32(const std::string& key, uint32_t v) {
    begin(key, 4);
    put(body_, v);
  }
  void add_string_array(const std::string& key, const std::vector<std::string>& v) {
    begin(key, 9);
    put<uint32_t>(body_, 8);
    size(body_, v.size());
    for (const auto& s : v) str(body_, s);
  }
  void add_i32_array(const std::string& key, const std::vector<int32_t>& v) {
    begin(key, 9);
    put<uint32_t>(body_, 5);
    size(body_, v.size());
    for (int32_t x : v) put(body_, x);
  }
  std::string bytes() const {
    std::string out = "GGUF";
    put(out, version_);
    size(out, 0);  // tensors
    size(out, n_kv_);
    return out + body_;
  }

 private:
  template <typename T>
  static void put(std::string& b, T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void size(std::string& b, uint64_t n) const {
    if (version_ == 1) put<uint32_t>(b, static_cast<uint32_t>(n));
    else put<uint64_t>(b, n);
  }
  void str(std::string& b, const std::string& s) const {
    size(b, s.size());
    b += s;
  }
  void begin(const std::string& key, uint32_t type) {
    str(body_, key);
    put(body_, type);
    ++n_kv_;
  }
  uint32_t version_;
  uint64_t n_kv_ = 0;
  std::string body_;
};

}  // namespace rlhf_test
