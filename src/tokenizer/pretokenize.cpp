// The GPT-2 split pattern as a hand-written scanner over code points.
#include "tokenizer/pretokenize.h"

#include "tokenizer/unicode.h"

namespace rlhf::tokenizer {
namespace {

enum class Cls { Letter, Number, Space, Other };

Cls classify(uint32_t cp) {
  if (is_letter(cp)) return Cls::Letter;
  if (is_number(cp)) return Cls::Number;
  if (is_whitespace(cp)) return Cls::Space;
  return Cls::Other;  // includes invalid bytes
}

struct Scanner {
  std::string_view s;
  // Class and byte length of the character at pos (pos < s.size()).
  Cls at(size_t pos, size_t* len) const { return classify(utf8_decode(s, pos, len)); }
  // End of the run of characters of class c starting at pos.
  size_t run(size_t pos, Cls c) const {
    size_t len;
    while (pos < s.size() && at(pos, &len) == c) pos += len;
    return pos;
  }
};

// Length of a contraction ('s 't 're 've 'm 'll 'd) at pos, 0 if none.
size_t contraction(std::string_view s, size_t pos) {
  if (s[pos] != '\'' || pos + 1 >= s.size()) return 0;
  char a = s[pos + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 < s.size()) {
    char b = s[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

}  // namespace

void gpt2_split(std::string_view text, const std::function<void(std::string_view)>& fn) {
  Scanner sc{text};
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos, len;
    if (size_t n = contraction(text, pos)) {
      fn(text.substr(pos, n));
      pos += n;
      continue;
    }
    Cls c = sc.at(pos, &len);
    // " ?X+" for X = letters, numbers, other: an optional single U+0020 then a run of X.
    if (c != Cls::Space || (text[pos] == ' ' && pos + 1 < text.size())) {
      size_t p = pos;
      Cls run_cls = c;
      if (c == Cls::Space) {  // a ' ' that may prefix the next run
        size_t len2;
        run_cls = sc.at(pos + 1, &len2);
        p = pos + 1;
      }
      if (run_cls != Cls::Space) {
        pos = sc.run(p, run_cls);
        fn(text.substr(start, pos - start));
        continue;
      }
    }
    // Whitespace: \s+(?!\S) takes the run but leaves its last char when a non-space follows
    // (so that " word" keeps its space); a lone space before \S falls to \s+.
    size_t end = sc.run(pos, Cls::Space);
    if (end < text.size()) {
      // Back off one character (the last whitespace char of the run).
      size_t last = pos, p = pos;
      while (p < end) {
        last = p;
        p += utf8_len(text, p);
      }
      if (last > pos) end = last;
    }
    fn(text.substr(start, end - start));
    pos = end;
  }
}

std::vector<std::string_view> gpt2_split(std::string_view text) {
  std::vector<std::string_view> out;
  gpt2_split(text, [&](std::string_view p) { out.push_back(p); });
  return out;
}

}  // namespace rlhf::tokenizer
