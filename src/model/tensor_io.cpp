// torch::Tensor <-> safetensors conversion.
#include "rlhf/model/tensor_io.h"

#include <cstring>

#include "rlhf/io/error.h"

namespace rlhf {

torch::Dtype torch_dtype_from_safetensors(const std::string& d, const std::string& where) {
  if (d == "F32") return torch::kFloat;
  if (d == "F16") return torch::kHalf;
  if (d == "BF16") return torch::kBFloat16;
  if (d == "F64") return torch::kDouble;
  if (d == "I64") return torch::kLong;
  if (d == "I32") return torch::kInt;
  if (d == "I16") return torch::kShort;
  if (d == "I8") return torch::kChar;
  if (d == "U8") return torch::kByte;
  if (d == "BOOL") return torch::kBool;
  throw Error(where + ": dtype " + d + " has no libtorch equivalent (convert it to F32/F16/BF16 first)");
}

std::string safetensors_dtype_of(torch::Dtype d) {
  switch (d) {
    case torch::kFloat: return "F32";
    case torch::kHalf: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kDouble: return "F64";
    case torch::kLong: return "I64";
    case torch::kInt: return "I32";
    case torch::kShort: return "I16";
    case torch::kChar: return "I8";
    case torch::kByte: return "U8";
    case torch::kBool: return "BOOL";
    default: throw Error(std::string("safetensors: cannot store dtype ") + c10::toString(d));
  }
}

torch::Tensor tensor_from_safetensors(const io::SafetensorsFile& f, const io::SafetensorsInfo& t, bool upcast) {
  auto dtype = torch_dtype_from_safetensors(t.dtype, f.path() + ": tensor \"" + t.name + "\"");
  auto out = torch::empty(t.shape, torch::TensorOptions().dtype(dtype));
  if (t.n_bytes() > 0) std::memcpy(out.data_ptr(), f.data(t), t.n_bytes());
  if (upcast && (dtype == torch::kHalf || dtype == torch::kBFloat16)) out = out.to(torch::kFloat);
  return out;
}

NamedTensors load_safetensors(const std::string& path, bool upcast) {
  io::SafetensorsFile f(path);
  NamedTensors out;
  for (const auto& t : f.tensors()) out.emplace_back(t.name, tensor_from_safetensors(f, t, upcast));
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;  // contiguous CPU copies, alive until written
  std::vector<io::SafetensorsEntry> entries;
  keep.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(torch::kCPU).contiguous());
    const auto& c = keep.back();
    io::SafetensorsEntry e;
    e.name = name;
    e.dtype = safetensors_dtype_of(c.scalar_type());
    e.shape = c.sizes().vec();
    e.data = c.data_ptr();
    e.n_bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    entries.push_back(std::move(e));
  }
  io::write_safetensors(path, entries, metadata);
}

}  // namespace rlhf
