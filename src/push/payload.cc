#include "push/payload.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace parley::push {

std::string CutToChars(std::string_view text, size_t max_chars) {
  if (max_chars == 0) return {};
  // The byte offset where each code point starts: at a byte that is not a
  // continuation byte (10xxxxxx).
  size_t chars = 0;
  size_t cut = std::string_view::npos;  // where character max_chars - 1 ends
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == max_chars - 1) cut = i;
    if (++chars > max_chars) return std::string(text.substr(0, cut)) + "\u2026";
  }
  return std::string(text);
}

std::string PayloadJson(const Message& entry, const store::PushAudience& audience) {
  std::string title =
      audience.kind == ConversationKind::kDm ? audience.sender_name : audience.title.value_or("");
  boost::json::object o{{"conv", entry.conv.ToString()},
                        {"seq", entry.seq},
                        {"sender", entry.sender.ToString()},
                        {"title", std::move(title)},
                        {"body", CutToChars(entry.body, kMaxBodyChars)}};
  return boost::json::serialize(o);
}

}  // namespace parley::push
