// JSON / JSONL reading with file:line errors.
#include "rlhf/io/jsonl.h"

#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"

namespace rlhf::io {

void for_each_jsonl(std::istream& in, const std::string& name,
                    const std::function<void(const json&, const Where&)>& fn) {
  std::string line;
  Where where{name, 0};
  while (std::getline(in, line)) {
    ++where.line;
    size_t p = line.find_first_not_of(" \t\r");
    if (p == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      throw Error(where.str() + ": malformed JSON (" + e.what() + ")");
    }
    fn(j, where);
  }
}

void for_each_jsonl(const std::string& path, const std::function<void(const json&, const Where&)>& fn) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open for reading");
  for_each_jsonl(in, path, fn);
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  for_each_jsonl(path, [&](const json& j, const Where&) { out.push_back(j); });
  return out;
}

json read_json(const std::string& path) {
  std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(path + ": malformed JSON (" + e.what() + ")");
  }
}

void write_json_atomic(const std::string& path, const json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

const json& get_field(const json& j, const char* key, const Where& where) {
  if (!j.is_object()) throw Error(where.str() + ": expected a JSON object");
  auto it = j.find(key);
  if (it == j.end()) throw Error(where.str() + ": missing field \"" + key + "\"");
  return *it;
}

const std::string& get_string(const json& j, const char* key, const Where& where) {
  const json& v = get_field(j, key, where);
  if (!v.is_string()) throw Error(where.str() + ": field \"" + key + "\" must be a string");
  return v.get_ref<const std::string&>();
}

double get_number(const json& j, const char* key, const Where& where) {
  const json& v = get_field(j, key, where);
  if (!v.is_number()) throw Error(where.str() + ": field \"" + key + "\" must be a number");
  return v.get<double>();
}

long long get_int(const json& j, const char* key, const Where& where) {
  const json& v = get_field(j, key, where);
  if (!v.is_number_integer()) throw Error(where.str() + ": field \"" + key + "\" must be an integer");
  return v.get<long long>();
}

}  // namespace rlhf::io
