#include "protocol/utf8.h"

#include <string>

#include <gtest/gtest.h>

namespace parley::protocol {
namespace {

TEST(Utf8, AcceptsValidRejectsInvalid) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(Utf8Prefix, ShortTextIsWhole) {
  EXPECT_EQ(Utf8Prefix("abc", 3), "abc");
  EXPECT_EQ(Utf8Prefix("abc", 40), "abc");
  EXPECT_EQ(Utf8Prefix("", 0), "");
}

TEST(Utf8Prefix, CutsAsciiAtTheLimit) { EXPECT_EQ(Utf8Prefix("abcdef", 4), "abcd"); }

TEST(Utf8Prefix, NeverSplitsACharacter) {
  const std::string e_acute = "\xC3\xA9";                       // 2 bytes
  const std::string cjk = "\xE3\xB8\x97";                       // 3 bytes
  const std::string emoji = "\xF0\x9F\x98\x80";                 // 4 bytes
  const std::string text = "ab" + e_acute + cjk + emoji + "z";  // 2 + 2 + 3 + 4 + 1 bytes
  EXPECT_EQ(Utf8Prefix(text, 2), "ab");
  EXPECT_EQ(Utf8Prefix(text, 3), "ab");  // would end inside é
  EXPECT_EQ(Utf8Prefix(text, 4), "ab" + e_acute);
  EXPECT_EQ(Utf8Prefix(text, 5), "ab" + e_acute);
  EXPECT_EQ(Utf8Prefix(text, 6), "ab" + e_acute);
  EXPECT_EQ(Utf8Prefix(text, 7), "ab" + e_acute + cjk);
  EXPECT_EQ(Utf8Prefix(text, 10), "ab" + e_acute + cjk);
  EXPECT_EQ(Utf8Prefix(text, 11), "ab" + e_acute + cjk + emoji);
  EXPECT_EQ(Utf8Prefix(emoji, 3), "");
  for (size_t max = 0; max <= text.size(); ++max) {
    std::string_view cut = Utf8Prefix(text, max);
    EXPECT_LE(cut.size(), max);
    EXPECT_TRUE(IsValidUtf8(cut)) << max;
  }
}

}  // namespace
}  // namespace parley::protocol
