#pragma once
// The domain's plain values, shared by the store, the chat service and the
// protocol codec. No behaviour, no I/O.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"

namespace parley {

enum class Role { kOwner, kAdmin, kMember };
enum class ConversationKind { kDm, kGroup };
// Which text entries of a conversation a member is pushed when no socket of
// theirs is open (PROTOCOL.md §8): every one, those that mention them, none.
enum class NotifyLevel { kAll, kMentions, kNone };

std::string_view RoleName(Role r) noexcept;
std::string_view KindName(ConversationKind k) noexcept;
std::string_view NotifyLevelName(NotifyLevel l) noexcept;
std::optional<NotifyLevel> ParseNotifyLevel(std::string_view s) noexcept;
// A member's level until they choose one: `all` in a DM, `mentions` in a group.
NotifyLevel DefaultNotifyLevel(ConversationKind k) noexcept;

struct User {
  UserId id;
  std::string username;
  std::string display_name;
  bool online = false;              // filled from the presence registry, not the store
  std::optional<TimeMs> last_seen;  // when the user was last online; null if never
  bool bot = false;                 // a bot account (PROTOCOL.md §8): acts with an API key

  bool operator==(const User&) const = default;
};

struct Member {
  UserId id;
  std::string username;
  Role role = Role::kMember;
  // 1.1 additions (docs/protocol.md): the member's read marker, so a client
  // can tell who has read what without waiting for live `read` events, and
  // their display name, so it need not fetch each member's profile.
  int64_t read_seq = 0;
  std::string display_name{};

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
  // The viewer's unread text entries after read_seq (sent by others, not
  // deleted; change entries never count) and those of them that mention the
  // viewer. Counted by the store; see PROTOCOL.md §5.
  int64_t unread_count = 0;
  int64_t mentions_unread = 0;
  std::optional<std::string> topic{};  // 1.1 (§7): null for a DM; "" until a group's is set
  // 1.1 (§8): the viewer's notification level, its default when never set
  // (or when the viewer is not a member).
  NotifyLevel notify = NotifyLevel::kAll;
  int64_t unread() const { return unread_count; }

  bool operator==(const Conversation&) const = default;
};

// The kinds of entry in a conversation's seq stream: every change to a
// message is an entry of its own (PROTOCOL.md §5).
enum class EntryKind { kText, kEdit, kDelete, kReaction };
enum class ReactionOp { kAdd, kRemove };

std::string_view EntryKindName(EntryKind k) noexcept;
std::optional<EntryKind> ParseEntryKind(std::string_view s) noexcept;
std::string_view ReactionOpName(ReactionOp op) noexcept;
std::optional<ReactionOp> ParseReactionOp(std::string_view s) noexcept;

// One emoji on a text entry, as one reader sees it.
struct Reaction {
  std::string emoji;
  int64_t count = 0;
  bool me = false;  // the reader holds it

  bool operator==(const Reaction&) const = default;
};

// A file attached to a text entry (PROTOCOL.md §6): its upload's metadata.
// `url` is signed where the entry is served (it expires, so it is never
// stored).
struct Attachment {
  UploadId id;
  std::string name;
  std::string content_type;
  int64_t size = 0;
  std::string url{};

  bool operator==(const Attachment&) const = default;
};

// One entry of a conversation. A text entry is served folded: `body`,
// `edited_ts`, `deleted`, `reactions`, `mentions` and `state_seq` are its
// current state. A change entry (edit, delete, reaction) is served as stored,
// with `target`, and `emoji`/`op` for a reaction.
struct Message {
  ConversationId conv;
  int64_t seq = 0;
  MessageId id;
  UserId sender;
  std::string body;
  TimeMs ts = 0;
  std::string client_msg_id;
  EntryKind kind = EntryKind::kText;
  // Change entries.
  int64_t target = 0;
  std::string emoji{};
  ReactionOp op = ReactionOp::kAdd;
  // Text entries.
  std::optional<int64_t> reply_to{};
  std::vector<UserId> mentions{};
  std::vector<Reaction> reactions{};
  std::optional<TimeMs> edited_ts{};
  bool deleted = false;
  int64_t state_seq = 0;                  // the seq of the last entry folded in; its own seq while unchanged
  std::vector<Attachment> attachments{};  // text entries, in the order sent; [] once deleted

  bool operator==(const Message&) const = default;
};

// A group's invite link (PROTOCOL.md §7): anyone holding the code may join,
// at most max_uses times in all, until expires_at.
struct Invite {
  std::string code;
  ConversationId conv;
  std::optional<int64_t> max_uses;  // nullopt: unlimited
  int64_t uses = 0;
  TimeMs expires_at = 0;

  bool operator==(const Invite&) const = default;
};

// At most this many uploads are attached to one text entry (PROTOCOL.md §6).
inline constexpr size_t kMaxAttachments = 10;
// At most this many users are mentioned by one text entry.
inline constexpr size_t kMaxMentions = 50;
// A user holds at most this many distinct emoji on one text entry.
inline constexpr size_t kMaxEmojiPerUser = 20;
// An emoji is 1 to this many bytes of UTF-8.
inline constexpr size_t kMaxEmojiBytes = 32;

// Members shown inline in a Conversation; larger groups page through members.
inline constexpr int kInlineMembers = 100;

}  // namespace parley
