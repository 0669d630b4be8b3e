// The chat template: how {"messages": [...]} records become the dialogue text of docs/FORMATS.md
// ("\n\nHuman: ...\n\nAssistant: ..."). Stored in a checkpoint's tokenizer_config.json both as a
// Hugging Face Jinja string ("chat_template", for other tools) and as the plain prefixes our
// code reads ("rlhf_chat_template"), so no Jinja engine is needed.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/io/jsonl.h"

namespace rlhf::data {

// A piece of rendered dialogue and whether it is trained on (assistant content).
struct TextSegment {
  std::string text;
  bool train = false;
};

struct ChatTemplate {
  std::string system_prefix = "";                  // before a system message's content
  std::string user_prefix = "\n\nHuman: ";         // before a user turn's content
  std::string assistant_prefix = "\n\nAssistant:"; // before an assistant turn (the prompt ends here)
  std::string assistant_content_prefix = " ";      // starts the response (its leading space)

  // Renders messages into segments: prefixes and user/system content untrained; each assistant
  // turn's " content" trained. Errors name `where` and the message index: unknown role, missing
  // content, no assistant turn, or a last turn that is not the assistant's.
  std::vector<TextSegment> render(const nlohmann::json& messages, const io::Where& where) const;
  // The prompt for generation: messages (ending in a user turn) + assistant_prefix.
  std::string render_prompt(const nlohmann::json& messages, const io::Where& where) const;

  nlohmann::json to_json() const;
  std::string to_jinja() const;  // the equivalent Hugging Face chat_template
  static ChatTemplate from_json(const nlohmann::json& j, const std::string& where);

  // Reads DIR/tokenizer_config.json's "rlhf_chat_template" (default template when absent).
  static ChatTemplate load(const std::string& checkpoint_dir);
  // Adds both keys to DIR/tokenizer_config.json, keeping its other keys (atomic write).
  void save(const std::string& checkpoint_dir) const;
};

}  // namespace rlhf::data
