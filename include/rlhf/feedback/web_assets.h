// The web UI's files (web/*), built into the binary so the server needs nothing beside it.
// Their definition is generated at build time by cmake/embed_web.cmake (<build>/generated/web_assets.cpp);
// a unit test checks it matches web/.
#pragma once
#include <string>
#include <vector>

namespace rlhf::feedback {

struct WebAsset {
  const char* path;          // "/index.html", "/app.js", ...
  const char* content_type;  // "text/html; charset=utf-8", ...
  std::string data;
};

const std::vector<WebAsset>& web_assets();
const WebAsset* find_web_asset(const std::string& path);  // nullptr when absent

}  // namespace rlhf::feedback
