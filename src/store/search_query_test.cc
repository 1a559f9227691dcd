// The search language of PROTOCOL.md §6 (store/search_query.h): what a `q`
// means, what is refused, and the query each backend is given for it.
#include "store/search_query.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace parley::store {
namespace {

SearchTerm Word(std::string w) { return SearchTerm{{std::move(w)}, false}; }
SearchTerm Prefix(std::string w) { return SearchTerm{{std::move(w)}, true}; }
SearchTerm Phrase(std::vector<std::string> words, bool prefix = false) {
  return SearchTerm{std::move(words), prefix};
}

SearchQuery Parsed(std::string_view q) {
  Result<SearchQuery> r = ParseSearchQuery(q);
  EXPECT_TRUE(r.ok()) << q << ": " << r.error().message;
  return r.ok() ? *r : SearchQuery{};
}

void ExpectRefused(std::string_view q, std::string_view why) {
  Result<SearchQuery> r = ParseSearchQuery(q);
  ASSERT_FALSE(r.ok()) << "'" << q << "' parsed as " << ToString(*r);
  EXPECT_EQ(r.error().code, Errc::kBadRequest);
  EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
}

TEST(SearchQuery, WordsMustAllOccurAndAreFolded) {
  EXPECT_EQ(Parsed("Hello  WORLD").terms, (std::vector{Word("hello"), Word("world")}));
  EXPECT_EQ(Parsed("\tone\ntwo ").terms, (std::vector{Word("one"), Word("two")}));
}

TEST(SearchQuery, QuotedPhraseKeepsItsWordsTogether) {
  EXPECT_EQ(Parsed("\"Red  fox\" jumps").terms, (std::vector{Phrase({"red", "fox"}), Word("jumps")}));
  EXPECT_EQ(Parsed("x\"a b\"y").terms, (std::vector{Word("x"), Phrase({"a", "b"}), Word("y")}));
}

TEST(SearchQuery, TrailingStarMakesAPrefix) {
  EXPECT_EQ(Parsed("par* fox").terms, (std::vector{Prefix("par"), Word("fox")}));
  EXPECT_EQ(Parsed("par**").terms, (std::vector{Prefix("par")}));
  EXPECT_EQ(Parsed("\"red fo\"*").terms, (std::vector{Phrase({"red", "fo"}, true)}));
}

TEST(SearchQuery, WordsJoinedByPunctuationAreAPhrase) {
  EXPECT_EQ(Parsed("foo-bar").terms, (std::vector{Phrase({"foo", "bar"})}));
  EXPECT_EQ(Parsed("e.g.").terms, (std::vector{Phrase({"e", "g"})}));
  EXPECT_EQ(Parsed("foo-ba*").terms, (std::vector{Phrase({"foo", "ba"}, true)}));
}

TEST(SearchQuery, EngineSyntaxIsText) {
  // Operators of FTS5 or tsquery are words or separators, never operators.
  EXPECT_EQ(Parsed("cats NEAR dogs OR mice NOT rats AND").terms,
            (std::vector{Word("cats"), Word("near"), Word("dogs"), Word("or"), Word("mice"), Word("not"),
                         Word("rats"), Word("and")}));
  EXPECT_EQ(Parsed("-minus ^caret col:umn (paren) a&b !bang").terms,
            (std::vector{Word("minus"), Word("caret"), Phrase({"col", "umn"}), Word("paren"),
                         Phrase({"a", "b"}), Word("bang")}));
  // A star that does not end a word is text too.
  EXPECT_EQ(Parsed("fo*o *lead").terms, (std::vector{Phrase({"fo", "o"}), Word("lead")}));
  EXPECT_EQ(Parsed("NEAR(a b, 2)").terms, (std::vector{Phrase({"near", "a"}), Word("b"), Word("2")}));
  EXPECT_EQ(Parsed("foo -* \"\" bar").terms, (std::vector{Word("foo"), Word("bar")}));
}

TEST(SearchQuery, NonAsciiLettersAreWordsAndSymbolsSeparate) {
  EXPECT_EQ(Parsed("Café naïve").terms, (std::vector{Word("café"), Word("naïve")}));
  EXPECT_EQ(Parsed("日本語").terms, (std::vector{Word("日本語")}));
  // An em dash, curly quotes and an emoji separate words.
  EXPECT_EQ(Parsed("a\u2014b \u201cquoted\u201d \U0001F600ok").terms,
            (std::vector{Phrase({"a", "b"}), Word("quoted"), Word("ok")}));
}

TEST(SearchQuery, RefusesWhatCannotBeSearched) {
  ExpectRefused("", "empty");
  ExpectRefused("   \t\n", "empty");
  ExpectRefused("-- ** () \"\"", "no word");
  ExpectRefused("\U0001F600", "no word");
  ExpectRefused("\"unclosed phrase", "not closed");
  ExpectRefused("ok \"a\" \"b", "not closed");
  ExpectRefused("a*", "prefix");
  ExpectRefused("\"x a\"*", "prefix");
  ExpectRefused(std::string(10 * 1024, 'a'), "longer than");
  ExpectRefused(std::string("caf\xC3", 4), "UTF-8");
  ExpectRefused(std::string("\xED\xA0\x80", 3), "UTF-8");  // a surrogate
  std::string many;
  for (size_t i = 0; i <= kMaxSearchWords; ++i) many += "w" + std::to_string(i) + " ";
  ExpectRefused(many, "words");
}

TEST(SearchQuery, LimitsAreInclusive) {
  std::string at_limit(kMaxSearchQueryBytes, 'a');
  EXPECT_EQ(Parsed(at_limit).terms.size(), 1u);
  std::string words;
  for (size_t i = 0; i < kMaxSearchWords; ++i) words += "w ";
  EXPECT_EQ(Parsed(words).terms.size(), kMaxSearchWords);
  EXPECT_EQ(Parsed("ab*").terms, (std::vector{Prefix("ab")}));
  EXPECT_EQ(Parsed("\xC3\xA9\xC3\xA9*").terms, (std::vector{Prefix("\xC3\xA9\xC3\xA9")}));
}

TEST(SearchQuery, Fts5MatchQuotesEveryTerm) {
  EXPECT_EQ(ToFts5Match(Parsed("Hello \"red fox\" par* NEAR OR")),
            "\"hello\" \"red fox\" \"par\"* \"near\" \"or\"");
  EXPECT_EQ(ToFts5Match(Parsed("foo-ba*")), "\"foo ba\"*");
}

TEST(SearchQuery, TsQueryQuotesEveryLexeme) {
  EXPECT_EQ(ToTsQuery(Parsed("Hello \"red fox\" par*")), "('hello') & ('red' <-> 'fox') & ('par':*)");
  EXPECT_EQ(ToTsQuery(Parsed("foo-ba*")), "('foo' <-> 'ba':*)");
}

TEST(SearchQuery, ToStringIsTheNormalForm) {
  const SearchQuery q = Parsed("  Foo-Bar  \"A bc\"* baz**");
  EXPECT_EQ(ToString(q), "\"foo bar\" \"a bc\"* baz*");
  EXPECT_EQ(Parsed(ToString(q)), q);
}

}  // namespace
}  // namespace parley::store
