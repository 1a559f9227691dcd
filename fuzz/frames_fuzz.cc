// Fuzzes the client frame parser (protocol::ParseClientFrame) with whole
// WebSocket text payloads, and IsValidUtf8 against Boost.JSON's validator.
// Checks the parser's promises: every rejection carries a message and
// becomes an error frame that is valid JSON; accepted requests respect the
// documented bounds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "protocol/frames.h"

namespace json = boost::json;
using namespace parley;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckClientMsgId(const std::string& id) { Check(!id.empty() && id.size() <= 128); }

void CheckRequest(const protocol::Request& r) {
  if (const auto* s = std::get_if<protocol::SendReq>(&r)) {
    CheckClientMsgId(s->client_msg_id);
    Check(s->conv.value > 0);
    Check(!s->reply_to || *s->reply_to >= 1);
  } else if (const auto* e = std::get_if<protocol::EditReq>(&r)) {
    CheckClientMsgId(e->client_msg_id);
    Check(e->conv.value > 0 && e->seq >= 1);
  } else if (const auto* d = std::get_if<protocol::DeleteReq>(&r)) {
    CheckClientMsgId(d->client_msg_id);
    Check(d->conv.value > 0 && d->seq >= 1);
  } else if (const auto* re = std::get_if<protocol::ReactReq>(&r)) {
    CheckClientMsgId(re->client_msg_id);
    Check(re->conv.value > 0 && re->seq >= 1);
  } else if (const auto* h = std::get_if<protocol::HistoryReq>(&r)) {
    Check(h->limit >= 1 && h->limit <= protocol::kMaxHistoryLimit);
    Check(!h->before || *h->before >= 0);
    Check(!h->after || *h->after >= 0);
  } else if (const auto* rd = std::get_if<protocol::ReadReq>(&r)) {
    Check(rd->seq >= 0);
  } else if (const auto* p = std::get_if<protocol::PresenceReq>(&r)) {
    Check(p->users.size() <= static_cast<size_t>(protocol::kMaxPresenceQuery));
    for (auto u : p->users) Check(u.value > 0);
  } else if (const auto* hello = std::get_if<protocol::HelloReq>(&r)) {
    Check(!(hello->all && !hello->last_seq.empty()));
    for (const auto& [conv, seq] : hello->last_seq) Check(conv.value > 0 && seq >= 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  protocol::Parsed parsed = protocol::ParseClientFrame(text);
  if (parsed.request) {
    CheckRequest(*parsed.request);
  } else {
    Check(!parsed.error.message.empty());
    // What the gateway answers: must be a JSON object naming the error.
    std::string frame = protocol::ErrorFrame(parsed.id, parsed.error);
    std::error_code ec;
    json::value v = json::parse(frame, ec);
    Check(!ec && v.is_object() && v.as_object().contains("code"));
  }
  if (parsed.not_json) Check(!parsed.request);

  // IsValidUtf8 against Boost.JSON's own UTF-8 validation of a string
  // literal (only for text it would otherwise accept verbatim).
  bool plain = true;
  for (unsigned char c : text) plain = plain && c >= 0x20 && c != '"' && c != '\\';
  if (plain) {
    std::string literal = "\"" + std::string(text) + "\"";
    std::error_code ec;
    json::parse(literal, ec);
    Check(protocol::IsValidUtf8(text) == !ec);
  }
  return 0;
}
