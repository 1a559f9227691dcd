#pragma once
// Conversations and usernames as the client knows them: name resolution for
// CONV arguments and sender ids -> usernames for output.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/model.h"

namespace parley::cli {

class Api;

// "title" for a group, "@peer" for a DM (peer: the member who is not `me`),
// "conversation ID" when neither is known.
std::string ConversationName(const Conversation& conv, UserId me);

// The DM peer's username, or "" for a group.
std::string DmPeer(const Conversation& conv, UserId me);

// Finds `query` among `convs`: an exact id; else groups titled `query` and
// DMs with the user `query` (a leading '@' allowed, case folded); group
// titles are then tried case-insensitively. Throws CliError: kExitNotFound
// when nothing matches, kExitUsage listing the candidates when several do.
const Conversation& ResolveConversation(const std::vector<Conversation>& convs, const std::string& query,
                                        UserId me);

// The conversation list plus a user id -> username cache, filled from the
// conversations' members and, for a sender not among them (a group of more
// than 100, a new member), from the members call. One thread.
class Directory {
 public:
  explicit Directory(Api& api) : api_(api) {}

  // GET /v1/conversations (again); throws CliError.
  void Load();
  // Takes in one Conversation (a welcome's list, a member event).
  void Learn(const Conversation& conv);
  void LearnAll(const std::vector<Conversation>& convs);

  const std::vector<Conversation>& conversations() const { return conversations_; }
  const Conversation* Find(ConversationId conv) const;
  UserId me() const;  // the logged-in user
  const Conversation& Resolve(const std::string& query);
  std::string Name(ConversationId conv) const;
  // The username of `user`, fetching `conv`'s members once on a miss;
  // "user <id>" when still unknown.
  std::string Username(ConversationId conv, UserId user);
  void SetUsername(UserId user, const std::string& username) { usernames_[user] = username; }

 private:
  void FetchMembers(ConversationId conv);

  Api& api_;
  std::vector<Conversation> conversations_;
  std::map<UserId, std::string> usernames_;
  std::set<ConversationId> fetched_;  // conversations whose members were fetched
};

}  // namespace parley::cli
