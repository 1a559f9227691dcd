#pragma once
// Who is in a conversation and how far they read: `parley group
// add|remove|leave|members` and `parley read`, and the pieces of them that
// `parley chat` reuses (/members, /leave). Each throws CliError (errors.h).
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/model.h"
#include "protocol/client_frames.h"

namespace parley::cli {

class Api;
class Directory;

// CONV resolved against the conversation list (loaded here), with its
// display name (CONV itself for an id that is not among ours, which the
// server then judges).
struct ConvTarget {
  ConversationId id;
  std::string name;
};
ConvTarget ResolveTarget(Directory& dir, const std::string& query);

// `username` when it is one (letters, digits, _ . -; any case, the server
// folds it), to go into a URL path; else a CliError (kExitUsage).
const std::string& CheckedUsername(const std::string& username);

// Sends `request` on a fresh WebSocket and expects `ok`; a refusal is a
// CliError whose message starts with `what` ("marking crew read failed: ...").
void CallForOk(Api& api, const protocol::Request& request, const std::string& what);

// Every member of `conv`, paging through the members call.
std::vector<Member> AllMembers(Api& api, ConversationId conv);

// "alice (owner), bob, carol (admin)": the members, roles but the plain one
// named.
std::string MemberSummary(const std::vector<Member>& members);

// Leaves `conv` (a group; a DM's members never change and the server says
// so). `name` names the conversation in errors.
void LeaveConversation(Api& api, ConversationId conv, const std::string& name);

int CmdGroupAdd(Api& api, const std::string& conv, const std::string& user, bool as_json);
int CmdGroupRemove(Api& api, const std::string& conv, const std::string& user);
int CmdGroupLeave(Api& api, const std::string& conv);
int CmdGroupMembers(Api& api, const std::string& conv, bool as_json);

// Marks `conv` read up to its newest entry (the `read` request) and says how
// many unread messages that was.
int CmdRead(Api& api, const std::string& conv, bool as_json);

}  // namespace parley::cli
