// SFT JSONL reading and response-only tokenization.
#include "rlhf/data/sft_dataset.h"

#include "rlhf/io/error.h"

namespace rlhf::data {

SftRecord sft_record(const std::string& prompt, const std::string& response, const std::string& where) {
  return {{{prompt, false}, {response, true}}, where};
}

std::vector<SftRecord> read_sft_jsonl(const std::string& path, const ChatTemplate& tpl, SkipReport* skips) {
  std::vector<SftRecord> out;
  int64_t n_lines = 0;
  io::for_each_jsonl(path, [&](const io::json& r, const io::Where& w) {
    ++n_lines;
    if (!r.is_object()) throw Error(w.str() + ": expected a JSON object");
    if (r.contains("messages")) {
      SftRecord rec{tpl.render(r["messages"], w), w.str()};
      bool empty = true;
      for (const auto& s : rec.segments)
        if (s.train && s.text.size() > tpl.assistant_content_prefix.size()) empty = false;
      if (empty) {
        if (skips) skips->add("empty response", w.str());
        return;
      }
      out.push_back(std::move(rec));
      return;
    }
    if (!r.contains("prompt") && !r.contains("response"))
      throw Error(w.str() + ": expected {\"prompt\", \"response\"} or {\"messages\": [...]}");
    const std::string& prompt = io::get_string(r, "prompt", w);
    const std::string& response = io::get_string(r, "response", w);
    if (response.find_first_not_of(" \t\n") == std::string::npos) {
      if (skips) skips->add("empty response", w.str());
      return;
    }
    out.push_back(sft_record(prompt, response, w.str()));
  });
  if (n_lines == 0) throw Error(path + ": the SFT dataset is empty (no records)");
  if (out.empty()) throw Error(path + ": every record was skipped" + (skips ? " (" + skips->summary() + ")" : std::string()));
  return out;
}

SftDataset tokenize_sft(const std::vector<SftRecord>& records, const Tokenizer& tok, int64_t max_seq,
                        const std::string& source) {
  if (tok.eos_id() < 0) throw Error("tokenize_sft: the tokenizer has no EOS token to end responses with");
  SftDataset ds;
  for (const auto& rec : records) {
    TokenizedExample ex;
    int64_t prompt_len = -1;  // ids before the first trained one
    for (const auto& seg : rec.segments) {
      if (seg.train && prompt_len < 0) prompt_len = static_cast<int64_t>(ex.ids.size());
      for (int32_t id : tok.encode(seg.text)) {
        ex.ids.push_back(id);
        ex.train.push_back(seg.train ? 1 : 0);
      }
    }
    ex.ids.push_back(tok.eos_id());
    ex.train.push_back(1);
    if (prompt_len < 0) prompt_len = static_cast<int64_t>(ex.ids.size()) - 1;
    if (prompt_len >= max_seq) {
      ds.skipped.add("prompt longer than the context (" + std::to_string(max_seq) + " tokens)", rec.where);
      continue;
    }
    if (static_cast<int64_t>(ex.ids.size()) > max_seq + 1) {
      ex.ids.resize(static_cast<size_t>(max_seq + 1));
      ex.train.resize(static_cast<size_t>(max_seq + 1));
      ++ds.truncated;
    }
    int64_t n_train = 0;
    for (size_t i = 1; i < ex.train.size(); ++i) n_train += ex.train[i];
    if (n_train == 0) {
      ds.skipped.add("response empty after truncation", rec.where);
      continue;
    }
    ds.examples.push_back(std::move(ex));
  }
  if (ds.examples.empty())
    throw Error(source + ": no usable SFT example (" +
                (ds.skipped.total() ? ds.skipped.summary() : std::string("no records")) + ")");
  return ds;
}

}  // namespace rlhf::data
