#include "chat/account_export.h"

#include <algorithm>

#include <boost/json.hpp>

#include "protocol/frames.h"

namespace parley::chat {
namespace json = boost::json;

std::shared_ptr<void> ExportSlots::Take(UserId user) {
  std::lock_guard lock(mu_);
  if (!running_.insert(user).second) return nullptr;
  // The deleter gives the slot back; the pointer itself is only a token.
  return std::shared_ptr<void>(this, [this, user](void*) {
    std::lock_guard lock(mu_);
    running_.erase(user);
  });
}

AccountExport::AccountExport(store::Store& store, User user, std::shared_ptr<void> slot, TimeMs now, int page,
                             size_t piece_bytes, std::function<void(std::vector<Message>&)> serve)
    : store_(store),
      user_(std::move(user)),
      slot_(std::move(slot)),
      now_(now),
      page_(std::clamp(page, 1, protocol::kMaxHistoryLimit)),
      piece_bytes_(piece_bytes),
      serve_(std::move(serve)) {}

Result<std::string> AccountExport::Next() {
  std::string out;
  while (stage_ != Stage::kDone && out.size() < piece_bytes_) {
    if (auto ok = Step(out); !ok) return ok.error();
  }
  // The end is written: another export of this user may start now, even
  // before the caller has sent the last piece and let go of this one.
  if (stage_ == Stage::kDone) slot_.reset();
  return out;
}

Result<void> AccountExport::Step(std::string& out) {
  switch (stage_) {
    case Stage::kHead:
      return Head(out);
    case Stage::kConversations:
      return ConversationsStep(out);
    case Stage::kMessages:
      return MessagesStep(out);
    case Stage::kTail:
      Tail(out);
      return Ok();
    case Stage::kDone:
      return Ok();
  }
  return Ok();
}

void AccountExport::Separate(std::string& out) {
  if (!first_) out.push_back(',');
  first_ = false;
}

Result<void> AccountExport::Head(std::string& out) {
  auto convs = store_.ListConversations(user_.id);
  if (!convs) return convs.error();
  convs_ = std::move(convs).value();
  auto former = store_.FormerConversations(user_.id);
  if (!former) return former.error();
  former_ = std::move(former).value();
  json::object account{{"id", user_.id.ToString()},
                       {"username", user_.username},
                       {"display_name", user_.display_name},
                       {"last_seen", user_.last_seen ? json::value(*user_.last_seen) : json::value(nullptr)}};
  out += R"({"format":"parley-export","version":1,"exported_at":)";
  out += std::to_string(now_);
  out += R"(,"account":)";
  out += json::serialize(account);
  out += R"(,"conversations":[)";
  stage_ = Stage::kConversations;
  return Ok();
}

Result<void> AccountExport::ConversationsStep(std::string& out) {
  if (conv_ == convs_.size()) {
    out += R"(],"former_conversations":[)";
    for (size_t i = 0; i < former_.size(); ++i) {
      const Conversation& c = former_[i];
      if (i > 0) out.push_back(',');
      out += json::serialize(json::object{{"id", c.id.ToString()},
                                          {"kind", KindName(c.kind)},
                                          {"title", c.title ? json::value(*c.title) : json::value(nullptr)},
                                          {"last_seq", c.last_seq}});
    }
    out += R"(],"messages":[)";
    stage_ = Stage::kMessages;
    conv_ = 0;
    seq_after_ = 0;
    first_ = true;
    return Ok();
  }
  const Conversation& c = convs_[conv_];
  if (!in_members_) {
    json::object head{{"id", c.id.ToString()},
                      {"kind", KindName(c.kind)},
                      {"title", c.title ? json::value(*c.title) : json::value(nullptr)},
                      {"read_seq", c.read_seq},
                      {"last_seq", c.last_seq}};
    std::string text = json::serialize(head);
    text.pop_back();  // the closing brace: "members" follows
    if (conv_ > 0) out.push_back(',');
    out += text;
    out += R"(,"members":[)";
    in_members_ = true;
    member_after_ = UserId(0);
    first_ = true;
  }
  auto members = store_.ListMembers(c.id, member_after_, page_);
  if (!members) return members.error();
  for (const Member& m : *members) {
    Separate(out);
    out += json::serialize(json::value(m.username));
  }
  if (members->size() < static_cast<size_t>(page_)) {
    out += "]}";
    in_members_ = false;
    ++conv_;
  } else {
    member_after_ = members->back().id;
  }
  return Ok();
}

Result<void> AccountExport::MessagesStep(std::string& out) {
  const Conversation* of = MessagesOf(conv_);
  if (of == nullptr) {
    stage_ = Stage::kTail;
    return Ok();
  }
  const Conversation& c = *of;
  auto page = store_.History(c.id, std::nullopt, seq_after_, page_, user_.id);
  if (!page) return page.error();
  if (serve_) serve_(*page);
  for (const Message& m : *page) {
    if (m.sender != user_.id || m.kind != EntryKind::kText) continue;
    Separate(out);
    out += json::serialize(protocol::ToJson(m));
  }
  if (page->size() < static_cast<size_t>(page_)) {
    ++conv_;
    seq_after_ = 0;
  } else {
    seq_after_ = page->back().seq;
  }
  return Ok();
}

const Conversation* AccountExport::MessagesOf(size_t i) const {
  if (i < convs_.size()) return &convs_[i];
  i -= convs_.size();
  return i < former_.size() ? &former_[i] : nullptr;
}

void AccountExport::Tail(std::string& out) {
  out += R"(],"read_markers":[)";
  bool first = true;
  for (const Conversation& c : convs_) {
    if (!first) out.push_back(',');
    first = false;
    out += json::serialize(json::object{{"conv", c.id.ToString()}, {"read_seq", c.read_seq}});
  }
  out += "]}";
  stage_ = Stage::kDone;
}

}  // namespace parley::chat
