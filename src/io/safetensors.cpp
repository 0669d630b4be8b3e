// Safetensors reading (mmap + full header validation) and atomic writing.
#include "rlhf/io/safetensors.h"
#include "rlhf/io/files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "rlhf/io/error.h"

namespace rlhf::io {

using json = nlohmann::json;

size_t safetensors_dtype_size(const std::string& d) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},     {"I16", 2},
      {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

uint64_t SafetensorsInfo::n_elements() const {
  uint64_t n = 1;
  for (auto s : shape) n *= static_cast<uint64_t>(s);
  return n;
}

namespace {

// Multiplies with overflow detection; false on overflow.
bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return false;
  *out = a * b;
  return true;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(path + ": cannot stat (" + std::strerror(errno) + ")");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    throw Error(path + ": truncated safetensors file (" + std::to_string(size_) + " bytes; the 8-byte header length is missing)");
  }
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw Error(path + ": mmap failed (" + std::strerror(errno) + ")");
  map_ = static_cast<const uint8_t*>(m);
  try {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | map_[i];
    if (n > size_ - 8)
      throw Error(path + ": header length " + std::to_string(n) + " runs past the end of the file (" +
                  std::to_string(size_) + " bytes): truncated or not a safetensors file");
    if (n < 2) throw Error(path + ": header length " + std::to_string(n) + " is too small for a JSON header");
    data_start_ = 8 + n;
    const uint64_t data_len = size_ - data_start_;
    json h;
    try {
      h = json::parse(reinterpret_cast<const char*>(map_ + 8), reinterpret_cast<const char*>(map_ + 8 + n));
    } catch (const json::exception& e) {
      throw Error(path + ": malformed safetensors header JSON (" + e.what() + ")");
    }
    if (!h.is_object()) throw Error(path + ": safetensors header must be a JSON object");
    for (auto it = h.begin(); it != h.end(); ++it) {
      const std::string& name = it.key();
      const json& v = it.value();
      if (name == "__metadata__") {
        if (!v.is_object()) throw Error(path + ": __metadata__ must be an object of strings");
        for (auto m2 = v.begin(); m2 != v.end(); ++m2) {
          if (!m2.value().is_string()) throw Error(path + ": __metadata__ value \"" + m2.key() + "\" must be a string");
          metadata_[m2.key()] = m2.value().get<std::string>();
        }
        continue;
      }
      auto bad = [&](const std::string& what) { return Error(path + ": tensor \"" + name + "\": " + what); };
      if (!v.is_object()) throw bad("entry must be an object with dtype, shape, data_offsets");
      SafetensorsInfo t;
      t.name = name;
      if (!v.contains("dtype") || !v["dtype"].is_string()) throw bad("missing or non-string \"dtype\"");
      t.dtype = v["dtype"].get<std::string>();
      size_t es = safetensors_dtype_size(t.dtype);
      if (es == 0) throw bad("unknown dtype \"" + t.dtype + "\"");
      if (!v.contains("shape") || !v["shape"].is_array()) throw bad("missing or non-array \"shape\"");
      uint64_t count = 1;
      for (const auto& d : v["shape"]) {
        if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
          throw bad("shape entries must be non-negative integers (got " + v["shape"].dump() + ")");
        uint64_t dim = d.get<uint64_t>();
        if (!mul_ok(count, dim, &count)) throw bad("shape " + v["shape"].dump() + " overflows");
        t.shape.push_back(static_cast<int64_t>(dim));
      }
      const json& off = v.contains("data_offsets") ? v["data_offsets"] : json();
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
        throw bad("\"data_offsets\" must be [begin, end] with non-negative integers");
      t.begin = off[0].get<uint64_t>();
      t.end = off[1].get<uint64_t>();
      if (t.end < t.begin) throw bad("data_offsets end " + std::to_string(t.end) + " < begin " + std::to_string(t.begin));
      if (t.end > data_len)
        throw bad("data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                  ") run past the data section (" + std::to_string(data_len) + " bytes): file truncated?");
      uint64_t want = 0;
      if (!mul_ok(count, es, &want) || want != t.n_bytes())
        throw bad("shape " + v["shape"].dump() + " x " + t.dtype + " (" + std::to_string(es) + " bytes) needs " +
                  std::to_string(count * es) + " bytes but data_offsets span " + std::to_string(t.n_bytes()));
      tensors_.push_back(std::move(t));
    }
    // Overlap check on byte ranges sorted by start (empty tensors take no room).
    std::vector<const SafetensorsInfo*> by_off;
    for (const auto& t : tensors_)
      if (t.n_bytes() > 0) by_off.push_back(&t);
    std::sort(by_off.begin(), by_off.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_off.size(); ++i)
      if (by_off[i]->begin < by_off[i - 1]->end)
        throw Error(path + ": tensor \"" + by_off[i]->name + "\" overlaps tensor \"" + by_off[i - 1]->name +
                    "\" in the data section");
    std::sort(tensors_.begin(), tensors_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  } catch (...) {
    ::munmap(const_cast<uint8_t*>(map_), size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
}

const SafetensorsInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const SafetensorsInfo& SafetensorsFile::get(const std::string& name) const {
  const auto* t = find(name);
  if (!t) throw Error(path_ + ": no tensor \"" + name + "\"");
  return *t;
}

const uint8_t* SafetensorsFile::data(const SafetensorsInfo& t) const { return map_ + data_start_ + t.begin; }

void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  json h = json::object();
  uint64_t off = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& t = *sorted[i];
    auto bad = [&](const std::string& what) { return Error(path + ": tensor \"" + t.name + "\": " + what); };
    if (t.name == "__metadata__" || t.name.empty()) throw bad("reserved or empty tensor name");
    if (i > 0 && sorted[i - 1]->name == t.name) throw bad("duplicate tensor name");
    size_t es = safetensors_dtype_size(t.dtype);
    if (es == 0) throw bad("unknown dtype \"" + t.dtype + "\"");
    uint64_t n = es;
    for (auto d : t.shape) {
      if (d < 0) throw bad("negative dimension");
      n *= static_cast<uint64_t>(d);
    }
    if (n != t.n_bytes) throw bad("shape x dtype needs " + std::to_string(n) + " bytes, got " + std::to_string(t.n_bytes));
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));

  // Streamed (AtomicFile), so large models are not staged in memory twice.
  AtomicFile out(path);
  out.write(len, 8);
  out.write(header.data(), header.size());
  for (const auto* t : sorted) out.write(t->data, t->n_bytes);
  out.commit();
}

}  // namespace rlhf::io
