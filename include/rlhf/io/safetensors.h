// Reader and writer for .safetensors files (Hugging Face's tensor container), without libtorch:
// raw little-endian bytes + dtype string + shape. src/model/tensor_io.h converts to torch.
//
// Layout: u64 little-endian header length N | N bytes of JSON
//   {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, ...,
//    "__metadata__": {"key": "string value"}}
// | data section (offsets are relative to its start, END exclusive).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rlhf::io {

// Bytes per element of a safetensors dtype ("F32" -> 4, "BOOL" -> 1); 0 when unknown.
size_t safetensors_dtype_size(const std::string& dtype);

struct SafetensorsInfo {
  std::string name;
  std::string dtype;           // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", ...
  std::vector<int64_t> shape;  // row-major; {} = scalar
  uint64_t begin = 0, end = 0;  // byte range inside the data section
  uint64_t n_bytes() const { return end - begin; }
  uint64_t n_elements() const;
};

// A validated, read-only view of one file (mmapped). Every check failure (header length past the
// end of the file, malformed JSON, unknown dtype, shape x dtype size != byte span, offsets outside
// the data section or overlapping) throws rlhf::Error naming the file and the tensor at fault.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Sorted by name.
  const std::vector<SafetensorsInfo>& tensors() const { return tensors_; }
  const SafetensorsInfo* find(const std::string& name) const;  // nullptr when absent
  const SafetensorsInfo& get(const std::string& name) const;   // throws "FILE: no tensor \"NAME\""
  // The tensor's bytes (n_bytes() of them), valid while this object lives.
  const uint8_t* data(const SafetensorsInfo& t) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write; `data` is borrowed and must stay valid during the call.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t n_bytes = 0;  // must equal product(shape) * dtype size
};

// Writes a file atomically (PATH.tmp.<pid>, fsync, rename): names sorted, data in name order,
// header padded with spaces to a multiple of 8 bytes. Throws on a duplicate name, an unknown
// dtype or a size mismatch, naming the tensor.
void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace rlhf::io
