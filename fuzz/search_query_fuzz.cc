// Fuzzes the search language's parser (store::ParseSearchQuery) with whole
// `q` strings, and the queries built from what it accepts. Checks its
// promises: a refusal is a 400 with a message; an accepted query holds only
// words (no character either engine reads as syntax), within the limits;
// its normal form parses back to the same query; and each engine's query
// keeps every word inside its quotes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/search_query.h"

using namespace parley;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// No ASCII character but letters and digits: every quote, operator and
// space of either engine is ASCII.
bool IsWord(const std::string& w) {
  if (w.empty()) return false;
  for (unsigned char c : w) {
    if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

// Every `open` ... `close` pair closes, and nothing but words is inside.
void CheckQuoted(const std::string& text, char quote) {
  bool inside = false;
  for (char c : text) {
    if (c == quote) {
      inside = !inside;
    } else if (inside && c != ' ') {
      Check(static_cast<unsigned char>(c) >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'));
    }
  }
  Check(!inside);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view q(reinterpret_cast<const char*>(data), size);
  Result<store::SearchQuery> parsed = store::ParseSearchQuery(q);
  if (!parsed.ok()) {
    Check(parsed.error().code == Errc::kBadRequest && !parsed.error().message.empty());
    return 0;
  }
  Check(q.size() <= store::kMaxSearchQueryBytes);
  Check(!parsed->terms.empty());
  size_t words = 0;
  for (const store::SearchTerm& term : parsed->terms) {
    Check(!term.words.empty());
    for (const std::string& w : term.words) Check(IsWord(w));
    words += term.words.size();
  }
  Check(words <= store::kMaxSearchWords);

  const std::string normal = store::ToString(*parsed);
  if (normal.size() <= store::kMaxSearchQueryBytes) {
    Result<store::SearchQuery> again = store::ParseSearchQuery(normal);
    Check(again.ok() && *again == *parsed);
  }
  CheckQuoted(store::ToFts5Match(*parsed), '"');
  CheckQuoted(store::ToTsQuery(*parsed), '\'');
  return 0;
}
