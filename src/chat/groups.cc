// chat::Service, the part of PROTOCOL.md §7 that lets people run a group:
// roles, ownership, bans, the title and topic, invite links, and blocks.
// Who may do what is decided here; the store keeps what must hold however
// callers race (one owner while there are members, no banned member, an
// invite's uses within its max_uses) inside its transactions.
#include <algorithm>

#include "auth/auth.h"
#include "chat/service.h"

namespace parley::chat {

using fanout::Event;
using protocol::MakeFrame;

namespace {

constexpr int64_t kDefaultInviteTtlS = 7 * 24 * 3600;
// Far enough for any real use; keeps expires_at well inside 64 bits.
constexpr int64_t kMaxInviteTtlS = 10LL * 365 * 24 * 3600;
constexpr size_t kMaxTitleBytes = 200;
constexpr size_t kMaxTopicBytes = 500;

bool CanManage(Role r) { return r == Role::kOwner || r == Role::kAdmin; }

Error Forbidden(std::string message) { return MakeError(Errc::kForbidden, std::move(message)); }

}  // namespace

// ---- helpers ---------------------------------------------------------------------------

Result<Role> Service::RequireGroupRole(UserId actor, ConversationId conv) {
  auto c = RequireMember(actor, conv);
  if (!c) return c.error();
  if (c->kind != ConversationKind::kGroup)
    return MakeError(Errc::kBadRequest, "a DM has no roles or settings");
  auto role = d_.store.GetRole(conv, actor);
  if (!role) return role.error();
  if (!*role) return Forbidden("you are not a member of this conversation");
  return **role;
}

void Service::PublishNewOwner(ConversationId conv, UserId old_owner) {
  auto owner = d_.store.Owner(conv);
  if (!owner || !*owner || **owner == old_owner) return;  // the group is empty now
  fanout::EventBatch events;
  events.push_back(
      Event::ToConversation(conv, MakeFrame(protocol::MemberRoleEvent(conv, **owner, Role::kOwner))));
  d_.fanout.Publish(std::move(events));
}

void Service::PublishGone(ConversationId conv, UserId user, std::string_view action) {
  // The event goes out before the unsubscription in the same batch, so the
  // user's own connections hear it too.
  fanout::EventBatch events;
  events.push_back(
      Event::ToConversation(conv, MakeFrame(protocol::MemberEvent(conv, user, action, nullptr))));
  Event unsub = Event::ToUsers({user}, nullptr);
  unsub.subscription = Event::Subscription::kUnsubscribe;
  unsub.conv = conv;
  events.push_back(std::move(unsub));
  d_.fanout.Publish(std::move(events));
}

void Service::PublishJoined(ConversationId conv, UserId user) {
  // The members hear of the new one; the new member's connections subscribe
  // and get the conversation as they see it (read_seq and counts are theirs).
  fanout::EventBatch events;
  events.push_back(
      Event::ToConversation(conv, MakeFrame(protocol::MemberEvent(conv, user, "added", nullptr)), 0, user));
  auto shown = d_.store.GetConversation(conv, user);
  Event sub = Event::ToUsers(
      {user}, MakeFrame(protocol::MemberEvent(conv, user, "added", shown ? &shown.value() : nullptr)));
  sub.subscription = Event::Subscription::kSubscribe;
  sub.conv = conv;
  events.push_back(std::move(sub));
  d_.fanout.Publish(std::move(events));
}

Result<void> Service::CheckNotBlockedBy(UserId actor, std::span<const UserId> users) {
  if (users.empty()) return Ok();
  auto blocked = d_.store.AnyBlocks(users, actor);
  if (!blocked) return blocked.error();
  // The same words as any other refusal: the block stays invisible.
  if (*blocked) return Forbidden("you cannot do this with that user");
  return Ok();
}

// ---- roles and ownership ----------------------------------------------------------------

Result<void> Service::SetRole(UserId actor, ConversationId conv, std::string_view username, Role role) {
  if (role == Role::kOwner) return MakeError(Errc::kBadRequest, "ownership moves only by a transfer");
  auto mine = RequireGroupRole(actor, conv);
  if (!mine) return mine.error();
  if (*mine != Role::kOwner) return Forbidden("only the owner sets roles");
  auto user = FindByUsername(username);
  if (!user) return user.error();
  if (user->id == actor) {
    return Forbidden("the owner keeps their role until they transfer ownership");
  }
  auto current = d_.store.GetRole(conv, user->id);
  if (!current) return current.error();
  if (!*current) return MakeError(Errc::kNotFound, "'" + user->username + "' is not a member");
  if (**current == role) return Ok();  // nothing changes, nobody hears of it
  if (auto ok = d_.store.SetRole(conv, user->id, role); !ok) return ok;
  fanout::EventBatch events;
  events.push_back(Event::ToConversation(conv, MakeFrame(protocol::MemberRoleEvent(conv, user->id, role))));
  d_.fanout.Publish(std::move(events));
  return Ok();
}

Result<void> Service::Transfer(UserId actor, ConversationId conv, std::string_view username) {
  auto mine = RequireGroupRole(actor, conv);
  if (!mine) return mine.error();
  if (*mine != Role::kOwner) return Forbidden("only the owner transfers ownership");
  auto user = FindByUsername(username);
  if (!user) return user.error();
  if (user->id == actor) return MakeError(Errc::kBadRequest, "you own this group already");
  auto target = d_.store.GetRole(conv, user->id);
  if (!target) return target.error();
  if (!*target) return MakeError(Errc::kNotFound, "'" + user->username + "' is not a member");
  if (auto ok = d_.store.TransferOwnership(conv, actor, user->id); !ok) return ok;
  fanout::EventBatch events;
  events.push_back(
      Event::ToConversation(conv, MakeFrame(protocol::MemberRoleEvent(conv, user->id, Role::kOwner))));
  events.push_back(
      Event::ToConversation(conv, MakeFrame(protocol::MemberRoleEvent(conv, actor, Role::kAdmin))));
  d_.fanout.Publish(std::move(events));
  return Ok();
}

// ---- bans ------------------------------------------------------------------------------

Result<void> Service::Ban(UserId actor, ConversationId conv, std::string_view username) {
  auto mine = RequireGroupRole(actor, conv);
  if (!mine) return mine.error();
  if (!CanManage(*mine)) return Forbidden("only the owner and admins ban");
  auto user = FindByUsername(username);
  if (!user) return user.error();
  if (user->id == actor) return MakeError(Errc::kBadRequest, "you cannot ban yourself; leave instead");
  auto target = d_.store.GetRole(conv, user->id);
  if (!target) return target.error();
  if (*target && (**target == Role::kOwner || (**target == Role::kAdmin && *mine != Role::kOwner))) {
    return Forbidden("you cannot ban a member of equal or higher role");
  }
  auto was_member = d_.store.Ban(conv, user->id, actor, d_.clock.NowMs());
  if (!was_member) return was_member.error();
  // "banned" instead of "removed"; the banned user's connections hear it
  // too, then stop following.
  if (*was_member) PublishGone(conv, user->id, "banned");
  return Ok();
}

Result<void> Service::Unban(UserId actor, ConversationId conv, std::string_view username) {
  auto mine = RequireGroupRole(actor, conv);
  if (!mine) return mine.error();
  if (!CanManage(*mine)) return Forbidden("only the owner and admins unban");
  auto user = FindByUsername(username);
  if (!user) return user.error();
  auto lifted = d_.store.Unban(conv, user->id);
  if (!lifted) return lifted.error();
  if (!*lifted) return MakeError(Errc::kNotFound, "'" + user->username + "' is not banned");
  return Ok();
}

// ---- settings --------------------------------------------------------------------------

Result<void> Service::UpdateGroup(UserId actor, ConversationId conv, const std::optional<std::string>& title,
                                  const std::optional<std::string>& topic) {
  if (!title && !topic) return MakeError(Errc::kBadRequest, "give a title, a topic or both");
  if (title && (title->empty() || title->size() > kMaxTitleBytes || !protocol::IsValidUtf8(*title))) {
    return MakeError(Errc::kBadRequest, "title must be 1 to 200 bytes of UTF-8");
  }
  if (topic && (topic->size() > kMaxTopicBytes || !protocol::IsValidUtf8(*topic))) {
    return MakeError(Errc::kBadRequest, "topic must be at most 500 bytes of UTF-8");
  }
  auto mine = RequireGroupRole(actor, conv);
  if (!mine) return mine.error();
  if (!CanManage(*mine)) return Forbidden("only the owner and admins change the group's settings");
  if (auto ok = d_.store.UpdateGroup(conv, title, topic); !ok) return ok;
  auto now = d_.store.GetConversation(conv, actor);
  if (!now) return now.error();
  fanout::EventBatch events;
  events.push_back(Event::ToConversation(
      conv,
      MakeFrame(protocol::GroupUpdatedEvent(conv, now->title.value_or(""), now->topic.value_or(""), actor))));
  d_.fanout.Publish(std::move(events));
  return Ok();
}

// ---- invites ---------------------------------------------------------------------------

Result<Invite> Service::CreateInvite(UserId actor, ConversationId conv, std::optional<int64_t> max_uses,
                                     std::optional<int64_t> expires_in_s) {
  if (max_uses && *max_uses < 1) return MakeError(Errc::kBadRequest, "max_uses must be at least 1, or null");
  const int64_t ttl_s = expires_in_s.value_or(kDefaultInviteTtlS);
  if (ttl_s < 1 || ttl_s > kMaxInviteTtlS) {
    return MakeError(Errc::kBadRequest, "expires_in_s must be 1 to " + std::to_string(kMaxInviteTtlS));
  }
  auto mine = RequireGroupRole(actor, conv);
  if (!mine) return mine.error();
  if (!CanManage(*mine)) return Forbidden("only the owner and admins make invites");
  Invite invite;
  invite.conv = conv;
  invite.max_uses = max_uses;
  invite.expires_at = d_.clock.NowMs() + ttl_s * 1000;
  // As unguessable as a refresh token: the code alone lets anyone in. Never
  // starting with '-' (1 in 64 of base64url would): a command line such as
  // `parley group join CODE` would read it as an option.
  do {
    invite.code = auth::NewRefreshToken();
  } while (invite.code.front() == '-');
  if (auto ok = d_.store.CreateInvite(invite, actor, d_.clock.NowMs()); !ok) return ok.error();
  return invite;
}

Result<Conversation> Service::JoinByInvite(UserId actor, std::string_view code) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  if (code.empty() || code.size() > 256)
    return MakeError(Errc::kNotFound, "unknown, used-up or expired invite");
  auto joined = d_.store.JoinByInvite(std::string(code), actor, d_.clock.NowMs(), options_.max_group_members);
  if (!joined) return joined.error();
  auto conv = d_.store.GetConversation(joined->conv, actor);
  if (!conv) return conv;
  if (joined->added) PublishJoined(joined->conv, actor);
  return conv;
}

Result<void> Service::DeleteInvite(UserId actor, ConversationId conv, std::string_view code) {
  auto mine = RequireGroupRole(actor, conv);
  if (!mine) return mine.error();
  if (!CanManage(*mine)) return Forbidden("only the owner and admins revoke invites");
  auto deleted = d_.store.DeleteInvite(conv, std::string(code));
  if (!deleted) return deleted.error();
  if (!*deleted) return MakeError(Errc::kNotFound, "no such invite");
  return Ok();
}

// ---- blocks ----------------------------------------------------------------------------

Result<void> Service::Block(UserId actor, std::string_view username) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  auto user = FindByUsername(username);
  if (!user) return user.error();
  if (user->id == actor) return MakeError(Errc::kBadRequest, "you cannot block yourself");
  return d_.store.Block(actor, user->id, d_.clock.NowMs());
}

Result<void> Service::Unblock(UserId actor, std::string_view username) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  auto user = FindByUsername(username);
  if (!user) return user.error();
  auto removed = d_.store.Unblock(actor, user->id);
  if (!removed) return removed.error();
  return Ok();  // unblocking someone not blocked changes nothing
}

Result<std::vector<User>> Service::Blocked(UserId actor) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  auto users = d_.store.ListBlocked(actor);
  if (!users) return users;
  // A block says nothing of the other's presence (§7's privacy rules).
  for (User& u : *users) {
    u.online = false;
    u.last_seen.reset();
  }
  return users;
}

}  // namespace parley::chat
