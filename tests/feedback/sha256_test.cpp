// SHA-256 against the FIPS 180-4 / NIST example vectors.
#include <gtest/gtest.h>

#include "rlhf/feedback/sha256.h"

using rlhf::feedback::random_token;
using rlhf::feedback::sha256_hex;

TEST(Sha256, NistVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the padding needs a second block.
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, BlockBoundaries) {
  // 55, 56, 63, 64 and 65 bytes straddle the one/two padding-block cases; each must differ and be
  // stable (computed twice), and 64 'a' has a known digest.
  EXPECT_EQ(sha256_hex(std::string(64, 'a')), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  EXPECT_NE(sha256_hex(std::string(55, 'a')), sha256_hex(std::string(56, 'a')));
}

TEST(Sha256, TokensAreRandomAndWellFormed) {
  std::string a = random_token(), b = random_token();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 45u);
  EXPECT_EQ(a.substr(0, 5), "rlhf_");
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 5), std::string::npos);
}
