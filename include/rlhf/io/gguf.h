// Reader for GGUF files (llama.cpp's model format, versions 1-3): header, typed metadata,
// tensor table and zero-copy access to each tensor's bytes through a read-only mmap. No libtorch.
//
// Layout of a GGUF file (all little-endian):
//   magic "GGUF" | u32 version | tensor_count | kv_count | kv_count x (key, u32 type, value)
//   | tensor_count x (name, u32 n_dims, n_dims x dim, u32 ggml_type, u64 offset)
//   | padding to `alignment` | tensor data (each tensor at data_offset + offset).
// Version 1 stores counts, string lengths, array lengths and dims as u32; versions 2 and 3 as u64.
//
// Usage (model import):
//   rlhf::io::GgufFile g("model.gguf");
//   uint32_t dim = g.get_uint("llama.embedding_length");
//   const auto& t = g.tensor("token_embd.weight");   // dims {dim, vocab}: dims[0] is innermost
//   std::vector<float> w = g.tensor_to_f32(t);         // F32, F16 and BF16 tensors
// Dims follow ggml order: dims[0] is the fastest-varying (contiguous) axis, so a PyTorch weight
// of shape [out, in] appears as dims {in, out}. Reverse dims to get the row-major shape.
// (llama.cpp's converters also permute the rows of attn_q/attn_k for its RoPE layout; undoing
// that is the importer's job, not this reader's.)
//
// Every validation failure (bad magic, unknown version or type, truncation, absurd counts,
// tensors past the end of the file or overlapping the header) throws rlhf::Error naming the file
// and the key or tensor at fault. The reader never reads outside the mapped file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rlhf::io {

// Metadata value types, numbered as in the GGUF specification.
enum class GgufType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata value. Scalars keep their value in the field matching their kind (all unsigned
// types in `u`, signed in `i`, floats in `f`, bool in `b`); arrays hold `items` of `array_type`
// (nested arrays are allowed by the format and supported).
struct GgufValue {
  GgufType type = GgufType::UInt8;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  bool b = false;
  std::string str;
  GgufType array_type = GgufType::UInt8;
  std::vector<GgufValue> items;

  bool is_integer() const;  // any of the 8 integer types
  bool is_float() const { return type == GgufType::Float32 || type == GgufType::Float64; }
};

// ggml tensor element types (subset with known block sizes; others are rejected on open).
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};
const char* ggml_type_name(GgmlType t);

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: dims[0] innermost; row-major shape = reversed dims
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;      // from the start of the data section (GgufFile::data_offset())
  uint64_t n_elements = 0;  // product of dims
  uint64_t n_bytes = 0;     // size of the tensor's data in the file
  // Row-major shape (dims reversed), as PyTorch/safetensors would write it.
  std::vector<int64_t> shape() const;
};

class GgufFile {
 public:
  // Maps and parses `path`; throws rlhf::Error naming the file and the field at fault.
  explicit GgufFile(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;
  GgufFile(GgufFile&& other) noexcept;
  GgufFile& operator=(GgufFile&& other) noexcept;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }      // general.alignment, default 32
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  uint64_t file_size() const { return size_; }

  // Metadata in file order of keys is not kept; the map is sorted by key.
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  bool has(const std::string& key) const { return metadata_.count(key) != 0; }
  const GgufValue& get(const std::string& key) const;  // throws "FILE: missing metadata key K"

  // Typed access; each throws naming the file and key when missing or of the wrong type.
  std::string get_string(const std::string& key) const;
  uint64_t get_uint(const std::string& key) const;  // any integer type with a value >= 0
  int64_t get_int(const std::string& key) const;    // any integer type that fits int64
  double get_float(const std::string& key) const;   // float types, or integers converted
  bool get_bool(const std::string& key) const;
  const std::vector<GgufValue>& get_array(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<float> get_f32_array(const std::string& key) const;    // float or integer items
  std::vector<int64_t> get_int_array(const std::string& key) const;  // integer items
  // Same, with a default when the key is absent (a key of the wrong type still throws).
  std::string get_string_or(const std::string& key, const std::string& def) const;
  uint64_t get_uint_or(const std::string& key, uint64_t def) const;
  double get_float_or(const std::string& key, double def) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;  // nullptr when absent
  const GgufTensorInfo& tensor(const std::string& name) const;       // throws when absent
  // The tensor's raw bytes (n_bytes of them), inside the mapping; valid while this object lives.
  const uint8_t* tensor_data(const GgufTensorInfo& t) const;
  // Converts an F32, F16 or BF16 tensor to floats, in file order (row-major of shape()).
  // Other types throw naming the tensor and its type.
  std::vector<float> tensor_to_f32(const GgufTensorInfo& t) const;

 private:
  void parse();
  void unmap();

  std::string path_;
  const uint8_t* data_ = nullptr;  // the whole file, mmapped read-only
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// IEEE half / bfloat16 -> float (exact).
float gguf_f16_to_f32(uint16_t h);
float gguf_bf16_to_f32(uint16_t h);

}  // namespace rlhf::io
