#include "cli/membership.h"

#include <cctype>
#include <iostream>

#include <boost/json/object.hpp>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/live.h"
#include "cli/resolve.h"
#include "protocol/frames.h"

namespace parley::cli {

namespace json = boost::json;

namespace {

// The server's cap on one members page.
constexpr int kMembersPage = 1000;

std::string MembersPath(ConversationId conv) { return "/v1/conversations/" + conv.ToString() + "/members"; }

// The path of one member: the username goes into the URL.
std::string MemberPath(ConversationId conv, const std::string& username) {
  return MembersPath(conv) + "/" + CheckedUsername(username);
}

}  // namespace

ConvTarget ResolveTarget(Directory& dir, const std::string& query) {
  dir.Load();
  ConversationId id = ResolveConvId(dir, query);
  return ConvTarget{id, dir.Find(id) != nullptr ? dir.Name(id) : query};
}

const std::string& CheckedUsername(const std::string& username) {
  // Anything but a username's characters is refused before it reaches a URL.
  bool ok = !username.empty();
  for (char c : username) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  }
  if (!ok) throw CliError(kExitUsage, "'" + username + "' is not a username (letters, digits, _ . -)");
  return username;
}

void CallForOk(Api& api, const protocol::Request& request, const std::string& what) {
  std::unique_ptr<client::WsClient> ws = OpenSocket(api, {}, nullptr);
  auto answer = ws->Call(request);
  if (!answer) throw Unreachable(api.login().server, answer.error().message);
  if (const auto* error = std::get_if<protocol::ErrorAnswer>(&*answer)) {
    throw CliError(ExitCodeForErrc(error->error.code),
                   what + " failed: " + error->error.message + " (" + error->error.code_name + ")");
  }
  if (!std::holds_alternative<protocol::OkAnswer>(*answer)) {
    throw CliError(kExitRejected, what + " failed: unexpected answer");
  }
}

std::vector<Member> AllMembers(Api& api, ConversationId conv) {
  std::vector<Member> out;
  std::optional<UserId> after;
  do {
    protocol::MemberPage page = api.Members(conv, after, kMembersPage);
    out.insert(out.end(), page.members.begin(), page.members.end());
    after = page.next;
  } while (after);
  return out;
}

std::string MemberSummary(const std::vector<Member>& members) {
  std::string out;
  for (const Member& m : members) {
    if (!out.empty()) out += ", ";
    out += m.username;
    if (m.role != Role::kMember) out += " (" + std::string(RoleName(m.role)) + ")";
  }
  return out;
}

void LeaveConversation(Api& api, ConversationId conv, const std::string& name) {
  // Removing oneself is leaving (PROTOCOL.md §1: any member may leave).
  api.Call("DELETE", MemberPath(conv, api.login().username), std::nullopt, "leaving " + name);
}

int CmdGroupAdd(Api& api, const std::string& conv, const std::string& user, bool as_json) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  const std::string what = "adding " + user + " to " + target.name;
  Conversation updated = Expect(protocol::ParseConversation(api.Call("POST", MembersPath(target.id),
                                                                     protocol::UsernameBody(user), what)),
                                what);
  if (as_json) {
    std::cout << JsonLine(protocol::ToJson(updated)) << "\n";
  } else {
    std::cout << "Added " << user << " to " << ConversationName(updated, api.me()) << " ("
              << updated.member_count << " members).\n";
  }
  return kExitOk;
}

int CmdGroupRemove(Api& api, const std::string& conv, const std::string& user) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  if (user == api.login().username) {
    throw CliError(kExitUsage, "to leave " + target.name + " yourself, use 'parley group leave'");
  }
  api.Call("DELETE", MemberPath(target.id, user), std::nullopt, "removing " + user + " from " + target.name);
  std::cout << "Removed " << user << " from " << target.name << ".\n";
  return kExitOk;
}

int CmdGroupLeave(Api& api, const std::string& conv) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  LeaveConversation(api, target.id, target.name);
  std::cout << "You left " << target.name << ".\n";
  return kExitOk;
}

int CmdGroupMembers(Api& api, const std::string& conv, bool as_json) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  std::vector<Member> members = AllMembers(api, target.id);
  for (const Member& m : members) {
    if (as_json) {
      std::cout << JsonLine(protocol::ToJson(m)) << "\n";
    } else {
      std::cout << m.username << (m.role == Role::kMember ? "" : "  " + std::string(RoleName(m.role)))
                << (m.id == api.me() ? "  (you)" : "") << "\n";
    }
  }
  return kExitOk;
}

int CmdRead(Api& api, const std::string& conv, bool as_json) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  const Conversation* c = dir.Find(target.id);
  if (c == nullptr) {
    // Not one of ours: let the server say why (forbidden / not found).
    api.Messages(target.id, std::nullopt, std::nullopt, 1, "reading '" + conv + "'");
    throw CliError(kExitNotFound, "'" + conv + "' is not among your conversations");
  }
  int64_t seq = c->last_seq;
  int64_t unread = c->unread();
  if (c->read_seq < seq)
    CallForOk(api, protocol::ReadReq{target.id, seq}, "marking " + target.name + " read");
  if (as_json) {
    json::object out{
        {"conv", target.id.ToString()}, {"read_seq", std::max(seq, c->read_seq)}, {"marked", unread}};
    std::cout << JsonLine(out) << "\n";
  } else if (c->read_seq >= seq) {
    std::cout << "Nothing new in " << target.name << ".\n";
  } else {
    std::cout << "Marked " << target.name << " read up to #" << seq << " (" << unread << " unread).\n";
  }
  return kExitOk;
}

}  // namespace parley::cli
