#include "store/search_query.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "store/utf8.h"

namespace parley::store {
namespace {

// Ranges of non-ASCII characters that separate words: what both engines'
// tokenizers treat as punctuation, symbols or space (without a Unicode
// database, by block). Everything else from U+0080 on is taken as part of a
// word and left to the engine's tokenizer.
constexpr std::pair<uint32_t, uint32_t> kSeparators[] = {
    {0x0080, 0x00A9},   {0x00AB, 0x00B1},   {0x00B4, 0x00B4}, {0x00B6, 0x00B8}, {0x00BB, 0x00BB},
    {0x00BF, 0x00BF},   {0x00D7, 0x00D7},   {0x00F7, 0x00F7}, {0x2000, 0x206F}, {0x20A0, 0x20CF},
    {0x2190, 0x2BFF},   {0x2E00, 0x2E7F},   {0x3000, 0x3003}, {0x3008, 0x3020}, {0x3030, 0x3030},
    {0xFE00, 0xFE0F},   {0xFE10, 0xFE1F},   {0xFE30, 0xFE4F}, {0xFE50, 0xFE6F}, {0xFEFF, 0xFEFF},
    {0xFF01, 0xFF0F},   {0xFF1A, 0xFF20},   {0xFF3B, 0xFF40}, {0xFF5B, 0xFF65}, {0xFFF0, 0xFFFF},
    {0x1F000, 0x1FAFF}, {0xE0000, 0xE007F},
};

bool IsWordChar(uint32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  }
  for (const auto& [lo, hi] : kSeparators) {
    if (cp >= lo && cp <= hi) return false;
  }
  return true;
}

// Whether the last character of `text` (valid UTF-8) is a word character.
bool EndsWithWordChar(std::string_view text) {
  if (text.empty()) return false;
  size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return IsWordChar(DecodeUtf8(text, start)->cp);
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

Error Bad(std::string message) { return MakeError(Errc::kBadRequest, "search query: " + std::move(message)); }

// Splits `text` (valid UTF-8) into its words, folding ASCII letters to
// lower case; `chars_of_last` gets the length in characters of the last.
std::vector<std::string> Words(std::string_view text, size_t& chars_of_last) {
  std::vector<std::string> words;
  std::string current;
  size_t chars = 0;
  chars_of_last = 0;
  for (size_t i = 0; i < text.size();) {
    const Utf8Char c = *DecodeUtf8(text, i);  // checked by the caller
    if (IsWordChar(c.cp)) {
      if (c.len == 1) {
        char ch = text[i];
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
        current += ch;
      } else {
        current.append(text.substr(i, c.len));
      }
      ++chars;
    } else if (!current.empty()) {
      words.push_back(std::move(current));
      current.clear();
      chars_of_last = chars;
      chars = 0;
    }
    i += c.len;
  }
  if (!current.empty()) {
    words.push_back(std::move(current));
    chars_of_last = chars;
  }
  return words;
}

}  // namespace

Result<SearchQuery> ParseSearchQuery(std::string_view q) {
  if (q.size() > kMaxSearchQueryBytes) {
    return Bad("longer than " + std::to_string(kMaxSearchQueryBytes) + " bytes");
  }
  for (size_t i = 0; i < q.size();) {
    std::optional<Utf8Char> c = DecodeUtf8(q, i);
    if (!c) return Bad("not valid UTF-8");
    i += c->len;
  }

  SearchQuery query;
  size_t word_count = 0;
  // Adds the words of `text` as one term (none: nothing is added).
  auto add_term = [&](std::string_view text, bool prefix) -> Result<void> {
    size_t chars_of_last = 0;
    SearchTerm term{Words(text, chars_of_last), prefix};
    if (term.words.empty()) return Ok();
    if (prefix && chars_of_last < kMinSearchPrefixChars) {
      return Bad("a prefix needs at least " + std::to_string(kMinSearchPrefixChars) +
                 " characters before '*'");
    }
    word_count += term.words.size();
    if (word_count > kMaxSearchWords) return Bad("more than " + std::to_string(kMaxSearchWords) + " words");
    query.terms.push_back(std::move(term));
    return Ok();
  };

  size_t i = 0;
  while (i < q.size()) {
    if (IsSpace(q[i])) {
      ++i;
      continue;
    }
    if (q[i] == '"') {
      const size_t close = q.find('"', i + 1);
      if (close == std::string_view::npos) return Bad("a '\"' is not closed");
      std::string_view inner = q.substr(i + 1, close - i - 1);
      i = close + 1;
      // `"a phrase"*`: the phrase's last word is a prefix.
      bool prefix = false;
      while (i < q.size() && q[i] == '*') {
        prefix = true;
        ++i;
      }
      // A star after a phrase that ends in punctuation is text, like any star
      // that does not follow a word.
      if (prefix && !EndsWithWordChar(inner)) prefix = false;
      if (Result<void> r = add_term(inner, prefix); !r.ok()) return r.error();
      continue;
    }
    // A bare chunk: up to the next space or quote.
    size_t end = i;
    while (end < q.size() && !IsSpace(q[end]) && q[end] != '"') ++end;
    std::string_view chunk = q.substr(i, end - i);
    i = end;
    // Trailing stars right after a word make it a prefix; any other star
    // separates words like other punctuation.
    size_t stars = 0;
    while (stars < chunk.size() && chunk[chunk.size() - 1 - stars] == '*') ++stars;
    bool prefix = false;
    if (stars > 0 && EndsWithWordChar(chunk.substr(0, chunk.size() - stars))) {
      prefix = true;
      chunk.remove_suffix(stars);
    }
    if (Result<void> r = add_term(chunk, prefix); !r.ok()) return r.error();
  }
  if (query.terms.empty()) {
    return Bad(q.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos ? "empty"
                                                                            : "no word to search for");
  }
  return query;
}

std::string ToFts5Match(const SearchQuery& query) {
  std::string out;
  for (const SearchTerm& term : query.terms) {
    if (!out.empty()) out += ' ';
    out += '"';
    for (size_t k = 0; k < term.words.size(); ++k) {
      if (k > 0) out += ' ';
      // Words hold no '"' (it is not a word character); doubled anyway, as
      // FTS5 escapes it, so the string cannot end early whatever happens.
      for (char c : term.words[k]) {
        out += c;
        if (c == '"') out += '"';
      }
    }
    out += '"';
    if (term.prefix) out += '*';
  }
  return out;
}

std::string ToTsQuery(const SearchQuery& query) {
  std::string out;
  for (const SearchTerm& term : query.terms) {
    if (!out.empty()) out += " & ";
    out += '(';
    for (size_t k = 0; k < term.words.size(); ++k) {
      if (k > 0) out += " <-> ";
      out += '\'';
      // Words hold neither quote nor backslash; escaped anyway as
      // to_tsquery reads them.
      for (char c : term.words[k]) {
        if (c == '\'' || c == '\\') out += c == '\'' ? '\'' : '\\';
        out += c;
      }
      out += '\'';
      if (term.prefix && k + 1 == term.words.size()) out += ":*";
    }
    out += ')';
  }
  return out;
}

std::string ToString(const SearchQuery& query) {
  std::string out;
  for (const SearchTerm& term : query.terms) {
    if (!out.empty()) out += ' ';
    const bool quoted = term.words.size() > 1;
    if (quoted) out += '"';
    for (size_t k = 0; k < term.words.size(); ++k) {
      if (k > 0) out += ' ';
      out += term.words[k];
    }
    if (quoted) out += '"';
    if (term.prefix) out += '*';
  }
  return out;
}

}  // namespace parley::store
