// SHA-256 (FIPS 180-4), for hashing API tokens before they are stored, and random tokens.
// Small and self-contained so rlhf_core needs no crypto library.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rlhf::feedback {

std::array<uint8_t, 32> sha256(std::string_view data);
std::string sha256_hex(std::string_view data);  // 64 lowercase hex digits

// A new random token: "rlhf_" + 40 hex digits (160 bits from /dev/urandom). Throws rlhf::Error
// when the system's random source cannot be read.
std::string random_token();

}  // namespace rlhf::feedback
