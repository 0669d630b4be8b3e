// GGUF reader: bounds-checked parsing of the header, metadata and tensor table of an mmapped file.
#include "rlhf/io/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "rlhf/io/error.h"

namespace rlhf::io {
namespace {

// Upper bounds that no real file reaches; they turn a corrupted count into a clear error
// instead of a huge allocation.
constexpr uint64_t kMaxStringLen = 1ull << 30;
constexpr uint64_t kMaxDims = 8;
constexpr uint64_t kMaxArrayItems = 1ull << 24;  // vocabularies have ~10^5 tokens
constexpr int kMaxArrayDepth = 8;

// Reads little-endian values from [data, data + size), throwing with `what()` context on overrun.
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& path, uint32_t version)
      : data_(data), size_(size), path_(path), version_(version) {}

  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(path_ + ": " + msg + " (at byte " + std::to_string(pos_) + " of " + std::to_string(size_) + ")");
  }
  void need(uint64_t n, const std::string& what) const {
    if (n > size_ - pos_) fail("truncated file while reading " + what);
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // Counts and lengths: u32 in GGUF v1, u64 from v2 on.
  uint64_t read_size(const std::string& what) {
    return version_ == 1 ? read<uint32_t>(what) : read<uint64_t>(what);
  }
  std::string read_string(const std::string& what) {
    uint64_t n = read_size(what + " (string length)");
    if (n > kMaxStringLen) fail("absurd string length " + std::to_string(n) + " in " + what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  void set_version(uint32_t v) { version_ = v; }
  uint32_t version() const { return version_; }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
  uint32_t version_;
};

bool valid_type(uint32_t t) { return t <= 12; }

// Smallest encoded size of one item of type t: used to reject array counts the file cannot hold.
uint64_t min_item_size(GgufType t, uint32_t version) {
  switch (t) {
    case GgufType::UInt8: case GgufType::Int8: case GgufType::Bool: return 1;
    case GgufType::UInt16: case GgufType::Int16: return 2;
    case GgufType::UInt32: case GgufType::Int32: case GgufType::Float32: return 4;
    case GgufType::UInt64: case GgufType::Int64: case GgufType::Float64: return 8;
    case GgufType::String: return version == 1 ? 4 : 8;
    case GgufType::Array: return version == 1 ? 8 : 12;
  }
  return 1;
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& key, int depth) {
  GgufValue v;
  v.type = type;
  const std::string what = "metadata key \"" + key + "\"";
  switch (type) {
    case GgufType::UInt8: v.u = c.read<uint8_t>(what); break;
    case GgufType::Int8: v.i = c.read<int8_t>(what); break;
    case GgufType::UInt16: v.u = c.read<uint16_t>(what); break;
    case GgufType::Int16: v.i = c.read<int16_t>(what); break;
    case GgufType::UInt32: v.u = c.read<uint32_t>(what); break;
    case GgufType::Int32: v.i = c.read<int32_t>(what); break;
    case GgufType::UInt64: v.u = c.read<uint64_t>(what); break;
    case GgufType::Int64: v.i = c.read<int64_t>(what); break;
    case GgufType::Float32: v.f = c.read<float>(what); break;
    case GgufType::Float64: v.f = c.read<double>(what); break;
    case GgufType::Bool: {
      uint8_t b = c.read<uint8_t>(what);
      if (b > 1) c.fail(what + ": bool value " + std::to_string(b) + " is neither 0 nor 1");
      v.b = b != 0;
      break;
    }
    case GgufType::String: v.str = c.read_string(what); break;
    case GgufType::Array: {
      if (depth >= kMaxArrayDepth) c.fail(what + ": arrays nested too deeply");
      uint32_t et = c.read<uint32_t>(what + " (array type)");
      if (!valid_type(et)) c.fail(what + ": unknown array item type " + std::to_string(et));
      v.array_type = static_cast<GgufType>(et);
      uint64_t n = c.read_size(what + " (array length)");
      if (n > kMaxArrayItems) c.fail(what + ": absurd array length " + std::to_string(n));
      if (n > c.remaining() / min_item_size(v.array_type, c.version()))
        c.fail(what + ": array length " + std::to_string(n) + " exceeds what the file can hold");
      v.items.reserve(n);
      for (uint64_t k = 0; k < n; ++k) v.items.push_back(read_value(c, v.array_type, key, depth + 1));
      break;
    }
  }
  return v;
}

uint64_t checked_mul(uint64_t a, uint64_t b, Cursor& c, const std::string& what) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) c.fail(what + ": size overflows");
  return a * b;
}

// (block size in elements, bytes per block) of a ggml type; {0,0} for unknown types.
std::pair<uint64_t, uint64_t> ggml_block(uint32_t t) {
  switch (static_cast<GgmlType>(t)) {
    case GgmlType::F32: return {1, 4};
    case GgmlType::F16: return {1, 2};
    case GgmlType::BF16: return {1, 2};
    case GgmlType::F64: return {1, 8};
    case GgmlType::I8: return {1, 1};
    case GgmlType::I16: return {1, 2};
    case GgmlType::I32: return {1, 4};
    case GgmlType::I64: return {1, 8};
    case GgmlType::Q4_0: return {32, 18};
    case GgmlType::Q4_1: return {32, 20};
    case GgmlType::Q5_0: return {32, 22};
    case GgmlType::Q5_1: return {32, 24};
    case GgmlType::Q8_0: return {32, 34};
    case GgmlType::Q8_1: return {32, 36};
    case GgmlType::Q2_K: return {256, 84};
    case GgmlType::Q3_K: return {256, 110};
    case GgmlType::Q4_K: return {256, 144};
    case GgmlType::Q5_K: return {256, 176};
    case GgmlType::Q6_K: return {256, 210};
    case GgmlType::Q8_K: return {256, 292};
  }
  return {0, 0};
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"uint8", "int8",  "uint16", "int16",  "uint32", "int32",  "float32",
                                "bool",  "string", "array", "uint64", "int64",  "float64"};
  uint32_t k = static_cast<uint32_t>(t);
  return k <= 12 ? names[k] : "unknown";
}

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return "F32";
    case GgmlType::F16: return "F16";
    case GgmlType::Q4_0: return "Q4_0";
    case GgmlType::Q4_1: return "Q4_1";
    case GgmlType::Q5_0: return "Q5_0";
    case GgmlType::Q5_1: return "Q5_1";
    case GgmlType::Q8_0: return "Q8_0";
    case GgmlType::Q8_1: return "Q8_1";
    case GgmlType::Q2_K: return "Q2_K";
    case GgmlType::Q3_K: return "Q3_K";
    case GgmlType::Q4_K: return "Q4_K";
    case GgmlType::Q5_K: return "Q5_K";
    case GgmlType::Q6_K: return "Q6_K";
    case GgmlType::Q8_K: return "Q8_K";
    case GgmlType::I8: return "I8";
    case GgmlType::I16: return "I16";
    case GgmlType::I32: return "I32";
    case GgmlType::I64: return "I64";
    case GgmlType::F64: return "F64";
    case GgmlType::BF16: return "BF16";
  }
  return "unknown";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::UInt8: case GgufType::Int8: case GgufType::UInt16: case GgufType::Int16:
    case GgufType::UInt32: case GgufType::Int32: case GgufType::UInt64: case GgufType::Int64:
      return true;
    default:
      return false;
  }
}

static bool is_unsigned_type(GgufType t) {
  return t == GgufType::UInt8 || t == GgufType::UInt16 || t == GgufType::UInt32 || t == GgufType::UInt64;
}

std::vector<int64_t> GgufTensorInfo::shape() const {
  std::vector<int64_t> s;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) s.push_back(static_cast<int64_t>(*it));
  return s;
}

GgufFile::GgufFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(path + ": cannot open GGUF file (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      throw Error(path + ": mmap failed (" + std::strerror(e) + ")");
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  try {
    parse();
  } catch (...) {
    unmap();
    throw;
  }
}

GgufFile::~GgufFile() { unmap(); }

void GgufFile::unmap() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
}

GgufFile::GgufFile(GgufFile&& o) noexcept { *this = std::move(o); }

GgufFile& GgufFile::operator=(GgufFile&& o) noexcept {
  if (this != &o) {
    unmap();
    path_ = std::move(o.path_);
    data_ = o.data_;
    size_ = o.size_;
    version_ = o.version_;
    alignment_ = o.alignment_;
    data_offset_ = o.data_offset_;
    metadata_ = std::move(o.metadata_);
    tensors_ = std::move(o.tensors_);
    tensor_index_ = std::move(o.tensor_index_);
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

void GgufFile::parse() {
  Cursor c(data_, size_, path_, 3);
  if (size_ < 4 || std::memcmp(data_, "GGUF", 4) != 0)
    throw Error(path_ + ": not a GGUF file (bad magic; expected \"GGUF\" at the start)");
  c.read<uint32_t>("magic");
  version_ = c.read<uint32_t>("version");
  if (version_ < 1 || version_ > 3)
    c.fail("unsupported GGUF version " + std::to_string(version_) + " (this reader knows 1, 2 and 3)");
  c.set_version(version_);
  uint64_t n_tensors = c.read_size("tensor count");
  uint64_t n_kv = c.read_size("metadata count");
  // Each key-value takes at least 9 bytes and each tensor info at least 17: bound the counts.
  if (n_kv > c.remaining() / 9) c.fail("absurd metadata count " + std::to_string(n_kv));
  if (n_tensors > c.remaining() / 17) c.fail("absurd tensor count " + std::to_string(n_tensors));

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.read_string("metadata key #" + std::to_string(k));
    uint32_t type = c.read<uint32_t>("type of metadata key \"" + key + "\"");
    if (!valid_type(type)) c.fail("metadata key \"" + key + "\" has unknown type " + std::to_string(type));
    GgufValue v = read_value(c, static_cast<GgufType>(type), key, 0);
    if (!metadata_.emplace(key, std::move(v)).second) c.fail("duplicate metadata key \"" + key + "\"");
  }
  if (has("general.alignment")) {
    const GgufValue& a = metadata_.at("general.alignment");
    if (!a.is_integer()) throw Error(path_ + ": metadata key \"general.alignment\" must be an integer");
    uint64_t al = is_unsigned_type(a.type) ? a.u : static_cast<uint64_t>(a.i);
    if (al == 0 || (al & (al - 1)) != 0 || al > (1u << 20))
      throw Error(path_ + ": metadata key \"general.alignment\" = " + std::to_string(al) +
                  " is not a power of two (up to 1 MiB)");
    alignment_ = al;
  }

  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = c.read_string("name of tensor #" + std::to_string(k));
    const std::string what = "tensor \"" + t.name + "\"";
    uint32_t nd = c.read<uint32_t>(what + " (dimension count)");
    if (nd == 0 || nd > kMaxDims) c.fail(what + ": bad dimension count " + std::to_string(nd));
    t.n_elements = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      uint64_t dim = version_ == 1 ? c.read<uint32_t>(what + " (dims)") : c.read<uint64_t>(what + " (dims)");
      if (dim == 0) c.fail(what + ": dimension " + std::to_string(d) + " is 0");
      t.dims.push_back(dim);
      t.n_elements = checked_mul(t.n_elements, dim, c, what);
    }
    uint32_t type = c.read<uint32_t>(what + " (type)");
    auto [block, block_bytes] = ggml_block(type);
    if (block == 0) c.fail(what + ": unknown ggml type " + std::to_string(type));
    t.type = static_cast<GgmlType>(type);
    if (t.dims[0] % block != 0)
      c.fail(what + ": first dimension " + std::to_string(t.dims[0]) + " is not a multiple of the " +
             ggml_type_name(t.type) + " block size " + std::to_string(block));
    t.n_bytes = checked_mul(t.n_elements / block, block_bytes, c, what);
    t.offset = c.read<uint64_t>(what + " (offset)");
    if (t.offset % alignment_ != 0)
      c.fail(what + ": data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
             std::to_string(alignment_));
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) c.fail("duplicate tensor name \"" + t.name + "\"");
    tensors_.push_back(std::move(t));
  }

  data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (!tensors_.empty() && data_offset_ > size_)
    throw Error(path_ + ": truncated file: the tensor data section would start at byte " +
                std::to_string(data_offset_) + " but the file has " + std::to_string(size_) + " bytes");
  for (const auto& t : tensors_) {
    uint64_t avail = size_ - data_offset_;
    if (t.offset > avail || t.n_bytes > avail - t.offset)
      throw Error(path_ + ": tensor \"" + t.name + "\" (" + std::to_string(t.n_bytes) + " bytes at data offset " +
                  std::to_string(t.offset) + ") extends past the end of the file (truncated or corrupted)");
  }
}

const GgufValue& GgufFile::get(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) throw Error(path_ + ": missing metadata key \"" + key + "\"");
  return it->second;
}

static Error wrong_type(const std::string& path, const std::string& key, const GgufValue& v, const char* want) {
  return Error(path + ": metadata key \"" + key + "\" is a " + gguf_type_name(v.type) + ", expected " + want);
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::String) throw wrong_type(path_, key, v, "string");
  return v.str;
}

static bool value_as_uint(const GgufValue& v, uint64_t& out) {
  if (!v.is_integer()) return false;
  if (is_unsigned_type(v.type)) {
    out = v.u;
    return true;
  }
  if (v.i < 0) return false;
  out = static_cast<uint64_t>(v.i);
  return true;
}

static bool value_as_int(const GgufValue& v, int64_t& out) {
  if (!v.is_integer()) return false;
  if (is_unsigned_type(v.type)) {
    if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(v.u);
    return true;
  }
  out = v.i;
  return true;
}

uint64_t GgufFile::get_uint(const std::string& key) const {
  const GgufValue& v = get(key);
  uint64_t u;
  if (!value_as_uint(v, u)) throw wrong_type(path_, key, v, "non-negative integer");
  return u;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue& v = get(key);
  int64_t i;
  if (!value_as_int(v, i)) throw wrong_type(path_, key, v, "integer");
  return i;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.is_float()) return v.f;
  int64_t i;
  if (value_as_int(v, i)) return static_cast<double>(i);
  throw wrong_type(path_, key, v, "number");
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::Bool) throw wrong_type(path_, key, v, "bool");
  return v.b;
}

const std::vector<GgufValue>& GgufFile::get_array(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::Array) throw wrong_type(path_, key, v, "array");
  return v.items;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::Array || v.array_type != GgufType::String)
    throw wrong_type(path_, key, v, "array of strings");
  std::vector<std::string> out;
  out.reserve(v.items.size());
  for (const auto& it : v.items) out.push_back(it.str);
  return out;
}

std::vector<float> GgufFile::get_f32_array(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::Array) throw wrong_type(path_, key, v, "array of numbers");
  std::vector<float> out;
  out.reserve(v.items.size());
  for (const auto& it : v.items) {
    int64_t i;
    if (it.is_float()) out.push_back(static_cast<float>(it.f));
    else if (value_as_int(it, i)) out.push_back(static_cast<float>(i));
    else throw wrong_type(path_, key, v, "array of numbers");
  }
  return out;
}

std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::Array) throw wrong_type(path_, key, v, "array of integers");
  std::vector<int64_t> out;
  out.reserve(v.items.size());
  for (const auto& it : v.items) {
    int64_t i;
    if (!value_as_int(it, i)) throw wrong_type(path_, key, v, "array of integers");
    out.push_back(i);
  }
  return out;
}

std::string GgufFile::get_string_or(const std::string& key, const std::string& def) const {
  return has(key) ? get_string(key) : def;
}
uint64_t GgufFile::get_uint_or(const std::string& key, uint64_t def) const { return has(key) ? get_uint(key) : def; }
double GgufFile::get_float_or(const std::string& key, double def) const { return has(key) ? get_float(key) : def; }

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) throw Error(path_ + ": no tensor named \"" + name + "\"");
  return *t;
}

const uint8_t* GgufFile::tensor_data(const GgufTensorInfo& t) const { return data_ + data_offset_ + t.offset; }

float gguf_f16_to_f32(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

float gguf_bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<float> GgufFile::tensor_to_f32(const GgufTensorInfo& t) const {
  const uint8_t* p = tensor_data(t);
  std::vector<float> out(t.n_elements);
  switch (t.type) {
    case GgmlType::F32:
      std::memcpy(out.data(), p, t.n_elements * 4);
      break;
    case GgmlType::F16:
    case GgmlType::BF16:
      for (uint64_t k = 0; k < t.n_elements; ++k) {
        uint16_t h;
        std::memcpy(&h, p + 2 * k, 2);
        out[k] = t.type == GgmlType::F16 ? gguf_f16_to_f32(h) : gguf_bf16_to_f32(h);
      }
      break;
    default:
      throw Error(path_ + ": tensor \"" + t.name + "\" has type " + ggml_type_name(t.type) +
                  "; only F32, F16 and BF16 can be converted (re-export the model unquantised)");
  }
  return out;
}

}  // namespace rlhf::io
