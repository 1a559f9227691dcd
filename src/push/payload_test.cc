#include "push/payload.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace parley::push {
namespace {

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

TEST(PushPayload, ShortBodiesAreKeptWhole) {
  EXPECT_EQ(CutToChars("hello", 200), "hello");
  EXPECT_EQ(CutToChars(std::string(200, 'a'), 200), std::string(200, 'a'));
  EXPECT_EQ(CutToChars("", 200), "");
}

TEST(PushPayload, LongBodiesAreCutByCharactersWithAnEllipsis) {
  std::string cut = CutToChars(std::string(201, 'a'), 200);
  EXPECT_EQ(cut, std::string(199, 'a') + "\u2026");
  EXPECT_EQ(CodePoints(cut), 200u);
  // Three- and four-byte characters are counted as one and never split.
  std::string euros;
  for (int i = 0; i < 300; ++i) euros += "\u20ac";
  cut = CutToChars(euros, 200);
  EXPECT_EQ(CodePoints(cut), 200u);
  EXPECT_EQ(cut.substr(cut.size() - 3), "\u2026");
  EXPECT_EQ(cut.size(), 199u * 3 + 3);
  std::string mixed = "a\U0001F600";
  for (int i = 0; i < 250; ++i) mixed += "\U0001F600";
  cut = CutToChars(mixed, 200);
  EXPECT_EQ(CodePoints(cut), 200u);
  EXPECT_EQ(cut.size(), 1 + 198u * 4 + 3);
}

TEST(PushPayload, TitleIsTheGroupsOrTheSendersName) {
  Message m;
  m.conv = ConversationId(12);
  m.seq = 7;
  m.sender = UserId(3);
  m.body = "hi @bob";
  store::PushAudience group;
  group.kind = ConversationKind::kGroup;
  group.title = "Ops";
  group.sender_name = "Alice";
  auto v = boost::json::parse(PayloadJson(m, group)).as_object();
  EXPECT_EQ(v["conv"], "12");
  EXPECT_EQ(v["seq"], 7);
  EXPECT_EQ(v["sender"], "3");
  EXPECT_EQ(v["title"], "Ops");
  EXPECT_EQ(v["body"], "hi @bob");
  store::PushAudience dm = group;
  dm.kind = ConversationKind::kDm;
  dm.title.reset();
  EXPECT_EQ(boost::json::parse(PayloadJson(m, dm)).as_object()["title"], "Alice");
}

}  // namespace
}  // namespace parley::push
