#pragma once
// The search language of PROTOCOL.md §6, parsed by the project rather than
// handed to a search engine: a `q` becomes a small tree (SearchQuery) of
// words, phrases and prefixes, and each store backend builds its own query
// from that tree (SQLite FTS5's MATCH expression, PostgreSQL's tsquery).
// Because only words reach a backend, and each one quoted, nothing a user
// types (NEAR, OR, AND, NOT, -, ^, :, (, ), a `*` inside a word, stray
// quotes) can act as an operator of either engine.
//
// The language:
//   word            must occur, whole and case-insensitively
//   "a phrase"      its words must occur in this order, next to each other
//   prefix*         a word that starts with `prefix` (at least 2 characters)
//   foo-bar, a.b    several words joined by punctuation: a phrase
// Terms are separated by spaces and must all occur (AND). A word is a run of
// letters and digits: ASCII [A-Za-z0-9] and every character from U+0080 on
// except the punctuation, symbol and space blocks (general punctuation,
// arrows and symbols, emoji, CJK punctuation, ...), which separate words as
// ASCII punctuation does. ASCII letters are folded to lower case here; the
// backends fold the rest.
//
// Pure functions; any thread.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace parley::store {

// Limits of one query; a `q` beyond them is a 400, not a slow search.
inline constexpr size_t kMaxSearchQueryBytes = 1024;
inline constexpr size_t kMaxSearchWords = 32;
// A prefix shorter than this (in characters) would match most of the index.
inline constexpr size_t kMinSearchPrefixChars = 2;

// One term: its words must occur in order, adjacent (a single word is a
// phrase of one); with `prefix`, the last word only has to begin a word.
struct SearchTerm {
  std::vector<std::string> words;
  bool prefix = false;

  bool operator==(const SearchTerm&) const = default;
};

// Every term must occur (AND). Never empty once parsed.
struct SearchQuery {
  std::vector<SearchTerm> terms;

  bool operator==(const SearchQuery&) const = default;
};

// Parses `q`. kBadRequest, with a message fit for the user, when `q` is
// empty or blank, holds no word, is longer than kMaxSearchQueryBytes or has
// more than kMaxSearchWords words, is not valid UTF-8, has an unclosed `"`,
// or has a prefix shorter than kMinSearchPrefixChars.
Result<SearchQuery> ParseSearchQuery(std::string_view q);

// The query as an SQLite FTS5 MATCH expression: each term a quoted string
// (FTS5 reads a quoted string as a phrase of its tokens), `*` after it for a
// prefix, terms separated by spaces (FTS5's implicit AND).
std::string ToFts5Match(const SearchQuery& query);

// The query as text for PostgreSQL's to_tsquery: each word a quoted
// lexeme, a phrase's words joined by `<->`, `:*` on a prefix, terms joined
// by `&`.
std::string ToTsQuery(const SearchQuery& query);

// The query in the language above, normalized (for logs and tests).
std::string ToString(const SearchQuery& query);

}  // namespace parley::store
