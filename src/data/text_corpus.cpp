// Text corpus reading, tokenization and packing.
#include "rlhf/data/text_corpus.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"

namespace fs = std::filesystem;

namespace rlhf::data {

namespace {
bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}
void split_into(const std::string& text, const std::string& sep, std::vector<std::string>& out, int64_t& empty) {
  size_t pos = 0;
  while (true) {
    size_t at = sep.empty() ? std::string::npos : text.find(sep, pos);
    std::string doc = text.substr(pos, at == std::string::npos ? std::string::npos : at - pos);
    if (blank(doc))
      ++empty;
    else
      out.push_back(std::move(doc));
    if (at == std::string::npos) break;
    pos = at + sep.size();
  }
}
}  // namespace

std::vector<std::string> read_text_documents(const std::string& path, const std::string& separator, int64_t* empty) {
  std::vector<std::string> files;
  if (io::dir_exists(path)) {
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error(path + ": the corpus folder holds no files");
  } else if (io::file_exists(path)) {
    files.push_back(path);
  } else {
    throw Error(path + ": corpus not found (give a text file or a folder of text files)");
  }
  std::vector<std::string> docs;
  int64_t n_empty = 0;
  for (const auto& f : files) split_into(io::read_file(f), separator, docs, n_empty);
  if (empty) *empty = n_empty;
  if (docs.empty()) throw Error(path + ": the corpus holds no non-empty document");
  return docs;
}

torch::Tensor pack_documents(const std::vector<std::string>& docs, const Tokenizer& tok, int threads) {
  const int32_t eos = tok.eos_id();
  if (eos < 0) throw Error("pack_documents: the tokenizer has no end-of-text token to separate documents");
  size_t n = docs.size();
  std::vector<std::vector<int32_t>> enc(n);
  int nt = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  nt = static_cast<int>(std::min<size_t>(static_cast<size_t>(nt), n));
  std::vector<std::thread> pool;
  for (int w = 0; w < nt; ++w)
    pool.emplace_back([&, w] {
      for (size_t i = static_cast<size_t>(w); i < n; i += static_cast<size_t>(nt)) enc[i] = tok.encode(docs[i]);
    });
  for (auto& t : pool) t.join();
  size_t total = 0;
  for (const auto& e : enc) total += e.size() + 1;
  auto out = torch::empty({static_cast<int64_t>(total)}, torch::kInt64);
  int64_t* p = out.data_ptr<int64_t>();
  for (const auto& e : enc) {
    for (int32_t id : e) *p++ = id;
    *p++ = eos;
  }
  return out;
}

PackedSequences::PackedSequences(torch::Tensor stream, int64_t seq_len) : stream_(std::move(stream)), T_(seq_len) {
  if (T_ < 1) throw Error("PackedSequences: sequence length must be >= 1");
  n_ = stream_.numel() > 0 ? (stream_.numel() - 1) / T_ : 0;
}

LmBatch PackedSequences::batch(const std::vector<int64_t>& idx) const {
  std::vector<torch::Tensor> rows;
  rows.reserve(idx.size());
  for (int64_t i : idx) {
    if (i < 0 || i >= n_) throw Error("PackedSequences: index out of range");
    rows.push_back(stream_.slice(0, i * T_, i * T_ + T_ + 1));
  }
  auto chunk = torch::stack(rows);  // (B, T+1)
  auto inputs = chunk.slice(1, 0, T_).contiguous();
  auto labels = chunk.slice(1, 1, T_ + 1).contiguous();
  return {inputs, torch::ones_like(inputs), labels};
}

std::pair<PackedSequences, PackedSequences> PackedSequences::split(torch::Tensor stream, int64_t seq_len,
                                                                   double fraction) {
  int64_t n = stream.numel() > 0 ? (stream.numel() - 1) / seq_len : 0;
  if (n < 1)
    throw Error("the corpus has " + std::to_string(stream.numel()) + " tokens: too few for one sequence of " +
                std::to_string(seq_len) + " (lower --max-seq or give more text)");
  int64_t n_val = fraction > 0 ? std::max<int64_t>(1, static_cast<int64_t>(n * fraction)) : 0;
  if (n_val >= n) n_val = n > 1 ? n / 2 : 0;
  int64_t n_train = n - n_val;
  // Train takes sequences [0, n_train) (+1 overlap token); val the rest of the stream.
  PackedSequences train(stream.slice(0, 0, n_train * seq_len + 1), seq_len);
  PackedSequences val(stream.slice(0, n_train * seq_len), seq_len);
  return {train, val};
}

}  // namespace rlhf::data
