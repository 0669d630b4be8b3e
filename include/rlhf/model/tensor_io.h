// torch::Tensor <-> safetensors: dtype mapping, loading a file's tensors (optionally upcasting
// F16/BF16 to float) and saving named tensors (made contiguous on the CPU first).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/io/safetensors.h"

namespace rlhf {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// "F32" -> kFloat, ...; throws rlhf::Error naming `where` for dtypes libtorch 1.13 lacks (U16...).
torch::Dtype torch_dtype_from_safetensors(const std::string& dtype, const std::string& where);
std::string safetensors_dtype_of(torch::Dtype dtype);

// Copies one tensor out of the mapped file (the result owns its memory). With upcast, F16 and
// BF16 become float32.
torch::Tensor tensor_from_safetensors(const io::SafetensorsFile& f, const io::SafetensorsInfo& t, bool upcast = false);
// Every tensor of a file, sorted by name.
NamedTensors load_safetensors(const std::string& path, bool upcast = false);
// Writes tensors atomically (any device/dtype/layout; copied to contiguous CPU as needed).
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace rlhf
