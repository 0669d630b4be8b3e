// UTF-8 decoding that never fails (invalid bytes come back one at a time), the Unicode classes
// the GPT-2 pre-tokenizer needs (\p{L}, \p{N}, \s), and GPT-2's byte <-> printable-char map.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rlhf::tokenizer {

struct CodepointRange {
  uint32_t lo, hi;  // inclusive
};
extern const CodepointRange kLetterRanges[];
extern const size_t kLetterRangesCount;
extern const CodepointRange kNumberRanges[];
extern const size_t kNumberRangesCount;

// Code point used for a byte that does not start a valid UTF-8 sequence: it is in no class
// (neither letter, number nor space), like punctuation.
constexpr uint32_t kInvalidCodepoint = 0xFFFFFFFF;

// Decodes the code point at s[pos]; *len receives its length in bytes (1 for an invalid byte).
// Rejects overlong forms, surrogates and values past U+10FFFF.
uint32_t utf8_decode(std::string_view s, size_t pos, size_t* len);
void utf8_append(std::string& out, uint32_t cp);
// Byte length of the UTF-8 character starting at s[pos] (1 for an invalid byte).
inline size_t utf8_len(std::string_view s, size_t pos) {
  size_t n;
  utf8_decode(s, pos, &n);
  return n;
}

bool is_letter(uint32_t cp);      // general category L*
bool is_number(uint32_t cp);      // general category N*
bool is_whitespace(uint32_t cp);  // Unicode White_Space

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100.. in order,
// so every byte string becomes a printable, space-free token string.
uint32_t byte_to_codepoint(uint8_t b);
// Inverse; -1 for a code point that is not the image of a byte.
int codepoint_to_byte(uint32_t cp);
// Byte string -> its byte-level token form, and back (returns false on a char outside the map).
std::string bytes_to_token(std::string_view bytes);
bool token_to_bytes(std::string_view token, std::string* out);

}  // namespace rlhf::tokenizer
