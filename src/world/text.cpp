// Text helpers for the world (see text.h).
#include "text.h"

#include <cctype>

namespace rlhf::world::text {

static bool word_char(unsigned char c) { return std::isalnum(c) != 0; }

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0, n = s.size();
  while (i < n) {
    while (i < n && !word_char((unsigned char)s[i])) ++i;
    if (i >= n) break;
    std::string w;
    while (i < n) {
      unsigned char c = (unsigned char)s[i];
      if (word_char(c)) {
        w += (char)std::tolower(c);
        ++i;
      } else if ((c == '\'') && i + 1 < n && word_char((unsigned char)s[i + 1])) {
        w += '\'';
        ++i;
      } else {
        break;
      }
    }
    out.push_back(std::move(w));
  }
  return out;
}

int count_seq(const std::vector<std::string>& hay, const std::vector<std::string>& needle) {
  if (needle.empty() || needle.size() > hay.size()) return 0;
  int count = 0;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && hay[i + k] == needle[k]) ++k;
    if (k == needle.size()) ++count;
  }
  return count;
}

int count_word(const std::vector<std::string>& hay, const std::string& w) {
  int c = 0;
  for (const auto& h : hay) c += h == w;
  return c;
}

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace((unsigned char)s[a])) ++a;
  while (b > a && std::isspace((unsigned char)s[b - 1])) --b;
  return std::string(s.substr(a, b - a));
}

std::vector<std::string> sentences(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.' || s[i] == '!' || s[i] == '?') {
      std::string t = trim(s.substr(start, i - start));
      if (!t.empty()) out.push_back(t);
      start = i + 1;
    }
  }
  return out;
}

bool is_number(const std::string& w) {
  if (w.empty()) return false;
  for (char c : w)
    if (!std::isdigit((unsigned char)c)) return false;
  return true;
}

std::string capitalise(std::string s) {
  if (!s.empty()) s[0] = (char)std::toupper((unsigned char)s[0]);
  return s;
}

}  // namespace rlhf::world::text
