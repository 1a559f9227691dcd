#pragma once
// Conversations and usernames as the client knows them: name resolution for
// CONV arguments and sender ids -> usernames for output.
#include <map>
#include <set>
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace parley::cli {

class Api;

// "title" for a group, "@peer" for a DM (peer: the member who is not
// `my_user_id`), "conversation ID" when neither is known.
std::string ConversationName(const boost::json::object& conv, const std::string& my_user_id);

// The DM peer's username, or "" for a group.
std::string DmPeer(const boost::json::object& conv, const std::string& my_user_id);

// Finds `query` among `convs`: an exact id; else groups titled `query` and
// DMs with the user `query` (a leading '@' allowed, case folded); group
// titles are then tried case-insensitively. Throws CliError: kExitNotFound
// when nothing matches, kExitUsage listing the candidates when several do.
const boost::json::object& ResolveConversation(const boost::json::array& convs, const std::string& query,
                                               const std::string& my_user_id);

// The conversation list plus a user id -> username cache, filled from the
// conversations' members and, for a sender not among them (a group of more
// than 100, a new member), from the members call.
class Directory {
 public:
  explicit Directory(Api& api) : api_(api) {}

  // GET /v1/conversations (again); throws CliError.
  void Load();
  // Takes in one Conversation (a welcome's list, a member event).
  void Learn(const boost::json::object& conv);
  void LearnAll(const boost::json::array& convs);

  const boost::json::array& conversations() const { return conversations_; }
  const boost::json::object* Find(const std::string& conv_id) const;
  const boost::json::object& Resolve(const std::string& query);
  std::string Name(const std::string& conv_id) const;
  // The username of `user_id`, fetching `conv_id`'s members once on a miss;
  // "user <id>" when still unknown.
  std::string Username(const std::string& conv_id, const std::string& user_id);
  void SetUsername(const std::string& user_id, const std::string& username) {
    usernames_[user_id] = username;
  }

 private:
  void FetchMembers(const std::string& conv_id);

  Api& api_;
  boost::json::array conversations_;
  std::map<std::string, std::string> usernames_;
  std::set<std::string> fetched_;  // conversations whose members were fetched
};

}  // namespace parley::cli
