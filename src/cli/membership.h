#pragma once
// Who is in a conversation and how far they read: `parley group
// add|remove|leave|members` and `parley read`, and the pieces of them that
// `parley chat` reuses (/members, /leave). Each throws CliError (errors.h).
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/model.h"

namespace parley::cli {

class Api;

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
