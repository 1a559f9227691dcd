#pragma once
// The store: users, conversations, members, messages, read markers and
// refresh tokens. Every method blocks; callers run it on a blocking thread
// (the HTTP worker pool or the sequencer), never on an io thread. An
// implementation is safe to call from many threads at once.
//
// The shape follows a wide-column model (Cassandra/ScyllaDB): a
// conversation's messages form one partition clustered by seq, and every read
// of messages is a range scan by seq within one conversation. Nothing here
// needs a join across conversations on the path of a message.
//
// Errors: kNotFound, kForbidden, kConflict, kUnauthorized as documented per
// method; kUnavailable when the backend cannot answer (retryable); kInternal
// for a bug or corrupt data.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/model.h"
#include "common/result.h"

namespace parley::store {

// A user as stored, with the password hash (never leaves the server).
struct UserRecord {
  User user;
  std::string password_hash;
};

// A message the sequencer asks the store to commit. `id` and `ts` are chosen
// by the sequencer before the commit; `seq` is assigned by the store.
struct NewMessage {
  ConversationId conv;
  UserId sender;
  std::string client_msg_id;
  std::string body;
  MessageId id;
  TimeMs ts = 0;
};

// The outcome of one NewMessage in a batch.
struct Committed {
  Message message;         // as stored (the first one, when duplicate)
  bool duplicate = false;  // (sender, client_msg_id) was already stored
};

class Store {
 public:
  virtual ~Store() = default;

  // --- users ---------------------------------------------------------------
  // Creates a user. `username` is already folded and validated. Display name
  // defaults to the username when empty. kConflict if the username is taken.
  virtual Result<User> CreateUser(const std::string& username, const std::string& display_name,
                                  const std::string& password_hash, TimeMs now) = 0;
  // kNotFound when there is no such user.
  virtual Result<UserRecord> FindUserByName(const std::string& username) = 0;
  virtual Result<User> FindUserById(UserId id) = 0;
  // The users that exist among `ids`, in any order; unknown ids are skipped.
  virtual Result<std::vector<User>> FindUsersByIds(std::span<const UserId> ids) = 0;
  // Records when a user was last online (when their last connection closed).
  virtual Result<void> SetLastSeen(UserId id, TimeMs ts) = 0;

  // --- refresh tokens (stored as hashes only) --------------------------------
  virtual Result<void> PutRefreshToken(const std::string& token_hash, UserId user, TimeMs expires_at) = 0;
  // Atomically takes a refresh token: it is valid exactly once. kUnauthorized
  // when unknown, already used or expired at `now`.
  virtual Result<UserId> TakeRefreshToken(const std::string& token_hash, TimeMs now) = 0;

  // --- conversations and members ---------------------------------------------
  // Creates a group owned by `owner` with the other `members` (role member;
  // duplicates and the owner among them are ignored). Returns its id.
  virtual Result<ConversationId> CreateGroup(const std::string& title, UserId owner,
                                             std::span<const UserId> members, TimeMs now) = 0;
  // The DM of a pair, created on first call; the same id every time for the
  // pair in either order. Both users are members (role member). a != b.
  virtual Result<ConversationId> GetOrCreateDm(UserId a, UserId b, TimeMs now) = 0;
  // The conversation as `viewer` sees it (read_seq is the viewer's; 0 when
  // the viewer is not a member). kNotFound when it does not exist.
  virtual Result<Conversation> GetConversation(ConversationId id, UserId viewer) = 0;
  // Every conversation `user` is a member of, newest activity first.
  virtual Result<std::vector<Conversation>> ListConversations(UserId user) = 0;
  // The role of `user` in `conv`, or nullopt when not a member.
  // kNotFound when the conversation does not exist.
  virtual Result<std::optional<Role>> GetRole(ConversationId conv, UserId user) = 0;
  // Adds a member; adding an existing member changes nothing and succeeds.
  virtual Result<void> AddMember(ConversationId conv, UserId user, Role role) = 0;
  // Removes a member; returns false when they were not a member.
  virtual Result<bool> RemoveMember(ConversationId conv, UserId user) = 0;
  // Members ordered by user id, those with id > `after`, at most `limit`.
  virtual Result<std::vector<Member>> ListMembers(ConversationId conv, UserId after, int limit) = 0;
  // Every member's id (for fan-out bookkeeping).
  virtual Result<std::vector<UserId>> ListMemberIds(ConversationId conv) = 0;
  // The users who share with `user` a DM or a group of at most
  // `group_limit` members (not `user` itself), without duplicates.
  virtual Result<std::vector<UserId>> PresenceContacts(UserId user, int group_limit) = 0;

  // --- messages ---------------------------------------------------------------
  // Commits a batch in ONE transaction (one fsync). In batch order, for each:
  //  - if (sender, client_msg_id) is stored already: that message, duplicate=true;
  //  - else if the conversation does not exist: kNotFound for that entry;
  //  - else if the sender is not a member: kForbidden for that entry;
  //  - else: seq = conversation's last_seq + 1, stored, last_seq advanced, and
  //    the sender's read_seq set to seq.
  // A rejected entry uses up no seq. The outer error (kUnavailable) means
  // nothing in the batch was committed. (conv, seq) is unique in the store,
  // so a second writer for a conversation fails instead of writing twice.
  virtual Result<std::vector<Result<Committed>>> CommitBatch(std::span<const NewMessage> batch) = 0;
  // History paging, always ascending by seq, at most `limit` (1..500):
  //  - neither bound: the newest `limit`;
  //  - before only: the `limit` just below `before`;
  //  - after only: after+1 .. after+limit;
  //  - both: the first `limit` above `after` and below `before`.
  virtual Result<std::vector<Message>> History(ConversationId conv, std::optional<int64_t> before,
                                               std::optional<int64_t> after, int limit) = 0;
  // Moves `user`'s read marker forward to min(seq, last_seq); never back.
  // Returns the marker after the call.
  virtual Result<int64_t> SetReadSeq(ConversationId conv, UserId user, int64_t seq) = 0;

  // Cheap liveness probe for /readyz.
  virtual Result<void> Ping() = 0;
};

}  // namespace parley::store
