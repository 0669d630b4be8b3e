// Chat template rendering and its storage in tokenizer_config.json.
#include "rlhf/data/chat_template.h"

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"

namespace rlhf::data {

namespace {
std::string jinja_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\n')
      o += "\\n";
    else if (c == '\'')
      o += "\\'";
    else if (c == '\\')
      o += "\\\\";
    else
      o += c;
  }
  return o;
}
}  // namespace

std::vector<TextSegment> ChatTemplate::render(const nlohmann::json& messages, const io::Where& where) const {
  if (!messages.is_array() || messages.empty())
    throw Error(where.str() + ": field \"messages\" must be a non-empty list of {\"role\", \"content\"}");
  std::vector<TextSegment> out;
  bool any_assistant = false;
  std::string last_role;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    std::string at = where.str() + ": messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw Error(at + ": missing string field \"role\"");
    if (!m.contains("content") || !m["content"].is_string()) throw Error(at + ": missing string field \"content\"");
    std::string role = m["role"], content = m["content"];
    if (role == "system") {
      out.push_back({system_prefix + content, false});
    } else if (role == "user") {
      out.push_back({user_prefix + content, false});
    } else if (role == "assistant") {
      out.push_back({assistant_prefix, false});
      out.push_back({assistant_content_prefix + content, true});
      any_assistant = true;
    } else {
      throw Error(at + ": unknown role \"" + role + "\" (allowed: system, user, assistant)");
    }
    last_role = role;
  }
  if (!any_assistant) throw Error(where.str() + ": \"messages\" has no assistant turn to train on");
  if (last_role != "assistant") throw Error(where.str() + ": the last message must be the assistant's");
  return out;
}

std::string ChatTemplate::render_prompt(const nlohmann::json& messages, const io::Where& where) const {
  std::string s;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    std::string role = m.value("role", ""), content = m.value("content", "");
    if (role == "system")
      s += system_prefix + content;
    else if (role == "user")
      s += user_prefix + content;
    else if (role == "assistant")
      s += assistant_prefix + assistant_content_prefix + content;
    else
      throw Error(where.str() + ": messages[" + std::to_string(i) + "]: unknown role \"" + role + "\"");
  }
  return s + assistant_prefix;
}

nlohmann::json ChatTemplate::to_json() const {
  return {{"system_prefix", system_prefix},
          {"user_prefix", user_prefix},
          {"assistant_prefix", assistant_prefix},
          {"assistant_content_prefix", assistant_content_prefix}};
}

std::string ChatTemplate::to_jinja() const {
  return "{% for message in messages %}{% if message['role'] == 'system' %}{{ '" + jinja_escape(system_prefix) +
         "' + message['content'] }}{% elif message['role'] == 'user' %}{{ '" + jinja_escape(user_prefix) +
         "' + message['content'] }}{% elif message['role'] == 'assistant' %}{{ '" + jinja_escape(assistant_prefix) +
         jinja_escape(assistant_content_prefix) + "' + message['content'] }}{% endif %}{% endfor %}" +
         "{% if add_generation_prompt %}{{ '" + jinja_escape(assistant_prefix) + "' }}{% endif %}";
}

ChatTemplate ChatTemplate::from_json(const nlohmann::json& j, const std::string& where) {
  ChatTemplate t;
  if (!j.is_object()) throw Error(where + ": \"rlhf_chat_template\" must be an object");
  auto get = [&](const char* k, std::string& dst) {
    if (!j.contains(k)) return;
    if (!j[k].is_string()) throw Error(where + ": rlhf_chat_template." + k + " must be a string");
    dst = j[k].get<std::string>();
  };
  get("system_prefix", t.system_prefix);
  get("user_prefix", t.user_prefix);
  get("assistant_prefix", t.assistant_prefix);
  get("assistant_content_prefix", t.assistant_content_prefix);
  return t;
}

ChatTemplate ChatTemplate::load(const std::string& dir) {
  std::string path = io::join_path(dir, "tokenizer_config.json");
  if (!io::file_exists(path)) return {};
  auto j = io::read_json(path);
  if (!j.contains("rlhf_chat_template")) return {};
  return from_json(j["rlhf_chat_template"], path);
}

void ChatTemplate::save(const std::string& dir) const {
  std::string path = io::join_path(dir, "tokenizer_config.json");
  nlohmann::json j = io::file_exists(path) ? io::read_json(path) : nlohmann::json::object();
  j["chat_template"] = to_jinja();
  j["rlhf_chat_template"] = to_json();
  io::write_json_atomic(path, j);
}

}  // namespace rlhf::data
