#pragma once
// The domain's plain values, shared by the store, the chat service and the
// protocol codec. No behaviour, no I/O.
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"

namespace parley {

enum class Role { kOwner, kAdmin, kMember };
enum class ConversationKind { kDm, kGroup };

std::string_view RoleName(Role r) noexcept;
std::string_view KindName(ConversationKind k) noexcept;

struct User {
  UserId id;
  std::string username;
  std::string display_name;
  bool online = false;              // filled from the presence registry, not the store
  std::optional<TimeMs> last_seen;  // when the user was last online; null if never

  bool operator==(const User&) const = default;
};

struct Member {
  UserId id;
  std::string username;
  Role role = Role::kMember;

  bool operator==(const Member&) const = default;
};

struct Conversation {
  ConversationId id;
  ConversationKind kind = ConversationKind::kGroup;
  std::optional<std::string> title;  // null for a DM
  int64_t member_count = 0;
  std::vector<Member> members;  // at most the first 100 (by user id)
  int64_t last_seq = 0;
  int64_t read_seq = 0;  // the viewer's
  int64_t unread() const { return last_seq > read_seq ? last_seq - read_seq : 0; }

  bool operator==(const Conversation&) const = default;
};

struct Message {
  ConversationId conv;
  int64_t seq = 0;
  MessageId id;
  UserId sender;
  std::string body;
  TimeMs ts = 0;
  std::string client_msg_id;

  bool operator==(const Message&) const = default;
};

// Members shown inline in a Conversation; larger groups page through members.
inline constexpr int kInlineMembers = 100;

}  // namespace parley
