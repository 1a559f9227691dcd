#include "chat/service.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_set>

#include "common/logging.h"

namespace parley::chat {

using fanout::Event;
using protocol::Frame;
using protocol::MakeFrame;

namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("chat");
  return log;
}

Error NotMember() { return MakeError(Errc::kForbidden, "you are not a member of this conversation"); }
Error Unauthorized() { return MakeError(Errc::kUnauthorized, "wrong username or password"); }
Error Revoked() { return MakeError(Errc::kUnauthorized, "token revoked"); }
Error Deleted() { return MakeError(Errc::kUnauthorized, "account deleted"); }
Error Disabled() { return MakeError(Errc::kForbidden, "account disabled"); }
Error TooManyFailures(int64_t retry_after_ms) {
  Error e = MakeError(Errc::kRateLimited, "too many failed logins; try again later");
  e.retry_after_ms = retry_after_ms;
  return e;
}

bool CanManage(Role r) { return r == Role::kOwner || r == Role::kAdmin; }

}  // namespace

Result<void> CheckOptionalDisplayName(std::string_view display_name) {
  if (display_name.size() > kMaxDisplayNameBytes || !protocol::IsValidUtf8(display_name)) {
    return MakeError(Errc::kBadRequest, "display_name must be at most " +
                                            std::to_string(kMaxDisplayNameBytes) + " bytes of UTF-8");
  }
  return Ok();
}

Service::Service(Deps deps, Options options)
    : d_(deps),
      options_(options),
      rate_stripes_(new RateStripe[kStripes]),
      auth_stripes_(new AuthStripe[kStripes]),
      throttle_(options_.login_throttle, deps.clock, deps.limits) {}

Service::~Service() = default;

// ---- accounts -----------------------------------------------------------------

Result<AuthSession> Service::IssueSession(User user, const std::string& family, int64_t epoch) {
  AuthSession s;
  s.access_token = d_.tokens.Issue(user.id, user.username, epoch);
  s.refresh_token = auth::NewRefreshToken();
  s.expires_in = d_.tokens.access_ttl_s();
  const std::string hash = auth::HashToken(s.refresh_token);
  // A new login starts a family named after its first token.
  auto put =
      d_.store.PutRefreshToken(hash, user.id, d_.clock.NowMs() + int64_t{options_.refresh_ttl_s} * 1000,
                               family.empty() ? hash : family);
  if (!put) return put.error();
  s.user = WithPresence(std::move(user));
  return s;
}

Result<AuthSession> Service::Register(std::string_view username, std::string_view password,
                                      std::string_view display_name) {
  auto name = auth::FoldUsername(username);
  if (!name) return std::move(name).error();
  if (auto ok = auth::CheckPassword(password); !ok) return ok.error();
  if (auto ok = CheckOptionalDisplayName(display_name); !ok) return ok.error();
  auto hash = d_.hasher.Hash(password);
  if (!hash) return std::move(hash).error();
  auto user = d_.store.CreateUser(*name, std::string(display_name), *hash, d_.clock.NowMs());
  if (!user) return std::move(user).error();
  return IssueSession(std::move(user).value(), "", 0);
}

Result<AuthSession> Service::Login(std::string_view username, std::string_view password,
                                   std::string_view client_address) {
  std::call_once(dummy_once_, [&] {
    auto h = d_.hasher.Hash("parley-timing-equaliser");
    if (h) dummy_hash_ = *h;
  });
  auto name = auth::FoldUsername(username);
  const std::string account = name ? *name : std::string();
  // Refused before any hashing: a throttled guesser costs no CPU.
  if (int64_t wait = throttle_.RetryAfterMs(account, client_address); wait > 0) return TooManyFailures(wait);
  if (!name) {
    throttle_.Failed("", client_address);
    return Unauthorized();
  }
  auto rec = d_.store.FindUserByName(*name);
  if (!rec) {
    if (rec.error().code != Errc::kNotFound) return std::move(rec).error();
    d_.hasher.Verify(dummy_hash_, password);  // same cost as a real check
    throttle_.Failed(*name, client_address);
    return Unauthorized();
  }
  // A bot has no password (§8): its login fails as a wrong password does.
  if (rec->deleted || rec->user.bot || !d_.hasher.Verify(rec->password_hash, password)) {
    if (rec->deleted || rec->user.bot) d_.hasher.Verify(dummy_hash_, password);
    throttle_.Failed(*name, client_address);
    return Unauthorized();
  }
  throttle_.Succeeded(*name);
  // Told only to whoever knows the password: nobody learns of a disable
  // (or that the account exists) by guessing.
  auto state = d_.store.GetAuthState(rec->user.id);
  if (!state) return std::move(state).error();
  if (state->disabled) return Disabled();
  NoteAuthState(rec->user.id, {state->token_epoch, false});
  return IssueSession(std::move(rec->user), "", state->token_epoch);
}

Result<AuthSession> Service::Refresh(std::string_view refresh_token) {
  if (refresh_token.empty() || refresh_token.size() > 256) {
    return MakeError(Errc::kUnauthorized, "unknown or used refresh token");
  }
  auto grant = d_.store.TakeRefreshToken(auth::HashToken(refresh_token), d_.clock.NowMs());
  if (!grant) return std::move(grant).error();
  auto state = d_.store.GetAuthState(grant->user);
  if (!state || state->deleted) return MakeError(Errc::kUnauthorized, "unknown or used refresh token");
  if (state->disabled) return Disabled();
  NoteAuthState(grant->user, *state);
  auto user = d_.store.FindUserById(grant->user);
  if (!user) return MakeError(Errc::kUnauthorized, "unknown or used refresh token");
  return IssueSession(std::move(user).value(), grant->family, state->token_epoch);
}

Result<void> Service::Logout(std::string_view refresh_token) {
  // As RFC 7009: an unknown token is not an error (it cannot be used anyway).
  if (refresh_token.empty() || refresh_token.size() > 256) return Ok();
  auto revoked = d_.store.RevokeRefreshFamily(auth::HashToken(refresh_token));
  if (!revoked) return revoked.error();
  return Ok();
}

Result<store::UserRecord> Service::CheckOwnPassword(UserId user, std::string_view password,
                                                    std::string_view client_address) {
  auto u = d_.store.FindUserById(user);
  if (!u) {
    if (u.error().code == Errc::kNotFound) return Deleted();
    return std::move(u).error();
  }
  if (int64_t wait = throttle_.RetryAfterMs(u->username, client_address); wait > 0)
    return TooManyFailures(wait);
  auto rec = d_.store.FindUserByName(u->username);
  if (!rec) return std::move(rec).error();
  if (rec->deleted) return Deleted();
  if (!d_.hasher.Verify(rec->password_hash, password)) {
    throttle_.Failed(u->username, client_address);
    // 403, not 401: the caller's token is good, only the password is not.
    return MakeError(Errc::kForbidden, "wrong password");
  }
  return rec;
}

Result<AuthSession> Service::ChangePassword(UserId user, std::string_view old_password,
                                            std::string_view new_password, std::string_view client_address) {
  if (auto ok = auth::CheckPassword(new_password); !ok) return ok.error();
  auto rec = CheckOwnPassword(user, old_password, client_address);
  if (!rec) return std::move(rec).error();
  auto hash = d_.hasher.Hash(new_password);
  if (!hash) return std::move(hash).error();
  auto epoch = d_.store.SetPassword(user, *hash);
  if (!epoch) return epoch.error().code == Errc::kNotFound ? Deleted() : std::move(epoch).error();
  RevokeOpenConnections(user, {*epoch, false});
  throttle_.Succeeded(rec->user.username);
  return IssueSession(std::move(rec->user), "", *epoch);
}

Result<void> Service::LogoutAll(UserId user) {
  auto epoch = d_.store.RevokeAllTokens(user);
  if (!epoch) return epoch.error().code == Errc::kNotFound ? Deleted() : epoch.error();
  RevokeOpenConnections(user, {*epoch, false});
  return Ok();
}

void Service::RevokeOpenConnections(UserId user, store::AuthState state) {
  // This node refuses the old tokens at once; the event closes the sockets
  // opened with one here and, through the cluster's fan-out, on every node
  // that holds one (and tells those nodes' caches).
  NoteAuthState(user, state);
  fanout::EventBatch events;
  events.push_back(Event::Revoke(user, state.token_epoch));
  d_.fanout.Publish(std::move(events));
}

Result<void> Service::DeleteAccount(UserId user, std::string_view password, std::string_view client_address) {
  auto rec = CheckOwnPassword(user, password, client_address);
  if (!rec) return rec.error();
  return Tombstone(user);
}

Result<void> Service::Tombstone(UserId user) {
  auto convs = d_.store.ListConversationHeads(user);
  if (!convs) return convs.error();
  auto epoch = d_.store.DeleteUser(user, d_.clock.NowMs());
  if (!epoch) return epoch.error().code == Errc::kNotFound ? Deleted() : epoch.error();
  RevokeOpenConnections(user, {*epoch, true});
  // The user leaves their groups (the others see "left"); a DM keeps its
  // two members. Either way the user's connections stop following.
  fanout::EventBatch events;
  std::vector<ConversationId> owned;  // groups whose ownership passed on
  for (const Conversation& c : *convs) {
    if (c.kind == ConversationKind::kGroup) {
      auto role = d_.store.GetRole(c.id, user);
      auto removed = d_.store.RemoveMember(c.id, user);
      if (removed && *removed) {
        events.push_back(
            Event::ToConversation(c.id, MakeFrame(protocol::MemberEvent(c.id, user, "left", nullptr))));
        if (role && *role == Role::kOwner) owned.push_back(c.id);
      }
    }
    Event unsub = Event::ToUsers({user}, nullptr);
    unsub.subscription = Event::Subscription::kUnsubscribe;
    unsub.conv = c.id;
    events.push_back(std::move(unsub));
  }
  if (!events.empty()) d_.fanout.Publish(std::move(events));
  for (ConversationId c : owned) PublishNewOwner(c, user);
  return Ok();
}

// ---- revocation ---------------------------------------------------------------------

void Service::NoteAuthState(UserId user, store::AuthState state) {
  AuthStripe& stripe = AuthStripeOf(user);
  std::lock_guard lock(stripe.mu);
  const TimeMs now = d_.clock.NowMs();
  if (stripe.users.size() >= kAuthStripeCap && !stripe.users.contains(user)) {
    std::erase_if(stripe.users,
                  [&](const auto& kv) { return now - kv.second.loaded >= options_.revocation_cache_ms; });
    if (stripe.users.size() >= kAuthStripeCap) stripe.users.clear();  // only a cache: reloaded on demand
  }
  AuthStateEntry& e = stripe.users[user];
  // A deletion is final, and epochs only grow: an older read never undoes them.
  e.state.deleted = e.state.deleted || state.deleted;
  e.state.token_epoch = std::max(e.state.token_epoch, state.token_epoch);
  e.loaded = now;
}

std::optional<Result<void>> Service::CachedVerdict(const auth::Claims& claims) {
  AuthStripe& stripe = AuthStripeOf(claims.user);
  std::lock_guard lock(stripe.mu);
  auto it = stripe.users.find(claims.user);
  if (it == stripe.users.end()) return std::nullopt;
  const AuthStateEntry& e = it->second;
  // A deletion is final: no need to ask again however old the entry.
  if (e.state.deleted) return Result<void>(Deleted());
  if (d_.clock.NowMs() - e.loaded >= options_.revocation_cache_ms) return std::nullopt;
  if (claims.epoch < e.state.token_epoch) return Result<void>(Revoked());
  return Result<void>(Ok());
}

Result<store::AuthState> Service::AuthStateOf(UserId user) {
  {
    AuthStripe& stripe = AuthStripeOf(user);
    std::lock_guard lock(stripe.mu);
    auto it = stripe.users.find(user);
    if (it != stripe.users.end() &&
        (it->second.state.deleted || d_.clock.NowMs() - it->second.loaded < options_.revocation_cache_ms)) {
      return it->second.state;
    }
  }
  auto state = d_.store.GetAuthState(user);
  if (!state) {
    // A token naming a user the store does not know (a wiped database).
    if (state.error().code == Errc::kNotFound) return store::AuthState{0, true};
    return std::move(state).error();
  }
  NoteAuthState(user, *state);
  return state;
}

Result<void> Service::CheckNotRevoked(const auth::Claims& claims) {
  if (auto cached = CachedVerdict(claims)) return std::move(*cached);
  auto state = AuthStateOf(claims.user);
  if (!state) return state.error();
  if (state->deleted) return Deleted();
  if (claims.epoch < state->token_epoch) return Revoked();
  return Ok();
}

Result<void> Service::RecheckRevocation(UserId user, int64_t token_epoch) {
  auto state = d_.store.GetAuthState(user);
  if (!state) return state.error().code == Errc::kNotFound ? Deleted() : state.error();
  NoteAuthState(user, *state);
  if (state->deleted) return Deleted();
  if (token_epoch < state->token_epoch) return Revoked();
  return Ok();
}

Result<void> Service::RequireActive(UserId user) {
  auto state = AuthStateOf(user);
  if (!state) return state.error();
  if (state->deleted) return Deleted();
  return Ok();
}

bool Service::KnownDeleted(UserId user) {
  AuthStripe& stripe = AuthStripeOf(user);
  std::lock_guard lock(stripe.mu);
  auto it = stripe.users.find(user);
  return it != stripe.users.end() && it->second.state.deleted;
}

namespace {

// What an outside user's password hash holds instead: no password verifies
// against it, and it names who the account belongs to.
std::string ExternalMarker(const auth::ExternalClaims& c) {
  return "!external:" + c.issuer + ":" + c.subject;
}

}  // namespace

std::optional<Result<auth::Claims>> Service::VerifyToken(std::string_view access_token) {
  if (auth::LooksLikeApiKey(access_token)) return CachedApiKey(access_token);
  if (!d_.external || !d_.external->Claims(access_token))
    return Result<auth::Claims>(d_.tokens.Verify(access_token));
  auto ext = d_.external->Verify(access_token);
  if (!ext) return Result<auth::Claims>(std::move(ext).error());
  std::lock_guard lock(external_mu_);
  auto it = external_users_.find(ExternalMarker(*ext));
  if (it == external_users_.end()) return std::nullopt;
  return Result<auth::Claims>(auth::Claims{it->second, ext->username, 0, ext->expires_at});
}

std::optional<Result<auth::Claims>> Service::TryAuthenticate(std::string_view access_token) {
  auto verified = VerifyToken(access_token);
  if (!verified || !*verified) return verified;
  auto verdict = CachedVerdict(**verified);
  if (!verdict) return std::nullopt;
  // A refused API key may only be cached under an older epoch: Authenticate
  // reloads it.
  if (!*verdict && auth::LooksLikeApiKey(access_token)) return std::nullopt;
  if (!*verdict) return Result<auth::Claims>(verdict->error());
  return verified;
}

Result<auth::Claims> Service::Authenticate(std::string_view access_token) {
  auto verified = VerifyToken(access_token);
  Result<auth::Claims> claims = MakeError(Errc::kInternal, "unreachable");
  if (verified) {
    claims = std::move(*verified);
  } else if (auth::LooksLikeApiKey(access_token)) {
    claims = LoadApiKey(access_token);
  } else {
    auto ext = d_.external->Verify(access_token);
    if (!ext) return std::move(ext).error();
    auto id = ProvisionExternal(*ext);
    if (!id) return std::move(id).error();
    claims = auth::Claims{*id, ext->username, 0, ext->expires_at};
  }
  if (!claims) return claims;
  auto ok = CheckNotRevoked(*claims);
  if (!ok && verified && auth::LooksLikeApiKey(access_token)) {
    // An API key outlives a logout everywhere (only deleting the bot ends
    // it), so a key cached under an older epoch is read again.
    claims = LoadApiKey(access_token);
    if (!claims) return claims;
    ok = CheckNotRevoked(*claims);
  }
  if (!ok) return ok.error();
  return claims;
}

Result<UserId> Service::ProvisionExternal(const auth::ExternalClaims& claims) {
  std::string marker = ExternalMarker(claims);
  auto rec = d_.store.FindUserByName(claims.username);
  if (!rec && rec.error().code == Errc::kNotFound) {
    auto created = d_.store.CreateUser(claims.username, claims.display_name, marker, d_.clock.NowMs());
    if (created) {
      std::lock_guard lock(external_mu_);
      external_users_[marker] = created->id;
      return created->id;
    }
    if (created.error().code != Errc::kConflict) return std::move(created).error();
    rec = d_.store.FindUserByName(claims.username);  // provisioned meanwhile by another connection
  }
  if (!rec) return std::move(rec).error();
  if (rec->password_hash != marker) {
    return MakeError(Errc::kUnauthorized, "username '" + claims.username + "' belongs to another account");
  }
  std::lock_guard lock(external_mu_);
  external_users_[marker] = rec->user.id;
  return rec->user.id;
}

User Service::WithPresence(User user) {
  UserId id = user.id;
  user.online = d_.presence.Online(std::span<const UserId>(&id, 1))[0];
  return user;
}

Result<User> Service::Me(UserId user) {
  auto u = d_.store.FindUserById(user);
  if (!u) return std::move(u).error();
  return WithPresence(std::move(u).value());
}

Result<User> Service::UpdateMe(UserId user, std::string_view display_name) {
  if (display_name.empty() || display_name.size() > kMaxDisplayNameBytes ||
      !protocol::IsValidUtf8(display_name)) {
    return MakeError(Errc::kBadRequest,
                     "display_name must be 1 to " + std::to_string(kMaxDisplayNameBytes) + " bytes of UTF-8");
  }
  if (auto ok = RequireActive(user); !ok) return ok.error();
  auto updated = d_.store.SetDisplayName(user, std::string(display_name));
  if (!updated) return updated.error().code == Errc::kNotFound ? Deleted() : std::move(updated).error();
  auto convs = d_.store.ListConversationHeads(user);
  if (!convs) return std::move(convs).error();
  // One publish per conversation, as for messages: its channel reaches the
  // DM peers and group members (presence contacts among them) and the
  // user's own other connections, whatever the group's size.
  Frame frame = MakeFrame(protocol::UserUpdatedEvent(*updated));
  fanout::EventBatch events;
  for (const Conversation& c : *convs) events.push_back(Event::ToConversation(c.id, frame));
  if (!events.empty()) d_.fanout.Publish(std::move(events));
  return WithPresence(std::move(updated).value());
}

Result<std::unique_ptr<AccountExport>> Service::Export(UserId user) {
  if (auto ok = RequireActive(user); !ok) return ok.error();
  auto me = d_.store.FindUserById(user);
  if (!me) return me.error().code == Errc::kNotFound ? Deleted() : std::move(me).error();
  auto slot = export_slots_.Take(user);
  if (!slot) {
    Error e = MakeError(Errc::kRateLimited, "an export of this account is already running");
    e.retry_after_ms = 1000;
    return e;
  }
  return std::make_unique<AccountExport>(d_.store, std::move(me).value(), std::move(slot), d_.clock.NowMs(),
                                         500, 64 * 1024,
                                         [this](std::vector<Message>& page) { SignAttachments(page); });
}

Result<User> Service::FindByUsername(std::string_view username) {
  auto name = auth::FoldUsername(username);
  if (!name) return MakeError(Errc::kNotFound, "no such user");
  auto rec = d_.store.FindUserByName(*name);
  if (!rec || rec->deleted) {
    if (!rec && rec.error().code != Errc::kNotFound) return std::move(rec).error();
    return MakeError(Errc::kNotFound, "no such user '" + *name + "'");
  }
  return std::move(rec->user);
}

Result<User> Service::GetUser(UserId viewer, std::string_view username) {
  auto u = FindByUsername(username);
  if (!u) return u;
  auto shown = PresenceShownTo(viewer, std::span<const UserId>(&u->id, 1));
  if (!shown) return std::move(shown).error();
  if (!(*shown)[0]) {
    u->last_seen.reset();
    return u;  // online stays false
  }
  return WithPresence(std::move(u).value());
}

Result<std::vector<bool>> Service::PresenceShownTo(UserId viewer, std::span<const UserId> users) {
  // Everyone who shares a conversation with the viewer: a DM or a group of
  // any size (a presence contact, or a member of a shared group). Asked per
  // user, so a viewer in a large group never reads all its members.
  auto peers = d_.store.SharingAConversation(viewer, users);
  if (!peers) return std::move(peers).error();
  std::unordered_set<UserId> known(peers->begin(), peers->end());
  std::vector<bool> shown;
  shown.reserve(users.size());
  for (UserId u : users) shown.push_back(u == viewer || known.contains(u));
  return shown;
}

// ---- conversations ----------------------------------------------------------------

Result<std::vector<Conversation>> Service::Conversations(UserId user) {
  if (auto ok = RequireActive(user); !ok) return ok.error();
  return d_.store.ListConversations(user);
}

Result<Conversation> Service::RequireMember(UserId actor, ConversationId conv) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  auto c = d_.store.GetConversation(conv, actor);
  if (!c) return c;
  auto role = d_.store.GetRole(conv, actor);
  if (!role) return std::move(role).error();
  if (!*role) return NotMember();
  return c;
}

Result<Conversation> Service::CreateGroup(UserId actor, std::string_view title,
                                          const std::vector<std::string>& usernames) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  if (title.empty() || title.size() > 200 || !protocol::IsValidUtf8(title)) {
    return MakeError(Errc::kBadRequest, "title must be 1 to 200 bytes of UTF-8");
  }
  if (usernames.size() + 1 > static_cast<size_t>(options_.max_group_members)) {
    return MakeError(Errc::kBadRequest, "too many members");
  }
  std::vector<UserId> members;
  members.reserve(usernames.size());
  for (const auto& name : usernames) {
    auto u = FindByUsername(name);
    if (!u) return std::move(u).error();
    if (u->id != actor) members.push_back(u->id);
  }
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (auto ok = CheckNotBlockedBy(actor, members); !ok) return ok.error();
  auto id = d_.store.CreateGroup(std::string(title), actor, members, d_.clock.NowMs());
  if (!id) return std::move(id).error();
  auto conv = d_.store.GetConversation(*id, actor);
  if (!conv) return conv;

  // Every member's connections (the creator's other devices too) subscribe,
  // and each member hears that they were added, with the conversation. In a
  // group small enough to list its members inline, every member also hears
  // of every other one; larger groups page through the members call.
  fanout::EventBatch events;
  members.push_back(actor);
  Conversation shown = *conv;
  shown.read_seq = 0;
  for (UserId m : members) {
    Event e = Event::ToUsers({m}, MakeFrame(protocol::MemberEvent(*id, m, "added", &shown)));
    e.subscription = Event::Subscription::kSubscribe;
    e.conv = *id;
    events.push_back(std::move(e));
  }
  if (conv->member_count <= kInlineMembers) {
    for (UserId m : members) {
      if (m == actor) continue;
      events.push_back(
          Event::ToConversation(*id, MakeFrame(protocol::MemberEvent(*id, m, "added", nullptr)), 0, m));
    }
  }
  d_.fanout.Publish(std::move(events));
  return conv;
}

Result<Conversation> Service::OpenDm(UserId actor, std::string_view username) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  auto peer = FindByUsername(username);
  if (!peer) return std::move(peer).error();
  if (peer->id == actor) return MakeError(Errc::kBadRequest, "a DM needs another user");
  if (auto ok = CheckNotBlockedBy(actor, std::span<const UserId>(&peer->id, 1)); !ok) {
    // Blocked: no new DM; one that exists already is still theirs to open.
    auto convs = d_.store.ListConversations(actor);
    if (!convs) return std::move(convs).error();
    auto it = std::find_if(convs->begin(), convs->end(), [&](const Conversation& c) {
      return c.kind == ConversationKind::kDm &&
             std::any_of(c.members.begin(), c.members.end(),
                         [&](const Member& m) { return m.id == peer->id; });
    });
    if (it == convs->end()) return ok.error();
  }
  auto id = d_.store.GetOrCreateDm(actor, peer->id, d_.clock.NowMs());
  if (!id) return std::move(id).error();
  auto conv = d_.store.GetConversation(*id, actor);
  if (!conv) return conv;
  // Both users' connections follow the DM from now on (idempotent).
  Event e = Event::ToUsers({actor, peer->id}, nullptr);
  e.subscription = Event::Subscription::kSubscribe;
  e.conv = *id;
  fanout::EventBatch events;
  events.push_back(std::move(e));
  d_.fanout.Publish(std::move(events));
  return conv;
}

Result<Conversation> Service::AddMember(UserId actor, ConversationId conv_id, std::string_view username) {
  auto conv = RequireMember(actor, conv_id);
  if (!conv) return conv;
  if (conv->kind == ConversationKind::kDm)
    return MakeError(Errc::kBadRequest, "the members of a DM never change");
  auto role = d_.store.GetRole(conv_id, actor);
  if (!role) return std::move(role).error();
  if (!*role || !CanManage(**role))
    return MakeError(Errc::kForbidden, "only the owner and admins add members");
  auto user = FindByUsername(username);
  if (!user) return std::move(user).error();
  auto existing = d_.store.GetRole(conv_id, user->id);
  if (!existing) return std::move(existing).error();
  if (*existing) return d_.store.GetConversation(conv_id, actor);  // already a member: nothing changes
  if (auto ok = CheckNotBlockedBy(actor, std::span<const UserId>(&user->id, 1)); !ok) return ok.error();
  if (conv->member_count + 1 > options_.max_group_members)
    return MakeError(Errc::kBadRequest, "group is full");
  // Refused by the store (403) when the user is banned from the group.
  if (auto ok = d_.store.AddMember(conv_id, user->id, Role::kMember); !ok) return ok.error();
  auto updated = d_.store.GetConversation(conv_id, actor);
  if (!updated) return updated;
  PublishJoined(conv_id, user->id);
  return updated;
}

Result<void> Service::RemoveMember(UserId actor, ConversationId conv_id, std::string_view username) {
  auto conv = RequireMember(actor, conv_id);
  if (!conv) return conv.error();
  if (conv->kind == ConversationKind::kDm)
    return MakeError(Errc::kBadRequest, "the members of a DM never change");
  auto user = FindByUsername(username);
  if (!user) return user.error();
  if (user->id == actor) return Leave(actor, conv_id);
  auto actor_role = d_.store.GetRole(conv_id, actor);
  if (!actor_role) return actor_role.error();
  if (!*actor_role || !CanManage(**actor_role)) {
    return MakeError(Errc::kForbidden, "only the owner and admins remove members");
  }
  auto target_role = d_.store.GetRole(conv_id, user->id);
  if (!target_role) return target_role.error();
  if (!*target_role) return MakeError(Errc::kNotFound, "'" + user->username + "' is not a member");
  if (**target_role == Role::kOwner || (**target_role == Role::kAdmin && **actor_role != Role::kOwner)) {
    return MakeError(Errc::kForbidden, "you cannot remove a member of equal or higher role");
  }
  auto removed = d_.store.RemoveMember(conv_id, user->id);
  if (!removed) return removed.error();
  PublishGone(conv_id, user->id, "removed");
  return Ok();
}

Result<void> Service::Leave(UserId actor, ConversationId conv_id) {
  auto conv = RequireMember(actor, conv_id);
  if (!conv) return conv.error();
  if (conv->kind == ConversationKind::kDm)
    return MakeError(Errc::kBadRequest, "the members of a DM never change");
  auto role = d_.store.GetRole(conv_id, actor);
  if (!role) return role.error();
  // The store passes ownership on in the same transaction (PROTOCOL.md §7).
  auto removed = d_.store.RemoveMember(conv_id, actor);
  if (!removed) return removed.error();
  PublishGone(conv_id, actor, "left");
  if (*removed && *role == Role::kOwner) PublishNewOwner(conv_id, actor);
  return Ok();
}

Result<MembersPage> Service::Members(UserId actor, ConversationId conv, UserId after, int limit) {
  if (auto c = RequireMember(actor, conv); !c) return c.error();
  limit = std::clamp(limit, 1, 1000);
  auto members = d_.store.ListMembers(conv, after, limit + 1);
  if (!members) return std::move(members).error();
  MembersPage page;
  page.members = std::move(members).value();
  if (page.members.size() > static_cast<size_t>(limit)) {
    page.members.resize(limit);
    page.next = page.members.back().id;
  }
  return page;
}

Result<void> Service::CheckMember(UserId actor, ConversationId conv) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  auto role = d_.store.GetRole(conv, actor);
  if (!role) return role.error();
  if (!*role) return NotMember();
  return Ok();
}

Result<std::vector<Message>> Service::History(UserId actor, ConversationId conv,
                                              std::optional<int64_t> before, std::optional<int64_t> after,
                                              int limit) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  limit = std::clamp(limit, 1, protocol::kMaxHistoryLimit);
  auto member = d_.store.GetMembership(conv, actor);
  if (!member) return std::move(member).error();
  if (!member->role) return NotMember();
  // The range of Store::History as (from, upto]: with `after`, the first
  // `limit` above it (the window's Range stops at `limit`); without, the
  // `limit` just below `before` (or the newest).
  const int64_t last = member->last_seq;
  const int64_t upto = before ? std::min(*before - 1, last) : last;
  const int64_t from = after ? std::max<int64_t>(*after, 0) : std::max<int64_t>(0, upto - limit);
  return Page(false, conv, from, upto, last, limit, actor,
              [&] { return d_.store.History(conv, before, after, limit, actor); });
}

Result<std::vector<Message>> Service::Page(bool resume, ConversationId conv, int64_t after, int64_t upto,
                                           int64_t last_seq, int limit, UserId viewer,
                                           const std::function<Result<std::vector<Message>>()>& read_store) {
  std::optional<std::vector<Message>> cached;
  if (d_.recent != nullptr) cached = d_.recent->Range(conv, after, upto, last_seq, limit, viewer);
  if (d_.on_page) d_.on_page(resume, cached.has_value());
  Result<std::vector<Message>> page =
      cached ? Result<std::vector<Message>>(std::move(*cached)) : read_store();
  if (page.ok()) SignAttachments(*page);
  return page;
}

Result<void> Service::MarkRead(UserId actor, ConversationId conv, int64_t seq) {
  // Only a member has a marker to move, and only members hear of it.
  if (auto ok = CheckMember(actor, conv); !ok) return ok;
  auto marker = d_.store.SetReadSeq(conv, actor, seq);
  if (!marker) return marker.error();
  fanout::EventBatch events;
  events.push_back(Event::ToConversation(conv, MakeFrame(protocol::ReadEvent(conv, actor, *marker))));
  d_.fanout.Publish(std::move(events));
  return Ok();
}

Result<std::vector<protocol::PresenceEntry>> Service::QueryPresence(UserId viewer,
                                                                    const std::vector<UserId>& ids) {
  auto users = d_.store.FindUsersByIds(ids);
  if (!users) return std::move(users).error();
  std::vector<UserId> found;
  for (const auto& u : *users) found.push_back(u.id);
  auto shown = PresenceShownTo(viewer, found);
  if (!shown) return std::move(shown).error();
  auto online = d_.presence.Online(found);
  std::vector<protocol::PresenceEntry> out;
  for (size_t i = 0; i < users->size(); ++i) {
    const User& u = (*users)[i];
    if (!(*shown)[i]) {
      out.push_back({u.id, u.username, false, std::nullopt});
      continue;
    }
    out.push_back({u.id, u.username, online[i], online[i] ? std::nullopt : u.last_seen});
  }
  return out;
}

// ---- hot path -------------------------------------------------------------------------

Result<void> Service::CheckBody(std::string_view body) const {
  if (body.empty()) return MakeError(Errc::kBadRequest, "body must not be empty");
  if (body.size() > static_cast<size_t>(options_.max_body_bytes)) {
    return MakeError(Errc::kTooLarge, "body is over " + std::to_string(options_.max_body_bytes) + " bytes");
  }
  if (!protocol::IsValidUtf8(body)) return MakeError(Errc::kBadRequest, "body must be valid UTF-8");
  return Ok();
}

Result<void> Service::Append(log::SendRequest request) {
  // Token bucket per user: send_burst deep, refilled at send_rate_per_s.
  // Every entry a user makes (send, edit, delete, react) draws from it; in
  // a cluster the bucket is shared by every node.
  const UserId sender = request.sender;
  std::optional<Result<void>> shared = TakeSharedToken(sender);
  Result<void> token = shared ? std::move(*shared) : TakeLocalToken(sender);
  if (!token) return token;
  return d_.log.Append(std::move(request));
}

Result<void> Service::TakeLocalToken(UserId sender) {
  RateStripe& stripe = RateStripeOf(sender);
  std::lock_guard lock(stripe.mu);
  TimeMs now = d_.clock.NowMs();
  auto [it, fresh] = stripe.buckets.try_emplace(sender, Bucket{double(options_.send_burst), now});
  Bucket& b = it->second;
  b.tokens =
      std::min<double>(options_.send_burst, b.tokens + (now - b.updated) * options_.send_rate_per_s / 1000.0);
  b.updated = now;
  if (b.tokens < 1.0) {
    Error e = MakeError(Errc::kRateLimited, "sending too fast");
    e.retry_after_ms = static_cast<int64_t>(std::ceil((1.0 - b.tokens) * 1000.0 / options_.send_rate_per_s));
    return e;
  }
  b.tokens -= 1.0;
  return Ok();
}

Result<void> Service::Send(UserId sender, protocol::SendReq request, const log::Origin& origin) {
  if (KnownDeleted(sender)) return Deleted();
  // With attachments (PROTOCOL.md §6) the body may be empty.
  if (!(request.body.empty() && !request.attachments.empty())) {
    if (auto ok = CheckBody(request.body); !ok) return ok.error();
  }
  if (request.attachments.size() > kMaxAttachments) {
    return MakeError(Errc::kBadRequest,
                     "at most " + std::to_string(kMaxAttachments) + " attachments per message");
  }
  if (request.reply_to && *request.reply_to < 1)
    return MakeError(Errc::kBadRequest, "reply_to must be a seq");
  log::SendRequest r{request.conv, sender, std::move(request.client_msg_id), std::move(request.body), origin};
  r.reply_to = request.reply_to;
  r.attachments = std::move(request.attachments);
  return Append(std::move(r));
}

Result<void> Service::Edit(UserId sender, protocol::EditReq request, const log::Origin& origin) {
  if (KnownDeleted(sender)) return Deleted();
  if (auto ok = CheckBody(request.body); !ok) return ok.error();
  if (request.seq < 1) return MakeError(Errc::kBadRequest, "seq must name an entry");
  log::SendRequest r{request.conv, sender, std::move(request.client_msg_id), std::move(request.body), origin};
  r.kind = EntryKind::kEdit;
  r.target = request.seq;
  return Append(std::move(r));
}

Result<void> Service::Delete(UserId sender, protocol::DeleteReq request, const log::Origin& origin) {
  if (KnownDeleted(sender)) return Deleted();
  if (request.seq < 1) return MakeError(Errc::kBadRequest, "seq must name an entry");
  log::SendRequest r{request.conv, sender, std::move(request.client_msg_id), "", origin};
  r.kind = EntryKind::kDelete;
  r.target = request.seq;
  return Append(std::move(r));
}

Result<void> Service::React(UserId sender, protocol::ReactReq request, const log::Origin& origin) {
  if (KnownDeleted(sender)) return Deleted();
  if (request.seq < 1) return MakeError(Errc::kBadRequest, "seq must name an entry");
  if (request.emoji.empty() || request.emoji.size() > kMaxEmojiBytes) {
    return MakeError(Errc::kBadRequest, "emoji must be 1 to " + std::to_string(kMaxEmojiBytes) + " bytes");
  }
  if (!protocol::IsValidUtf8(request.emoji)) return MakeError(Errc::kBadRequest, "emoji must be valid UTF-8");
  log::SendRequest r{request.conv, sender, std::move(request.client_msg_id), "", origin};
  r.kind = EntryKind::kReaction;
  r.target = request.seq;
  r.emoji = std::move(request.emoji);
  r.op = request.op;
  return Append(std::move(r));
}

void Service::Typing(UserId user, ConversationId conv) {
  if (KnownDeleted(user)) return;
  {
    RateStripe& stripe = RateStripeOf(user);
    std::lock_guard lock(stripe.mu);
    TimeMs now = d_.clock.NowMs();
    TimeMs& last = stripe.typing[user][conv];
    if (last != 0 && now - last < options_.typing_interval_ms) return;  // dropped silently
    last = now;
  }
  fanout::EventBatch events;
  events.push_back(Event::ToConversation(conv, MakeFrame(protocol::TypingEvent(conv, user)), 0, user));
  d_.fanout.Publish(std::move(events));
}

// ---- connections -------------------------------------------------------------------------

void Service::PublishPresence(UserId user, bool online, std::optional<TimeMs> last_seen) {
  auto contacts = d_.store.PresenceContacts(user, options_.presence_group_limit);
  if (!contacts || contacts->empty()) return;
  auto me = d_.store.FindUserById(user);
  if (!me) return;
  PublishPresence(user, me->username, std::move(contacts).value(), online, last_seen);
}

void Service::PublishPresence(UserId user, const std::string& username, std::vector<UserId> contacts,
                              bool online, std::optional<TimeMs> last_seen) {
  if (contacts.empty()) return;
  fanout::EventBatch events;
  events.push_back(Event::ToUsers(std::move(contacts),
                                  MakeFrame(protocol::PresenceEvent(user, username, online, last_seen))));
  events.back().subject = user;
  d_.fanout.Publish(std::move(events));
}

Result<Service::Connection> Service::Connect(UserId user_id, presence::SessionKey session) {
  auto user = d_.store.FindUserById(user_id);
  if (!user) return std::move(user).error();
  auto convs = d_.store.ListConversations(user_id);
  if (!convs) return std::move(convs).error();
  auto contacts = d_.store.PresenceContacts(user_id, options_.presence_group_limit);
  if (!contacts) return std::move(contacts).error();
  if (d_.presence.AddSession(user_id, session))
    PublishPresence(user_id, user->username, *contacts, true, std::nullopt);
  user->online = true;
  return Connection{std::move(user).value(), std::move(convs).value(), std::move(contacts).value()};
}

void Service::Disconnect(UserId user, presence::SessionKey session, bool abrupt) {
  if (abrupt && options_.offline_grace_ms > 0) {
    // The session stays registered for the grace: a new one meanwhile is
    // not the user's first, and every node still answers "online".
    std::lock_guard lock(lingering_mu_);
    lingering_.push_back({user, session, d_.clock.NowMs()});
    return;
  }
  if (!d_.presence.RemoveSession(user, session)) return;
  WentOffline({user});
}

void Service::FlushLingering(bool all) {
  std::vector<Lingering> due;
  {
    const TimeMs cutoff = d_.clock.NowMs() - options_.offline_grace_ms;
    std::lock_guard lock(lingering_mu_);
    while (!lingering_.empty() && (all || lingering_.front().ended <= cutoff)) {
      due.push_back(lingering_.front());
      lingering_.pop_front();
    }
  }
  std::vector<store::Store::LastSeen> gone;
  for (const Lingering& l : due) {
    if (d_.presence.RemoveSession(l.user, l.session)) gone.push_back({l.user, l.ended});
  }
  if (!gone.empty()) WentOffline(std::move(gone));
}

void Service::WentOffline(const std::vector<UserId>& users) {
  const TimeMs now = d_.clock.NowMs();
  std::vector<store::Store::LastSeen> seen;
  seen.reserve(users.size());
  for (UserId user : users) seen.push_back({user, now});
  WentOffline(std::move(seen));
}

void Service::WentOffline(std::vector<store::Store::LastSeen> users) {
  {
    std::lock_guard lock(offline_mu_);
    offline_pending_.insert(offline_pending_.end(), users.begin(), users.end());
    if (offline_writing_) return;  // the writing thread takes these too
    offline_writing_ = true;
  }
  for (;;) {
    std::vector<store::Store::LastSeen> batch;
    {
      std::lock_guard lock(offline_mu_);
      if (offline_pending_.empty()) {
        offline_writing_ = false;
        return;
      }
      batch.swap(offline_pending_);
    }
    // last_seen is what a profile shows; a failed write loses no message,
    // and the offline event goes out either way.
    if (auto written = d_.store.SetLastSeenMany(batch); !written) {
      Log()->warn("last_seen of {} users not stored: {}", batch.size(), written.error().message);
    }
    for (const auto& seen : batch) PublishPresence(seen.user, false, seen.ts);
  }
}

Result<ResumePlan> Service::Resume(UserId user, const protocol::HelloReq& hello) {
  auto contacts = d_.store.PresenceContacts(user, options_.presence_group_limit);
  if (!contacts) return std::move(contacts).error();
  return Resume(user, hello, *contacts);
}

Result<ResumePlan> Service::Resume(UserId user, const protocol::HelloReq& hello,
                                   std::span<const UserId> contacts) {
  ResumePlan plan;
  // Read after the connection follows its conversations (the caller saw to
  // it), so every entry past these seqs reaches it live. A hello that names
  // none, without "all", gets the summary only: nothing to read.
  std::vector<Conversation> convs;
  if (!hello.last_seq.empty() || hello.all) {
    auto listed = d_.store.ListConversationHeads(user);
    if (!listed) return std::move(listed).error();
    convs = std::move(listed).value();
  }
  std::unordered_map<ConversationId, int64_t> asked(hello.last_seq.begin(), hello.last_seq.end());
  for (const Conversation& c : convs) {
    int64_t from;
    if (auto it = asked.find(c.id); it != asked.end()) {
      from = it->second;
    } else if (hello.all) {
      from = 0;
    } else {
      continue;
    }
    if (from >= c.last_seq) continue;
    // Up to the last_seq seen here; anything newer arrives as live events.
    ResumePlan::Conv rc;
    rc.conv = c.id;
    rc.after = from;
    rc.upto = c.last_seq;
    if (c.last_seq - from > options_.resume_limit) {
      rc.after = c.last_seq - options_.resume_limit;
      rc.gap = std::make_pair(from + 1, rc.after);
    }
    plan.conversations.push_back(rc);
  }
  auto online = d_.presence.Online(contacts);
  std::vector<UserId> up;
  for (size_t i = 0; i < contacts.size(); ++i) {
    if (online[i]) up.push_back(contacts[i]);
  }
  if (!up.empty()) {
    auto users = d_.store.FindUsersByIds(up);
    if (!users) return std::move(users).error();
    for (const User& u : *users) {
      plan.online.push_back({u.id, protocol::PresenceEvent(u.id, u.username, true, std::nullopt)});
    }
  }
  return plan;
}

void Service::ReadAhead(UserId viewer, ResumePlan& plan, int limit) {
  // Each page goes out in its place (after its conversation's gap event,
  // before the rest of that conversation and the next one), so pages of
  // several conversations may be read; `limit` bounds their memory.
  for (ResumePlan::Conv& c : plan.conversations) {
    if (limit <= 0) return;
    if (c.after >= c.upto) continue;
    Result<std::vector<Message>> page = ResumePage(viewer, c.conv, c.after, c.upto, limit);
    if (!page) return;
    limit -= static_cast<int>(page->size());
    c.page = std::move(page).value();
  }
}

Result<std::vector<Message>> Service::ResumePage(UserId viewer, ConversationId conv, int64_t after,
                                                 int64_t upto, int limit) {
  limit = std::clamp(limit, 1, protocol::kMaxHistoryLimit);
  // `upto` is the conversation's last_seq as the plan read it from the store.
  return Page(true, conv, after, upto, upto, limit, viewer,
              [&] { return d_.store.History(conv, upto + 1, after, limit, viewer); });
}

}  // namespace parley::chat
