// The web UI built into the binary is the one in web/ (cmake/embed_web.cmake at build time), and the
// pages never put task text into the page as HTML.
#include <gtest/gtest.h>

#include <dirent.h>

#include "rlhf/feedback/web_assets.h"
#include "rlhf/io/files.h"

using namespace rlhf::feedback;

TEST(FeedbackWeb, EmbeddedAssetsMatchWebFolder) {
  std::string dir = std::string(RLHF_SOURCE_DIR) + "/web";
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  int n = 0;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name[0] == '.') continue;
    const WebAsset* a = find_web_asset("/" + name);
    ASSERT_NE(a, nullptr) << "web/" << name << " is not built in (rebuild: cmake/embed_web.cmake runs when web/ changes)";
    EXPECT_EQ(a->data, rlhf::io::read_file(dir + "/" + name))
        << "web/" << name << " changed since it was built in (rebuild)";
    ++n;
  }
  closedir(d);
  EXPECT_EQ(size_t(n), web_assets().size());
  ASSERT_NE(find_web_asset("/index.html"), nullptr);
  ASSERT_NE(find_web_asset("/app.js"), nullptr);
}

TEST(FeedbackWeb, ScriptsNeverWriteHtml) {
  // Task text goes in as text nodes only: no innerHTML/outerHTML/insertAdjacentHTML/document.write.
  for (const auto& a : web_assets()) {
    std::string p = a.path;
    if (p.size() < 3 || p.substr(p.size() - 3) != ".js") continue;
    for (const char* bad : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("})
      EXPECT_EQ(a.data.find(bad), std::string::npos) << p << " uses " << bad;
  }
}
