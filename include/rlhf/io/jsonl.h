// JSON / JSONL reading with errors that name the file and line, and typed field access that
// names the missing or mistyped field.
#pragma once
#include <functional>
#include <istream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rlhf::io {

using json = nlohmann::json;

// Where a record came from, for error messages: "data.jsonl:12".
struct Where {
  std::string file;
  size_t line = 0;
  std::string str() const { return line ? file + ":" + std::to_string(line) : file; }
};

// Calls fn(record, where) for each non-blank line of a JSONL stream/file. A malformed line throws
// rlhf::Error "FILE:LINE: malformed JSON (...)". `name` labels a stream ("<stdin>").
void for_each_jsonl(std::istream& in, const std::string& name,
                    const std::function<void(const json&, const Where&)>& fn);
void for_each_jsonl(const std::string& path, const std::function<void(const json&, const Where&)>& fn);
std::vector<json> read_jsonl(const std::string& path);

// Parses a whole JSON file; errors name the file.
json read_json(const std::string& path);
// Writes pretty JSON atomically.
void write_json_atomic(const std::string& path, const json& j);

// Field access: throws "WHERE: missing field \"key\"" / "WHERE: field \"key\" must be a string".
const std::string& get_string(const json& j, const char* key, const Where& where);
double get_number(const json& j, const char* key, const Where& where);
long long get_int(const json& j, const char* key, const Where& where);
const json& get_field(const json& j, const char* key, const Where& where);

}  // namespace rlhf::io
