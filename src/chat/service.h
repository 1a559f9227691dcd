#pragma once
// chat::Service: the one narrow door between the transport and the domain.
// The gateway (HTTP and WebSocket) sees only this class and the DeliverySink
// it implements; the service sees only backend interfaces (store, message
// log, fan-out, presence registry). No Asio, no SQL here, so the whole domain
// is testable without sockets.
//
// Threading: every method is thread-safe. Methods marked "blocking" touch the
// store or hash passwords: call them from a blocking worker, never from an io
// thread. The others are cheap and may run on an io thread.
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/auth.h"
#include "auth/external_issuer.h"
#include "auth/login_throttle.h"
#include "chat/account_export.h"
#include "chat/options.h"
#include "chat/uploads.h"
#include "common/clock.h"
#include "common/model.h"
#include "common/result.h"
#include "common/shared_limits.h"
#include "log/message_log.h"
#include "fanout/fanout.h"
#include "presence/presence_registry.h"
#include "push/vapid.h"
#include "protocol/frames.h"
#include "store/recent_entries.h"
#include "store/store.h"
#include "uploads/blob_store.h"
#include "uploads/url_signer.h"

namespace parley::chat {

struct Deps {
  store::Store& store;
  log::MessageLog& log;
  fanout::FanOut& fanout;
  presence::PresenceRegistry& presence;
  const auth::TokenIssuer& tokens;
  const auth::PasswordHasher& hasher;
  const Clock& clock;
  // Verifies tokens of an outside issuer; null when none is configured.
  const auth::ExternalVerifier* external = nullptr;
  // Where upload bytes live and how their urls are signed (PROTOCOL.md §6);
  // null: uploads are unavailable (503).
  uploads::BlobStore* blobs = nullptr;
  const uploads::UrlSigner* url_signer = nullptr;
  // Where a cluster keeps the send buckets and the login throttle's counts
  // (Redis); null on one node, which counts in memory.
  SharedLimits* limits = nullptr;
  // Whether a webhook may POST to `url` (PROTOCOL.md §8): http(s), a host
  // that resolves to addresses the policy allows (kBadRequest saying what
  // is wrong). Null: webhooks are unavailable (503).
  std::function<Result<void>(std::string_view url)> check_webhook_url = {};
  // The server's VAPID identity (PROTOCOL.md §8); null: Web Push is
  // unavailable (503).
  const push::Vapid* vapid = nullptr;
  // Called after a push subscription is stored (the push sender starts
  // planning pushes at once); may be empty.
  std::function<void()> push_subscribed = {};
  // The newest entries of each conversation beside the store (a cluster's
  // Redis), which resumes and history pages read first; null: the store
  // alone.
  store::RecentEntries* recent = nullptr;
  // Called for each page of entries served to a resume (or as history),
  // from `recent` (true) or the store.
  std::function<void(bool resume, bool from_recent)> on_page = {};
};

// A webhook just made (PROTOCOL.md §8): the secret is shown this once.
using NewWebhook = store::WebhookRecord;

// A bot just made (PROTOCOL.md §8): the key is shown this once.
struct NewBot {
  User bot;
  std::string api_key;
};

inline constexpr int kMaxBotsPerOwner = 10;

// What register, login and refresh answer (PROTOCOL.md `Session`).
struct AuthSession {
  User user;
  std::string access_token;
  std::string refresh_token;
  int expires_in = 0;
};

struct MembersPage {
  std::vector<Member> members;
  std::optional<UserId> next;  // cursor for the next page, if any
};

// What a connection sends right after `welcome` (PROTOCOL.md "Opening"):
// per conversation an optional gap and the range of missed messages, which
// the connection reads a page at a time (ResumePage) as the client takes
// them; then who is online.
struct ResumePlan {
  struct Conv {
    ConversationId conv;
    std::optional<std::pair<int64_t, int64_t>> gap;  // inclusive from..to
    int64_t after = 0;                               // the messages to send: seq in (after, upto]
    int64_t upto = 0;
    // The first page of (after, upto], when read with the plan
    // (Service::ReadAhead): the resume sends it without another read.
    std::optional<std::vector<Message>> page;
  };
  struct Online {
    UserId user;
    std::string frame;  // its `presence` event
  };
  std::vector<Conv> conversations;
  std::vector<Online> online;  // one per online contact
};

// GET /v1/admin/users (PROTOCOL.md §7): one page, and the cursor of the next.
struct AdminUsersPage {
  std::vector<store::UserListing> users;
  std::optional<UserId> next;
};

// GET /v1/admin/stats, less what only the gateway knows (its connections,
// its uptime).
using AdminTotals = store::Totals;

inline constexpr size_t kMaxDisplayNameBytes = 64;
// A display name as registration and bot creation take it: at most
// kMaxDisplayNameBytes bytes of UTF-8, empty meaning "the username"
// (kBadRequest otherwise).
Result<void> CheckOptionalDisplayName(std::string_view display_name);

class Service {
 public:
  Service(Deps deps, Options options);
  ~Service();

  // --- accounts (blocking) ---------------------------------------------------
  Result<AuthSession> Register(std::string_view username, std::string_view password,
                               std::string_view display_name);
  // `client_address` (may be empty: not counted) feeds the brute-force
  // throttle: kRateLimited with retry_after_ms once it or the account has
  // too many recent failures; no password is checked then.
  Result<AuthSession> Login(std::string_view username, std::string_view password,
                            std::string_view client_address = {});
  // Rotates a refresh token within its family. A token already rotated
  // (replayed) revokes the whole family: kUnauthorized.
  Result<AuthSession> Refresh(std::string_view refresh_token);
  // Revokes the family of `refresh_token` (every token rotated from the
  // same login). Unknown tokens are fine: they are dead already.
  Result<void> Logout(std::string_view refresh_token);
  // Logout everywhere (PROTOCOL.md §7): revokes every refresh token and
  // every access token of `user`, the caller's included, and closes every
  // WebSocket opened with one, on every node.
  Result<void> LogoutAll(UserId user);
  // Checks the old password (throttled like a login; a wrong one is
  // kForbidden), stores the new one, and revokes every refresh token and
  // every access token issued before (closing the WebSockets opened with
  // one, as LogoutAll). Returns a fresh session.
  Result<AuthSession> ChangePassword(UserId user, std::string_view old_password,
                                     std::string_view new_password, std::string_view client_address = {});
  // Deletes the account after checking its password (as ChangePassword):
  // a tombstone keeps the username from being registered again, every
  // token stops working, the user leaves their groups (DMs keep them as a
  // member) and their connections are closed with 4003, on every node.
  Result<void> DeleteAccount(UserId user, std::string_view password, std::string_view client_address = {});
  // Verifies an access token: ours (HS256), or an outside issuer's when one
  // is configured, and refuses it when revoked (issued under an older token
  // epoch, or the user is deleted). An outside user seen for the first time
  // is provisioned (a store write), and a user whose revocation state is
  // not cached is looked up, so this may block.
  Result<auth::Claims> Authenticate(std::string_view access_token);
  // The io-thread version: the same answer, or nullopt when only a blocking
  // Authenticate() can give it (an outside user not yet known here, or a
  // user whose revocation state is not cached or older than
  // revocation_cache_ms).
  std::optional<Result<auth::Claims>> TryAuthenticate(std::string_view access_token);
  // A revocation heard from the fan-out (another node's password change,
  // logout everywhere or deletion): tokens of `user` below `epoch` are
  // refused here from now on, without waiting for the cache to expire.
  void NoteRevocation(UserId user, int64_t epoch) { NoteAuthState(user, {epoch, false}); }
  // After the fan-out lost events (a cluster's Redis came back), a
  // revocation may have been among them: reads the user's state from the
  // store, not the cache, and refuses a token issued under an older epoch
  // (kUnauthorized) or of a deleted user. Blocks.
  Result<void> RecheckRevocation(UserId user, int64_t token_epoch);
  Result<User> Me(UserId user);
  // PATCH /v1/me (PROTOCOL.md §7): a display name of 1 to
  // kMaxDisplayNameBytes bytes of UTF-8 (else kBadRequest), and a
  // `user_updated` event on each of the user's conversations (so a
  // connection sharing several hears it once per shared conversation).
  Result<User> UpdateMe(UserId user, std::string_view display_name);
  // GET /v1/me/export (issue 16): the user's data as a document read from
  // the store a piece at a time (AccountExport). kRateLimited while another
  // export of the same user is running.
  Result<std::unique_ptr<AccountExport>> Export(UserId user);
  // A user as `viewer` may see them: `online` and `last_seen` only when
  // they share a conversation (PROTOCOL.md §7), else false and null.
  Result<User> GetUser(UserId viewer, std::string_view username);

  // --- conversations (blocking) ---------------------------------------------
  Result<std::vector<Conversation>> Conversations(UserId user);
  Result<Conversation> CreateGroup(UserId actor, std::string_view title,
                                   const std::vector<std::string>& usernames);
  Result<Conversation> OpenDm(UserId actor, std::string_view username);
  Result<Conversation> AddMember(UserId actor, ConversationId conv, std::string_view username);
  Result<void> RemoveMember(UserId actor, ConversationId conv, std::string_view username);
  Result<void> Leave(UserId actor, ConversationId conv);
  Result<MembersPage> Members(UserId actor, ConversationId conv, UserId after, int limit);
  Result<std::vector<Message>> History(UserId actor, ConversationId conv, std::optional<int64_t> before,
                                       std::optional<int64_t> after, int limit);
  Result<void> MarkRead(UserId actor, ConversationId conv, int64_t seq);
  // Search of PROTOCOL.md §6 (search.cc): the text entries of the actor's
  // conversations (only `conv` when given: kNotFound/kForbidden as for
  // History) whose current body holds every term of `q`, newest first.
  // kBadRequest for a `q` the search language refuses
  // (store/search_query.h), a limit outside 1..store::kMaxSearchLimit, or a
  // cursor that is not an earlier page's `next`.
  Result<store::SearchPage> Search(UserId actor, std::string_view q, std::optional<ConversationId> conv,
                                   int limit, const std::string& cursor);
  // kNotFound when the conversation does not exist, kForbidden when `actor`
  // is not a member.
  Result<void> CheckMember(UserId actor, ConversationId conv);
  // The `presence` request: `online` and `last_seen` as GetUser shows them.
  Result<std::vector<protocol::PresenceEntry>> QueryPresence(UserId viewer, const std::vector<UserId>& users);

  // --- running a group (PROTOCOL.md §7; blocking; groups.cc) ----------------------
  // Each checks who may (owner, admins, as §7's table says), refuses every
  // transition §7 forbids with a clear error and nothing changed, and
  // publishes the events. kNotFound: no such conversation or user (or the
  // user is not a member where one is needed); kForbidden: the actor may
  // not; kBadRequest: a DM, or bad values.
  Result<void> SetRole(UserId actor, ConversationId conv, std::string_view username, Role role);
  Result<void> Transfer(UserId actor, ConversationId conv, std::string_view username);
  Result<void> Ban(UserId actor, ConversationId conv, std::string_view username);
  Result<void> Unban(UserId actor, ConversationId conv, std::string_view username);
  Result<void> UpdateGroup(UserId actor, ConversationId conv, const std::optional<std::string>& title,
                           const std::optional<std::string>& topic);
  // An invite link of a group (owner, admins): max_uses nullopt is
  // unlimited, else at least 1; expires_in_s at least 1 (default 7 days).
  Result<Invite> CreateInvite(UserId actor, ConversationId conv, std::optional<int64_t> max_uses,
                              std::optional<int64_t> expires_in_s);
  // Joins by an invite: the conversation as the new member sees it. An
  // unknown, used-up or expired code: kNotFound; a banned user: kForbidden.
  Result<Conversation> JoinByInvite(UserId actor, std::string_view code);
  Result<void> DeleteInvite(UserId actor, ConversationId conv, std::string_view code);
  // Blocks (§7): invisible to the blocked user, who may then not open a new
  // DM with the blocker, send into their DM or add the blocker to a group.
  Result<void> Block(UserId actor, std::string_view username);
  Result<void> Unblock(UserId actor, std::string_view username);
  Result<std::vector<User>> Blocked(UserId actor);

  // --- bots (PROTOCOL.md §8; blocking; bots.cc) ------------------------------------
  // A bot owned by `owner` (a person: bots make no bots), at most
  // kMaxBotsPerOwner each; `display_name` as in Register (empty: the
  // username). The key is returned once and only its hash is kept.
  Result<NewBot> CreateBot(UserId owner, std::string_view username, std::string_view display_name);
  Result<std::vector<User>> Bots(UserId owner);
  // Deletes a bot of `owner`: its key stops working at once, on every node,
  // its sockets close with 4003 and it leaves its groups (as an account
  // deletion). kNotFound when there is no such bot; kForbidden when it is
  // someone else's.
  Result<void> DeleteBot(UserId owner, std::string_view username);

  // --- webhooks (PROTOCOL.md §8; blocking; webhooks.cc) ----------------------------
  // Each answers as History for a conversation the actor cannot see
  // (kNotFound, kForbidden for a non-member) and kForbidden for a member
  // who is neither its owner nor an admin.
  //
  // A webhook of `conv` posting to `url` (checked by Deps::check_webhook_url;
  // at most Options::max_webhooks_per_conversation, kBadRequest beyond), with
  // a new secret of 32 random bytes returned this once.
  Result<NewWebhook> CreateWebhook(UserId actor, ConversationId conv, std::string_view url);
  Result<std::vector<store::WebhookRecord>> Webhooks(UserId actor, ConversationId conv);
  // kNotFound when `conv` has no webhook `id`.
  Result<void> DeleteWebhook(UserId actor, ConversationId conv, std::string_view id);
  // --- notification levels and Web Push (PROTOCOL.md §8; blocking; push.cc) -------------
  // The actor's level in `conv`; kNotFound/kForbidden as CheckMember.
  Result<void> SetNotifyLevel(UserId actor, ConversationId conv, NotifyLevel level);
  // GET /v1/push/vapid: the public key, base64url. kUnavailable without one.
  Result<std::string> PushPublicKey() const;
  // Adds a subscription of `user`, or replaces the keys (and user) of the
  // one with this endpoint. kBadRequest, saying what is wrong, for an
  // endpoint that is not https (http only with push.allow_private_addresses),
  // names a private or loopback address (unless allowed), or keys that are
  // not a P-256 point and a 16-byte secret; and beyond
  // push.max_subscriptions_per_user.
  Result<void> AddPushSubscription(UserId user, std::string_view endpoint, std::string_view p256dh,
                                   std::string_view auth);
  // kNotFound when `user` has no subscription with that endpoint.
  Result<void> RemovePushSubscription(UserId user, std::string_view endpoint);

  // --- uploads (PROTOCOL.md §6; blocking; uploads.cc) -------------------------------
  // Starts receiving an upload of `uploader`: `name` as uploads::StoredName
  // takes it (kBadRequest otherwise), `content_type` the request's header.
  // kUnavailable when no blob store is configured.
  Result<std::unique_ptr<UploadSink>> BeginUpload(UserId uploader, std::string_view name,
                                                  std::string_view content_type);
  // The upload as `viewer` may read it: its uploader, or a member of a
  // conversation with a text entry, not deleted, that attaches it. kNotFound
  // for everyone else, whether or not it exists.
  Result<store::UploadRecord> UploadForUser(UserId viewer, UploadId id);
  // The upload as the holder of its signed url (`exp`, `sig`) may read it:
  // kForbidden for a tampered or expired url; kNotFound when it does not
  // exist, or when entries attached it and all of them are deleted.
  Result<store::UploadRecord> UploadForUrl(UploadId id, std::string_view exp, std::string_view sig);
  // Up to `max_bytes` of the upload's bytes from `offset` on.
  Result<std::string> ReadUpload(const store::UploadRecord& upload, int64_t offset, size_t max_bytes);
  // The upload's signed url, valid at least an hour (cheap: no store).
  std::string UploadUrl(UploadId id) const;
  // Puts the signed `url` on every attachment of `entries` (cheap): what
  // every answer and event that serves entries does last.
  void SignAttachments(std::vector<Message>& entries) const;
  void SignAttachments(Message& entry) const;
  // Collects uploads that no live entry attaches once they are
  // upload_collect_after_s old, and their blobs when no other upload names
  // them, and what writers abandoned; returns how many uploads went.
  Result<int64_t> CollectUploads();

  // --- server administration (PROTOCOL.md §7; blocking; admin.cc) ---------------
  // Each answers kForbidden unless `actor` is named in Options::admin_users,
  // and each change is logged with who made it to whom.
  //
  // Ok when `actor` is a server administrator, else kForbidden.
  Result<void> CheckServerAdmin(UserId actor);
  // Users that are not deleted, by id, from after `after`; `limit` 1..1000.
  Result<AdminUsersPage> AdminListUsers(UserId actor, UserId after, int limit);
  // Disables a user (no login, no refresh: kForbidden "account disabled";
  // every token revoked and every socket closed with 4003, on every node) or
  // enables one again (they log in anew). kNotFound for a missing user;
  // kBadRequest for disabling oneself.
  Result<void> AdminSetDisabled(UserId actor, std::string_view username, bool disabled);
  // Deletes the text entry (conv, seq) with a `delete` entry whose sender is
  // `actor` and whose client_msg_id is null, on the path of a member's
  // delete (log, sequencer, one commit, fan-out); the answer (`sent` or
  // `error`) reaches `origin` once the commit is decided. The actor needs no
  // membership.
  Result<void> AdminDeleteMessage(UserId actor, ConversationId conv, int64_t seq, const log::Origin& origin);
  Result<AdminTotals> AdminStats(UserId actor);

  // --- the hot path (cheap, io thread) ------------------------------------------
  // Checks the body and the sender's rate, then appends to the message log.
  // The `sent` answer (or an error) reaches `origin` through fan-out after
  // the sequencer commits.
  Result<void> Send(UserId sender, protocol::SendReq request, const log::Origin& origin);
  // The changes of PROTOCOL.md §5, on the same path as Send (one rate, one
  // log, one commit, `sent` after it is durable). Here only what needs no
  // store: an edit's body follows the rules of a send's body, an emoji is 1
  // to kMaxEmojiBytes bytes of UTF-8. Membership, the target, who may change
  // it and the emoji limit are decided in the commit transaction, so a
  // refused change uses no seq and reaches only `origin` (as an `error`).
  Result<void> Edit(UserId sender, protocol::EditReq request, const log::Origin& origin);
  Result<void> Delete(UserId sender, protocol::DeleteReq request, const log::Origin& origin);
  Result<void> React(UserId sender, protocol::ReactReq request, const log::Origin& origin);
  // Publishes a typing event to the other members, at most once per
  // typing_interval_ms per user and conversation. The caller has checked
  // membership (the connection's subscriptions).
  void Typing(UserId user, ConversationId conv);

  // --- connections (blocking) -----------------------------------------------------
  // What a connecting user's `welcome` and resume are made of.
  struct Connection {
    User user;
    std::vector<Conversation> conversations;
    std::vector<UserId> contacts;  // whose presence the user sees (Store::PresenceContacts)
  };
  // Registers a session; the user's contacts see them online if it is the
  // first (a session lingering after a cut still counts: Disconnect).
  Result<Connection> Connect(UserId user, presence::SessionKey session);
  // Removes a session; when it was the user's last, they go offline
  // (WentOffline). After a clean close that is at once. After an `abrupt`
  // one (the stream ended or was reset without a close frame: a killed
  // client, a proxy's reload, a switch of network) the session lingers,
  // still registered, for offline_grace_ms: a client back within it is not
  // the user's first session, so it costs the contacts no offline and no
  // online event and the store no last_seen write.
  void Disconnect(UserId user, presence::SessionKey session, bool abrupt = false);
  // Removes the lingering sessions whose grace is over (every one with
  // `all`, at shutdown); a user left with none goes offline with last_seen
  // at the moment that connection ended. Blocking; the server calls it a
  // few times a second.
  void FlushLingering(bool all = false);
  // Users the presence registry found offline on its own (their node died),
  // and the last session of a user that closed: records last_seen and tells
  // their contacts. Blocking. Calls that come while another thread is
  // writing leave their users to it: it writes whatever has gathered in one
  // transaction (19,000 connections closing at once cost a few commits, not
  // 19,000) and says each user is offline once their last_seen is stored.
  void WentOffline(const std::vector<UserId>& users);
  void WentOffline(std::vector<store::Store::LastSeen> users);
  // Called after the connection subscribed to its conversations (so nothing
  // committed in between is missed): what it missed, and who of `contacts`
  // (Connection::contacts) is online. Reads the conversations' newest seqs
  // again only when the hello names some or says "all".
  Result<ResumePlan> Resume(UserId user, const protocol::HelloReq& hello, std::span<const UserId> contacts);
  // The same, reading the contacts (a catch-up after lost fan-out).
  Result<ResumePlan> Resume(UserId user, const protocol::HelloReq& hello);
  // One page of a resume: the entries of `conv` with after < seq <= upto,
  // ascending, at most `limit` (capped at protocol::kMaxHistoryLimit), text
  // entries folded for `viewer`. Membership was checked by Resume. Blocking.
  Result<std::vector<Message>> ResumePage(UserId viewer, ConversationId conv, int64_t after, int64_t upto,
                                          int limit);
  // Reads the plan's first pages, at most `limit` entries in all, into each
  // Conv's `page`, in the same blocking job as the plan: a hello whose
  // resume fits then costs one worker round trip less. A read that fails
  // leaves its page unread (the resume reads it again and reports what
  // fails then). Blocking.
  void ReadAhead(UserId viewer, ResumePlan& plan, int limit);

  const Options& options() const { return options_; }

 private:
  Result<AuthSession> IssueSession(User user, const std::string& family, int64_t epoch);
  // A page of entries (after, upto] of `conv`, at most `limit`, from the
  // newest-entries window when it reaches `last_seq` (the store's, as the
  // caller read it), else from `read_store`; counted by its source.
  Result<std::vector<Message>> Page(bool resume, ConversationId conv, int64_t after, int64_t upto,
                                    int64_t last_seq, int limit, UserId viewer,
                                    const std::function<Result<std::vector<Message>>()>& read_store);
  // A send's or an edit's body: 1..max_body_bytes of UTF-8.
  Result<void> CheckBody(std::string_view body) const;
  // The sender's rate, then the message log: every entry a user makes.
  Result<void> Append(log::SendRequest request);
  // The sender's rate in a cluster (send_limits.cc): tokens taken from the
  // shared bucket a few at a time (a lease, so a fast sender costs one
  // round trip per several entries); nullopt on one node (no shared
  // bucket) or when it did not answer: the node's own bucket decides then.
  std::optional<Result<void>> TakeSharedToken(UserId sender);
  // The node's own bucket: the rate on one node, the fallback in a cluster.
  Result<void> TakeLocalToken(UserId sender);
  // Signature, claims and expiry, without the revocation check; nullopt for
  // an outside user not yet provisioned here.
  std::optional<Result<auth::Claims>> VerifyToken(std::string_view access_token);
  // Revocation: the cached verdict on `claims` (nullopt when not cached or
  // stale), and the blocking one (asks the store when needed).
  std::optional<Result<void>> CachedVerdict(const auth::Claims& claims);
  Result<void> CheckNotRevoked(const auth::Claims& claims);
  Result<store::AuthState> AuthStateOf(UserId user);  // cached, else the store (blocking)
  void NoteAuthState(UserId user, store::AuthState state);
  // After the store revoked `user`'s tokens below `state.token_epoch`: the
  // cache here, and a revocation event to every node's open connections.
  void RevokeOpenConnections(UserId user, store::AuthState state);
  // kUnauthorized when `user` is deleted (blocking: may ask the store).
  Result<void> RequireActive(UserId user);
  bool KnownDeleted(UserId user);  // cache only, for the io thread
  // Password check of an account operation, throttled like a login.
  Result<store::UserRecord> CheckOwnPassword(UserId user, std::string_view password,
                                             std::string_view client_address);
  Result<User> FindByUsername(std::string_view username);
  Result<Conversation> RequireMember(UserId actor, ConversationId conv);
  // webhooks.cc: ok when `actor` is the owner or an admin of `conv`.
  Result<void> RequireWebhookManager(UserId actor, ConversationId conv);
  // §7 (groups.cc): the actor's role in a group they are a member of
  // (kBadRequest for a DM), and the events of a membership change.
  Result<Role> RequireGroupRole(UserId actor, ConversationId conv);
  // When `old_owner` just left `conv` and the store passed ownership on,
  // tells the members who owns it now.
  void PublishNewOwner(ConversationId conv, UserId old_owner);
  // The members hear of `user` (`action`), and `user`'s connections stop
  // following `conv`.
  void PublishGone(ConversationId conv, UserId user, std::string_view action);
  // The members hear that `user` joined, and `user`'s connections follow
  // `conv` and get it as `user` sees it.
  void PublishJoined(ConversationId conv, UserId user);
  // kForbidden, saying nothing of a block, when any of `users` blocks `actor`.
  Result<void> CheckNotBlockedBy(UserId actor, std::span<const UserId> users);
  void PublishPresence(UserId user, bool online, std::optional<TimeMs> last_seen);
  void PublishPresence(UserId user, const std::string& username, std::vector<UserId> contacts, bool online,
                       std::optional<TimeMs> last_seen);
  User WithPresence(User user);
  // For each of `users`, whether `viewer` may see their online state and
  // last_seen: themselves and those they share a conversation with.
  Result<std::vector<bool>> PresenceShownTo(UserId viewer, std::span<const UserId> users);
  Result<UserId> ProvisionExternal(const auth::ExternalClaims& claims);
  // An API key's claims (bots.cc): from the cache (nullopt when not there),
  // or from the store (blocking). Revocation is checked after, as for any
  // token, by the bot's token epoch and deleted state.
  std::optional<Result<auth::Claims>> CachedApiKey(std::string_view key);
  Result<auth::Claims> LoadApiKey(std::string_view key);
  // Deletes an account or a bot (store::Store::DeleteUser), closes its
  // connections on every node, and makes it leave every group it was in
  // (the members see "left"; ownership passes on) while its connections
  // stop following every conversation.
  Result<void> Tombstone(UserId user);
  // admin.cc: the actor's account when they are a server administrator,
  // else kForbidden.
  Result<User> RequireServerAdmin(UserId actor);

  struct Bucket {
    double tokens = 0;
    TimeMs updated = 0;
  };
  // Tokens taken from the shared bucket and not yet spent: `want` grows
  // while the user keeps spending whole leases, and falls back to 1 when a
  // lease expires unspent (what is left of it is never used: the shared
  // bucket errs on the strict side).
  struct Lease {
    int64_t tokens = 0;
    TimeMs expires = 0;
    int64_t want = 1;
  };
  struct RateStripe {
    std::mutex mu;
    std::unordered_map<UserId, Bucket> buckets;
    std::unordered_map<UserId, Lease> leases;
    std::unordered_map<UserId, std::unordered_map<ConversationId, TimeMs>> typing;
  };
  RateStripe& RateStripeOf(UserId u) { return rate_stripes_[static_cast<uint64_t>(u.value) % kStripes]; }
  static constexpr size_t kStripes = 64;

  struct AuthStateEntry {
    store::AuthState state;
    TimeMs loaded = 0;
  };
  struct AuthStripe {
    std::mutex mu;
    std::unordered_map<UserId, AuthStateEntry> users;
  };
  AuthStripe& AuthStripeOf(UserId u) { return auth_stripes_[static_cast<uint64_t>(u.value) % kStripes]; }
  static constexpr size_t kAuthStripeCap = 4096;  // users cached per stripe

  Deps d_;
  Options options_;
  std::unique_ptr<RateStripe[]> rate_stripes_;
  std::unique_ptr<AuthStripe[]> auth_stripes_;
  auth::LoginThrottle throttle_;
  std::string dummy_hash_;  // verified against for unknown users, so timing does not tell
  std::once_flag dummy_once_;
  std::mutex external_mu_;
  std::unordered_map<std::string, UserId> external_users_;  // marker -> id, once provisioned
  ExportSlots export_slots_;                                // one running export per user
  std::mutex api_keys_mu_;
  std::unordered_map<std::string, auth::Claims> api_keys_;  // key hash -> claims, once loaded
  static constexpr size_t kApiKeyCacheCap = 10000;
  // Until when the shared bucket is not asked (it failed): the node's own
  // bucket decides meanwhile, so a Redis outage costs one timeout a second,
  // not one per send.
  std::atomic<TimeMs> shared_down_until_{0};
  // WentOffline's users not yet written, and whether a thread is writing.
  std::mutex offline_mu_;
  std::vector<store::Store::LastSeen> offline_pending_;
  bool offline_writing_ = false;
  // Sessions that ended abruptly, oldest first (Disconnect).
  struct Lingering {
    UserId user;
    presence::SessionKey session;
    TimeMs ended = 0;
  };
  std::mutex lingering_mu_;
  std::deque<Lingering> lingering_;
};

}  // namespace parley::chat
