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
#include "store/push_records.h"
#include "store/search_query.h"

namespace parley::store {

// A user as stored, with the password hash (never leaves the server).
struct UserRecord {
  User user;
  std::string password_hash;
  int64_t token_epoch = 0;  // see AuthState
  bool deleted = false;     // see DeleteUser
  UserId bot_owner;         // a bot's owner (user.bot); invalid for a person
};

// What decides whether a user's access tokens are still good: a token
// carries the epoch it was issued under, and one below `token_epoch` is
// revoked (password change, deletion); a deleted user has no good token.
struct AuthState {
  int64_t token_epoch = 0;
  bool deleted = false;
  // Disabled by a server administrator (PROTOCOL.md §7): no login and no
  // refresh until enabled again. Disabling also bumps the epoch, so the
  // tokens issued before are refused by the epoch alone.
  bool disabled = false;
};

// What taking a refresh token yields: whose it is and its family (every
// token rotated from one login shares the family of that login's token).
struct RefreshGrant {
  UserId user;
  std::string family;
};

// A user as a server administrator lists them (PROTOCOL.md §7).
struct UserListing {
  User user;
  TimeMs created_at = 0;
  bool disabled = false;
};

// What GET /v1/admin/stats counts from the store.
struct Totals {
  int64_t users = 0;          // not deleted (bots included)
  int64_t conversations = 0;  // DMs and groups
  int64_t entries = 0;        // every seq of every conversation (the sum of last_seq)
};

// What joining by an invite did.
struct InviteJoin {
  ConversationId conv;
  bool added = false;  // false: already a member (no use was counted)
};

// An entry the sequencer asks the store to commit: a text message or a change
// to one (PROTOCOL.md §5). `id` and `ts` are chosen by the sequencer before
// the commit; `seq` is assigned by the store.
struct NewMessage {
  ConversationId conv;
  UserId sender;
  std::string client_msg_id;
  std::string body;  // text and edit; "" for delete and reaction
  MessageId id;
  TimeMs ts = 0;
  EntryKind kind = EntryKind::kText;
  int64_t target = 0;                 // edit, delete, reaction: the text entry changed
  std::string emoji{};                // reaction
  ReactionOp op = ReactionOp::kAdd;   // reaction
  std::optional<int64_t> reply_to{};  // text
  // Text and edit: the usernames (folded) the body names as `@username`, in
  // order of first appearance. The store keeps those who are members at
  // commit time, at most kMaxMentions, as the entry's mentions.
  std::vector<std::string> mention_names{};
  // Text: the uploads attached (PROTOCOL.md §6), at most kMaxAttachments,
  // each the sender's own.
  std::vector<UploadId> attachments{};
  // A delete made by a server administrator (PROTOCOL.md §7, `DELETE
  // /v1/admin/conversations/{id}/messages/{seq}`), with no client_msg_id:
  // it needs no membership and no role, and moves no read marker.
  bool by_server_admin = false;
};
// A search of PROTOCOL.md §6, for one user.
inline constexpr int kDefaultSearchLimit = 20;
inline constexpr int kMaxSearchLimit = 100;
struct SearchRequest {
  UserId viewer;
  SearchQuery query;
  std::optional<ConversationId> conv;  // only this conversation
  int limit = kDefaultSearchLimit;     // 1..kMaxSearchLimit
  std::string cursor;                  // "" or an earlier page's `next`
};
// One page of results, newest first, and where the next page starts
// (nullopt: this is the last page).
struct SearchPage {
  std::vector<Message> results;
  std::optional<std::string> next;
};

// The outcome of one NewMessage in a batch.
struct Committed {
  // As stored (the first one, when duplicate). A new edit also carries the
  // mentions its body resolved to, which its target took: what folding it
  // again needs (store/recent_entries.h). History and a duplicate serve an
  // edit without them, as the wire does.
  Message message;
  bool duplicate = false;  // (sender, client_msg_id) was already stored
};

// An upload's metadata (PROTOCOL.md §6). Its bytes live in a blob store
// (uploads/blob_store.h) under `sha256`; several uploads of the same bytes
// share one blob.
struct UploadRecord {
  UploadId id;
  UserId uploader;
  std::string name;          // as uploads::StoredName leaves it
  std::string content_type;  // "type/subtype", as uploads::StoredContentType leaves it
  int64_t size = 0;
  std::string sha256;  // 64 lowercase hex digits
  TimeMs created = 0;

  bool operator==(const UploadRecord&) const = default;
};

// Who an upload reaches through the entries that attach it.
struct UploadLinks {
  bool attached = false;  // some text entry attaches it (deleted or not)
  bool live = false;      // some text entry that is not deleted attaches it
  bool member = false;    // the viewer is a member of a conversation with such a live entry
};

// What DeleteUnattachedUpload did.
struct UploadRemoval {
  bool removed = false;      // false: unknown, or a live entry attaches it (nothing changed)
  bool blob_in_use = false;  // another upload still names the same sha256
};

// An outgoing webhook of a conversation (PROTOCOL.md §8) and where its
// delivery stands. The delivery state is durable so a restart, or another
// node taking the webhook over, resumes from `cursor` without losing or
// reordering an entry.
struct WebhookRecord {
  int64_t id = 0;
  ConversationId conv;
  std::string url;
  std::string secret;  // the HMAC key of the signatures; never listed on the wire
  UserId created_by;
  TimeMs created_at = 0;
  int64_t cursor = 0;                   // the last seq delivered (answered 2xx)
  std::optional<TimeMs> failing_since;  // the first failure since the last success
  TimeMs next_attempt_at = 0;           // not tried again before this
  int64_t attempts = 0;                 // failures since the last success
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
  // Records when users were last online (when their last connection
  // closed), all in one transaction (one fsync when thousands of
  // connections close at once); unknown users are skipped.
  struct LastSeen {
    UserId user;
    TimeMs ts = 0;
  };
  virtual Result<void> SetLastSeenMany(std::span<const LastSeen> seen) = 0;
  Result<void> SetLastSeen(UserId id, TimeMs ts) {
    const LastSeen one{id, ts};
    return SetLastSeenMany(std::span<const LastSeen>(&one, 1));
  }

  // Replaces the user's display name (validated by the caller) and returns
  // the user as stored now. kNotFound when there is no such user or it is
  // deleted.
  virtual Result<User> SetDisplayName(UserId id, const std::string& display_name) = 0;

  // Tombstones a user: the username stays taken (nobody can register it and
  // pass for them), the password hash is replaced by one nothing verifies
  // against, the display name is reset to the username, the token epoch is
  // bumped and every refresh token is revoked, in one transaction. Messages
  // and memberships stay; a bot's API key is cleared. Returns the new epoch. kNotFound when there is no
  // such user or it is already deleted.
  virtual Result<int64_t> DeleteUser(UserId id, TimeMs now) = 0;
  // Replaces the password hash, bumps the token epoch and revokes every
  // refresh token of the user, in one transaction. Returns the new epoch.
  // kNotFound when there is no such user or it is deleted.
  virtual Result<int64_t> SetPassword(UserId id, const std::string& password_hash) = 0;
  // Bumps the token epoch and revokes every refresh token of the user, in
  // one transaction (logout everywhere). Returns the new epoch. kNotFound
  // when there is no such user or it is deleted.
  virtual Result<int64_t> RevokeAllTokens(UserId id) = 0;
  // The user's token epoch and deleted flag. kNotFound when no such user.
  virtual Result<AuthState> GetAuthState(UserId id) = 0;

  // --- bots (PROTOCOL.md §8) ---------------------------------------------------
  // Creates a bot owned by `owner`: a user with no password (no login
  // verifies against it) who acts with the API key that hashes to
  // `key_hash`. `username` is folded and validated. kConflict when the
  // username is taken; kBadRequest when `owner` already has `max_bots`
  // bots that are not deleted (checked in the same transaction).
  virtual Result<User> CreateBot(UserId owner, const std::string& username, const std::string& display_name,
                                 const std::string& key_hash, int max_bots, TimeMs now) = 0;
  // The bots of `owner` that are not deleted, by id.
  virtual Result<std::vector<User>> ListBots(UserId owner) = 0;
  // The user whose API key hashes to `key_hash`. kUnauthorized when there is
  // none (deleting a bot clears its key: see DeleteUser).
  virtual Result<UserRecord> FindUserByApiKey(const std::string& key_hash) = 0;

  // --- refresh tokens (stored as hashes only) --------------------------------
  // Stores a token of `family` (a login starts a family named after its first
  // token's hash; a rotation passes the family on).
  virtual Result<void> PutRefreshToken(const std::string& token_hash, UserId user, TimeMs expires_at,
                                       const std::string& family) = 0;
  // Atomically takes a refresh token: it is valid exactly once. kUnauthorized
  // when unknown, expired at `now`, or already used. A used token presented
  // again is a replay (the token was stolen, or the client misbehaves): the
  // same call also revokes every token of its family, so neither the thief's
  // nor the victim's newest token works any more.
  virtual Result<RefreshGrant> TakeRefreshToken(const std::string& token_hash, TimeMs now) = 0;
  // Revokes every token of the family `token_hash` belongs to (logout).
  // Returns false when the token is unknown.
  virtual Result<bool> RevokeRefreshFamily(const std::string& token_hash) = 0;

  // --- conversations and members ---------------------------------------------
  // Creates a group owned by `owner` with the other `members` (role member;
  // duplicates and the owner among them are ignored). Returns its id.
  virtual Result<ConversationId> CreateGroup(const std::string& title, UserId owner,
                                             std::span<const UserId> members, TimeMs now) = 0;
  // The DM of a pair, created on first call; the same id every time for the
  // pair in either order. Both users are members (role member). a != b.
  virtual Result<ConversationId> GetOrCreateDm(UserId a, UserId b, TimeMs now) = 0;
  // The conversation as `viewer` sees it (read_seq, unread_count and
  // mentions_unread are the viewer's; 0 when the viewer is not a member).
  // The counts follow PROTOCOL.md §5 and cost a range count from read_seq
  // on, never a scan of the whole conversation. kNotFound when it does not
  // exist.
  virtual Result<Conversation> GetConversation(ConversationId id, UserId viewer) = 0;
  // Every conversation `user` is a member of, newest activity first, with
  // the user's counts as in GetConversation.
  virtual Result<std::vector<Conversation>> ListConversations(UserId user) = 0;
  // The same conversations in the same order, heads only: id, kind, title,
  // topic, last_seq, member_count, and the user's read_seq and notify; no
  // members, no counts. What a resume needs (each conversation's newest
  // seq), for a fraction of the reads.
  virtual Result<std::vector<Conversation>> ListConversationHeads(UserId user) = 0;
  // The conversations `user` has made entries in but is no longer a member
  // of (left, removed, banned), by id, with kind, title, topic, last_seq and
  // member_count; the viewer fields (read_seq, counts, members) are empty,
  // since those are no longer the user's. Reads the (sender, client_msg_id)
  // index, so it costs the user's own entries, never the conversations'.
  virtual Result<std::vector<Conversation>> FormerConversations(UserId user) = 0;
  // The role of `user` in `conv`, or nullopt when not a member.
  // kNotFound when the conversation does not exist.
  virtual Result<std::optional<Role>> GetRole(ConversationId conv, UserId user) = 0;
  // GetRole and the conversation's last_seq, in one read: what a history
  // page served from the newest entries (recent_entries.h) needs to know.
  struct Membership {
    std::optional<Role> role;  // nullopt: not a member
    int64_t last_seq = 0;
  };
  virtual Result<Membership> GetMembership(ConversationId conv, UserId user) = 0;
  // Adds a member, whose read_seq starts at the conversation's last_seq
  // (PROTOCOL.md §7: older history is readable but not unread); adding an
  // existing member changes nothing and succeeds. kForbidden when the user
  // is banned from the conversation (see Ban).
  virtual Result<void> AddMember(ConversationId conv, UserId user, Role role) = 0;
  // Removes a member; returns false when they were not a member. When the
  // owner leaves a group that still has members, the same transaction makes
  // the admin who joined first the owner, else the member who joined first
  // (see Owner), so a group always has an owner while it has members.
  virtual Result<bool> RemoveMember(ConversationId conv, UserId user) = 0;
  // Members ordered by user id, those with id > `after`, at most `limit`.
  virtual Result<std::vector<Member>> ListMembers(ConversationId conv, UserId after, int limit) = 0;
  // The users who share with `user` a DM or a group of at most
  // `group_limit` members (not `user` itself), without duplicates.
  virtual Result<std::vector<UserId>> PresenceContacts(UserId user, int group_limit) = 0;

  // Those of `users` who share a conversation (a DM or a group of any size)
  // with `viewer`, by id, without duplicates; `viewer` itself is not among
  // them. Costs a lookup per asked user, never a read of every co-member
  // (a viewer in a large group has many).
  virtual Result<std::vector<UserId>> SharingAConversation(UserId viewer, std::span<const UserId> users) = 0;

  // --- groups: roles, bans, settings, invites (PROTOCOL.md §7) ---------------
  // Who decides (owner, admins) is the chat service's policy; these keep the
  // invariants that must hold whatever the callers race: one owner, no
  // banned member, an invite's uses within max_uses.
  //
  // The owner of `conv`, or nullopt when it has no members (or is a DM).
  // kNotFound when the conversation does not exist.
  virtual Result<std::optional<UserId>> Owner(ConversationId conv) = 0;
  // Sets the role of member `user` to kAdmin or kMember (kBadRequest for
  // kOwner: ownership only moves by TransferOwnership). kNotFound when the
  // conversation does not exist or `user` is not a member; kForbidden when
  // `user` is the owner.
  virtual Result<void> SetRole(ConversationId conv, UserId user, Role role) = 0;
  // Makes member `to` the owner and the owner `from` an admin, in one
  // transaction. kBadRequest when from == to; kForbidden when `from` is not
  // the owner (any more); kNotFound when the conversation does not exist or
  // `to` is not a member.
  virtual Result<void> TransferOwnership(ConversationId conv, UserId from, UserId to) = 0;
  // Bans `user` from `conv` and removes them if they are a member (as
  // RemoveMember, ownership included), in one transaction; banning again
  // changes nothing. Returns whether they were a member. kNotFound when the
  // conversation or the user does not exist.
  virtual Result<bool> Ban(ConversationId conv, UserId user, UserId by, TimeMs now) = 0;
  // Lifts a ban; returns false when there was none.
  virtual Result<bool> Unban(ConversationId conv, UserId user) = 0;
  // Sets a group's title and/or topic (nullopt leaves one as it is); a
  // group's topic is "" until set. kNotFound when the conversation does not
  // exist; kBadRequest for a DM.
  virtual Result<void> UpdateGroup(ConversationId conv, const std::optional<std::string>& title,
                                   const std::optional<std::string>& topic) = 0;
  // Stores an invite (uses 0) made by `by`. kNotFound when the conversation
  // does not exist; kConflict when the code is taken.
  virtual Result<void> CreateInvite(const Invite& invite, UserId by, TimeMs now) = 0;
  // Joins `user` to the invite's conversation as a member (read_seq as in
  // AddMember) and counts one use, in one transaction. A user who is already
  // a member is not added again and uses nothing. kNotFound when the code is
  // unknown, expired at `now` or used up; kForbidden when the user is
  // banned from the conversation; kBadRequest ("group is full") when the
  // group already has `max_members` members: checked in the transaction,
  // since invites are how a crowd joins at once.
  virtual Result<InviteJoin> JoinByInvite(const std::string& code, UserId user, TimeMs now,
                                          int64_t max_members) = 0;
  // Deletes an invite of `conv`; returns false when it has no such code.
  virtual Result<bool> DeleteInvite(ConversationId conv, const std::string& code) = 0;

  // --- blocks (PROTOCOL.md §7) --------------------------------------------------
  // `blocker` blocks `blocked` (again: nothing changes). kNotFound when
  // either user does not exist; kBadRequest when they are the same.
  virtual Result<void> Block(UserId blocker, UserId blocked, TimeMs now) = 0;
  // Returns false when there was no such block.
  virtual Result<bool> Unblock(UserId blocker, UserId blocked) = 0;
  // The users `blocker` blocks, by id.
  virtual Result<std::vector<User>> ListBlocked(UserId blocker) = 0;
  // Whether any of `blockers` blocks `blocked`.
  virtual Result<bool> AnyBlocks(std::span<const UserId> blockers, UserId blocked) = 0;

  // --- messages ---------------------------------------------------------------
  // Commits a batch in ONE transaction (one fsync). In batch order, for each:
  //  - if (sender, client_msg_id) is stored already, whatever its kind: that
  //    entry, duplicate=true;
  //  - else if the conversation does not exist: kNotFound for that entry;
  //  - else if the sender is not a member, or the conversation is a DM
  //    whose other member blocks the sender (PROTOCOL.md §7): kForbidden for
  //    that entry (a delete `by_server_admin` skips this step and the role
  //    check of the rules below);
  //  - else if a text entry attaches an upload that does not exist:
  //    kNotFound; one that another user uploaded: kForbidden (PROTOCOL.md §6);
  //  - else if the entry breaks a rule of PROTOCOL.md §5 against the state
  //    the earlier entries (stored, or earlier in this batch) left:
  //      kNotFound: the target (or reply_to) is not a text entry of the
  //        conversation;
  //      kForbidden: an edit of someone else's entry, a delete of someone
  //        else's entry by a plain member;
  //      kBadRequest: an edit of or reaction to a deleted entry, a 21st
  //        distinct emoji of one user on one entry, an emoji of 0 or more
  //        than kMaxEmojiBytes bytes;
  //  - else: seq = conversation's last_seq + 1, stored, last_seq advanced,
  //    the sender's read_seq set to seq, and the target's folded state
  //    (body, edited_ts, deleted, reactions, mentions, state_seq) updated in
  //    the same transaction. A delete erases the target's body, mentions and
  //    reactions and the bodies of the edits of it from the store; deleting
  //    a deleted entry again is stored and changes nothing else. A reaction
  //    `add` the user already holds, or a `remove` of one they do not, is
  //    stored and moves only the target's state_seq.
  // A rejected entry stores nothing and uses up no seq. The outer error
  // (kUnavailable) means nothing in the batch was committed, with one
  // exception: a backend that commits in two steps (the SQLite backend: its
  // entries in RocksDB, then its indexes in SQLite) answers kUnavailable
  // when the second step fails, with the batch stored; a retry of each entry
  // finds it as a duplicate. (conv, seq) is
  // unique in the store, so a second writer for a conversation fails instead
  // of writing twice.
  virtual Result<std::vector<Result<Committed>>> CommitBatch(std::span<const NewMessage> batch) = 0;
  // History paging, always ascending by seq, at most `limit` (1..500):
  //  - neither bound: the newest `limit`;
  //  - before only: the `limit` just below `before`;
  //  - after only: after+1 .. after+limit;
  //  - both: the first `limit` above `after` and below `before`.
  // Every entry of the range: text entries folded (reactions' `me` for
  // `viewer`; an invalid viewer holds none; attachments without their
  // `url`, none once deleted), change entries as stored.
  virtual Result<std::vector<Message>> History(ConversationId conv, std::optional<int64_t> before,
                                               std::optional<int64_t> after, int limit, UserId viewer) = 0;
  // Moves `user`'s read marker forward to min(seq, last_seq); never back.
  // Returns the marker after the call.
  virtual Result<int64_t> SetReadSeq(ConversationId conv, UserId user, int64_t seq) = 0;

  // --- uploads (PROTOCOL.md §6) ------------------------------------------------
  // Stores an upload's metadata (its blob is stored already). kConflict
  // when the id is taken; kNotFound when the uploader does not exist.
  virtual Result<void> CreateUpload(const UploadRecord& upload) = 0;
  // kNotFound when there is no such upload.
  virtual Result<UploadRecord> GetUpload(UploadId id) = 0;
  // How the text entries that attach upload `id` reach `viewer` (an invalid
  // viewer is nobody's member), read in one snapshot. An unknown upload has
  // no links.
  virtual Result<UploadLinks> GetUploadLinks(UploadId id, UserId viewer) = 0;
  // Uploads created before `created_before` that no live (not deleted) text
  // entry attaches, oldest first, at most `limit`: what the collector may
  // remove.
  virtual Result<std::vector<UploadRecord>> UnattachedUploads(TimeMs created_before, int limit) = 0;
  // Removes upload `id` (and the attachment rows of deleted entries naming
  // it) unless a live text entry attaches it, deciding in the same
  // transaction as the removal, so an entry committed meanwhile keeps it.
  virtual Result<UploadRemoval> DeleteUnattachedUpload(UploadId id) = 0;

  // --- notification levels and Web Push (PROTOCOL.md §8; push_rows.cc) ---------
  // Sets a member's notification level for `conv`; kNotFound when `user` is
  // not a member of it.
  virtual Result<void> SetNotifyLevel(ConversationId conv, UserId user, NotifyLevel level) = 0;
  // The value kept under `name` (a server-wide secret, such as the VAPID
  // key): `candidate` when none was kept yet, else the one kept first. Every
  // node of a cluster that calls it gets the same value.
  virtual Result<std::string> KeepServerSecret(const std::string& name, const std::string& candidate) = 0;
  // Adds a push subscription, or replaces the user and keys of the one with
  // the same endpoint. kBadRequest when the user already has
  // `max_per_user` others.
  virtual Result<void> PutPushSubscription(const PushSubscription& subscription, int max_per_user,
                                           TimeMs now) = 0;
  // Removes `user`'s subscription with that endpoint; false when there was none.
  virtual Result<bool> DeletePushSubscription(UserId user, const std::string& endpoint) = 0;
  // Who a new text entry of `conv` by `sender` may be pushed to (see
  // PushAudience). kNotFound when the conversation does not exist.
  virtual Result<PushAudience> GetPushAudience(ConversationId conv, UserId sender) = 0;
  // Whether any user has a push subscription: lets the push sender skip
  // GetPushAudience for every entry while no one could be pushed.
  virtual Result<bool> AnyPushSubscriptions() = 0;

  // --- search (PROTOCOL.md §6) ------------------------------------------------
  // The text entries whose current body holds every term of the query, in
  // conversations the viewer is a member of now (the membership is part of
  // the query: no row of another conversation is read and dropped), only
  // `conv` when given; folded as in History (reactions' `me` for the
  // viewer); newest first by ts (ties in an order of the backend's, stable
  // across pages); at most `limit`. Deleted entries are never found; an
  // edited one only by its latest body. The index is written by the
  // CommitBatch transaction that changes a body, so a committed entry is
  // found at once and a crash never leaves the index and the entries apart.
  // `cursor` is opaque: a backend's own encoding of where a page ended.
  // kBadRequest for a cursor this backend did not make.
  virtual Result<SearchPage> Search(const SearchRequest& request) = 0;

  // --- server administration (PROTOCOL.md §7) -----------------------------------
  // Users that are not deleted with id > `after`, by id, at most `limit`.
  virtual Result<std::vector<UserListing>> ListUsers(UserId after, int limit) = 0;
  // Disables a user (bumps the token epoch and revokes every refresh token,
  // in one transaction; disabling again bumps again) or enables one (the
  // epoch stays). Returns the epoch after the call. kNotFound when there is
  // no such user or it is deleted.
  virtual Result<int64_t> SetDisabled(UserId id, bool disabled, TimeMs now) = 0;
  // The counts of GET /v1/admin/stats; costs one row per conversation at
  // most, never a scan of the messages.
  virtual Result<Totals> CountTotals() = 0;

  // --- webhooks (PROTOCOL.md §8; the delivery in src/webhooks/) -----------------
  // Creates a webhook of `conv` whose cursor starts at the conversation's
  // last_seq (it delivers the entries committed after its creation).
  // kNotFound when the conversation does not exist; kBadRequest when it has
  // `max_per_conv` webhooks already (checked in the same transaction).
  virtual Result<WebhookRecord> CreateWebhook(ConversationId conv, const std::string& url,
                                              const std::string& secret, UserId created_by, int max_per_conv,
                                              TimeMs now) = 0;
  // The webhooks of `conv`, by id.
  virtual Result<std::vector<WebhookRecord>> ListWebhooks(ConversationId conv) = 0;
  // kNotFound when there is no such webhook.
  virtual Result<WebhookRecord> GetWebhook(int64_t id) = 0;
  // Returns false when `conv` has no webhook `id`.
  virtual Result<bool> DeleteWebhook(ConversationId conv, int64_t id) = 0;
  // Webhooks with work to do at `now`: entries after their cursor, no
  // attempt scheduled later, and no lease of another owner that has not
  // expired; oldest attempt first, at most `limit`. Reads only.
  virtual Result<std::vector<int64_t>> DueWebhooks(const std::string& owner, TimeMs now, int limit) = 0;
  // Whether any webhook exists: lets the dispatcher skip the scan a commit
  // asks for while there is nothing to deliver to.
  virtual Result<bool> AnyWebhooks() = 0;
  // Takes (or renews) the lease of webhook `id` for `owner` until
  // `lease_until`, unless another owner holds one that has not expired at
  // `now`: the webhook as stored, or nullopt (another's, or gone). Exactly
  // one owner at a time delivers a webhook.
  virtual Result<std::optional<WebhookRecord>> LeaseWebhook(int64_t id, const std::string& owner, TimeMs now,
                                                            TimeMs lease_until) = 0;
  // After a 2xx: the cursor moves to `seq` (never back), the failure state
  // is cleared and the lease renewed until `lease_until`. False when
  // `owner` no longer holds the lease (or the webhook is gone): nothing
  // changed, and the caller stops delivering it.
  virtual Result<bool> AdvanceWebhook(int64_t id, const std::string& owner, int64_t seq,
                                      TimeMs lease_until) = 0;
  // After a failed attempt: failing_since set when not set (to `now`),
  // attempts counted, the next attempt not before `next_attempt_at`, and
  // the lease released. False when `owner` no longer holds the lease.
  virtual Result<bool> FailWebhook(int64_t id, const std::string& owner, TimeMs now,
                                   TimeMs next_attempt_at) = 0;
  // Gives the lease up (the delivery stopped for now, nothing failed).
  virtual Result<void> ReleaseWebhook(int64_t id, const std::string& owner) = 0;

  // Cheap liveness probe for /readyz.
  virtual Result<void> Ping() = 0;
};

}  // namespace parley::store
