#include "protocol/json.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace parley::protocol {
namespace {

namespace json = boost::json;

json::object Obj(std::string_view text) { return json::parse(text).as_object(); }

TEST(StrictReaders, NameTheFieldThatIsWrong) {
  json::object o = Obj(R"({"s":"x","n":5,"f":1.5,"b":true,"neg":-1,"nul":null})");
  EXPECT_EQ(*RequireString(o, "s"), "x");
  EXPECT_EQ(RequireString(o, "missing").error().message, "missing field 'missing'");
  EXPECT_EQ(RequireString(o, "n").error().message, "field 'n' must be a string");
  EXPECT_EQ(RequireString(o, "n").error().code, Errc::kBadRequest);
  EXPECT_EQ(*RequireInt(o, "n"), 5);
  EXPECT_EQ(RequireInt(o, "f").error().message, "field 'f' must be an integer");
  EXPECT_EQ(*RequireBool(o, "b"), true);
  EXPECT_EQ(RequireBool(o, "s").error().message, "field 's' must be true or false");
  EXPECT_EQ(*OptionalString(o, "nul"), "");
  EXPECT_EQ(*OptionalString(o, "missing"), "");
  EXPECT_FALSE(OptionalString(o, "n"));
  EXPECT_EQ(*NullableString(o, "nul"), std::nullopt);
  EXPECT_EQ(*NullableString(o, "s"), "x");
  EXPECT_EQ(*NullableInt(o, "nul"), std::nullopt);
  EXPECT_EQ(NullableInt(o, "missing").error().message, "missing field 'missing'");
  EXPECT_EQ(*OptionalNonNegative(o, "missing"), std::nullopt);
  EXPECT_EQ(OptionalNonNegative(o, "neg").error().message, "field 'neg' must be a non-negative integer");
  EXPECT_EQ(RequireArray(o, "s").error().message, "field 's' must be an array");
  EXPECT_EQ(RequireObject(o, "s").error().message, "field 's' must be an object");
}

TEST(StrictReaders, IdsAreDigitStrings) {
  json::object o = Obj(R"({"a":"12","b":12,"c":"12x","d":"-1","e":0,"f":"99999999999999999999"})");
  EXPECT_EQ(RequireId<ConversationId>(o, "a")->value, 12);
  EXPECT_EQ(RequireId<ConversationId>(o, "b")->value, 12);
  for (const char* bad : {"c", "d", "e", "f"}) {
    auto r = RequireId<ConversationId>(o, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message,
              "field '" + std::string(bad) + "' must be a conversation id (a string of digits)");
  }
  EXPECT_EQ(RequireId<UserId>(o, "c").error().message, "field 'c' must be a user id (a string of digits)");
}

TEST(AsInt, TakesWhatAJavaScriptNumberHoldsExactly) {
  EXPECT_EQ(AsInt(json::value(7)), 7);
  EXPECT_EQ(AsInt(json::value(uint64_t{7})), 7);
  EXPECT_EQ(AsInt(json::value(7.0)), 7);
  EXPECT_EQ(AsInt(json::value(7.5)), std::nullopt);
  EXPECT_EQ(AsInt(json::value(1e300)), std::nullopt);  // would overflow int64
  EXPECT_EQ(AsInt(json::value(UINT64_MAX)), std::nullopt);
  EXPECT_EQ(AsInt(json::value("7")), std::nullopt);
}

TEST(ParseJsonObject, SaysWhatWasBeingRead) {
  EXPECT_TRUE(ParseJsonObject(R"({"a":1})", "body"));
  EXPECT_EQ(ParseJsonObject("[1]", "body").error().message, "body must be a JSON object");
  auto bad = ParseJsonObject("{nope", "body");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("body is not valid JSON: ", 0), 0u) << bad.error().message;
  EXPECT_FALSE(ParseJsonObject(std::string(100, '[') + std::string(100, ']'), "body"));  // too deep
}

TEST(ForgivingReaders, FallBackInsteadOfFailing) {
  json::object o = Obj(R"({"s":"x","n":5})");
  EXPECT_EQ(GetString(o, "s"), "x");
  EXPECT_EQ(GetString(o, "n", "none"), "none");
  EXPECT_EQ(GetString(json::value(3), "s", "none"), "none");
  EXPECT_EQ(GetInt(o, "n"), 5);
  EXPECT_EQ(GetInt(o, "s"), std::nullopt);
  EXPECT_TRUE(FieldIs(o, "s", "x"));
  EXPECT_FALSE(FieldIs(o, "n", "5"));
  EXPECT_TRUE(ParseJson("{bad").is_null());
  EXPECT_FALSE(ParseObject("[]"));
  EXPECT_TRUE(ParseObject("{}"));
}

TEST(AppendJsonString, EscapesAsBoostJsonDoes) {
  const std::string nasty = std::string("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f h\xC3\xA9") + std::string(1, '\0');
  std::string out;
  AppendJsonString(nasty, &out);
  EXPECT_EQ(out, json::serialize(json::value(nasty)));
  EXPECT_EQ(json::parse(out).as_string(), nasty);
  out.clear();
  AppendJsonInt(-9007199254740993, &out);
  EXPECT_EQ(out, "-9007199254740993");
}

}  // namespace
}  // namespace parley::protocol
