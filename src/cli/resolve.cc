#include "cli/resolve.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "cli/api.h"
#include "cli/errors.h"
#include "client/json_util.h"

namespace parley::cli {

namespace json = boost::json;
using client::GetInt;
using client::GetString;

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const json::array& Members(const json::object& conv) {
  static const json::array kEmpty;
  auto it = conv.find("members");
  return it != conv.end() && it->value().is_array() ? it->value().as_array() : kEmpty;
}

std::string Describe(const json::object& conv, const std::string& my_user_id) {
  std::string id = GetString(conv, "id");
  if (GetString(conv, "kind") == "dm") return id + " (dm " + ConversationName(conv, my_user_id) + ")";
  return id + " (group \"" + GetString(conv, "title") + "\")";
}

}  // namespace

std::string DmPeer(const json::object& conv, const std::string& my_user_id) {
  if (GetString(conv, "kind") != "dm") return "";
  std::string fallback;
  for (const json::value& m : Members(conv)) {
    if (!m.is_object()) continue;
    if (GetString(m, "id") != my_user_id) return GetString(m, "username");
    fallback = GetString(m, "username");  // a DM with oneself
  }
  return fallback;
}

std::string ConversationName(const json::object& conv, const std::string& my_user_id) {
  if (GetString(conv, "kind") == "dm") {
    std::string peer = DmPeer(conv, my_user_id);
    if (!peer.empty()) return "@" + peer;
  } else if (std::string title = GetString(conv, "title"); !title.empty()) {
    return title;
  }
  return "conversation " + GetString(conv, "id");
}

const json::object& ResolveConversation(const json::array& convs, const std::string& query,
                                        const std::string& my_user_id) {
  for (const json::value& v : convs) {
    if (v.is_object() && GetString(v, "id") == query) return v.as_object();
  }
  bool at = !query.empty() && query[0] == '@';
  std::string user = Lower(at ? query.substr(1) : query);
  std::vector<const json::object*> found;
  for (const json::value& v : convs) {
    if (!v.is_object()) continue;
    const json::object& c = v.as_object();
    if (GetString(c, "kind") == "dm") {
      if (!user.empty() && DmPeer(c, my_user_id) == user) found.push_back(&c);
    } else if (!at && GetString(c, "title") == query) {
      found.push_back(&c);
    }
  }
  if (found.empty() && !at) {
    for (const json::value& v : convs) {
      if (v.is_object() && GetString(v, "kind") != "dm" && Lower(GetString(v, "title")) == Lower(query)) {
        found.push_back(&v.as_object());
      }
    }
  }
  if (found.size() == 1) return *found.front();
  if (found.empty()) {
    throw CliError(kExitNotFound, "no conversation '" + query + "' among yours (see 'parley conversations')");
  }
  std::string list;
  for (const json::object* c : found) list += "\n  " + Describe(*c, my_user_id);
  throw CliError(kExitUsage, "'" + query + "' is ambiguous; use one of these ids:" + list);
}

void Directory::Load() {
  json::object answer = api_.Get("/v1/conversations", "listing conversations");
  conversations_.clear();
  if (auto it = answer.find("conversations"); it != answer.end() && it->value().is_array()) {
    LearnAll(it->value().as_array());
  }
}

void Directory::LearnAll(const json::array& convs) {
  for (const json::value& v : convs) {
    if (v.is_object()) Learn(v.as_object());
  }
}

void Directory::Learn(const json::object& conv) {
  std::string id = GetString(conv, "id");
  if (id.empty()) return;
  for (const json::value& m : Members(conv)) {
    if (m.is_object()) usernames_[GetString(m, "id")] = GetString(m, "username");
  }
  for (json::value& v : conversations_) {
    if (v.is_object() && GetString(v, "id") == id) {
      v = conv;
      return;
    }
  }
  conversations_.push_back(conv);
}

const json::object* Directory::Find(const std::string& conv_id) const {
  for (const json::value& v : conversations_) {
    if (v.is_object() && GetString(v, "id") == conv_id) return &v.as_object();
  }
  return nullptr;
}

const json::object& Directory::Resolve(const std::string& query) {
  return ResolveConversation(conversations_, query, api_.config().user_id);
}

std::string Directory::Name(const std::string& conv_id) const {
  const json::object* c = Find(conv_id);
  if (c == nullptr) return "conversation " + conv_id;
  return ConversationName(*c, api_.config().user_id);
}

void Directory::FetchMembers(const std::string& conv_id) {
  if (!fetched_.insert(conv_id).second) return;
  std::string after;
  for (int page = 0; page < 100; ++page) {
    std::string target = "/v1/conversations/" + conv_id + "/members?limit=1000";
    if (!after.empty()) target += "&after=" + after;
    json::object answer;
    try {
      answer = api_.Get(target, "listing members");
    } catch (const CliError&) {
      return;  // names are a nicety; show ids instead
    }
    if (auto it = answer.find("members"); it != answer.end() && it->value().is_array()) {
      for (const json::value& m : it->value().as_array()) {
        if (m.is_object()) usernames_[GetString(m, "id")] = GetString(m, "username");
      }
    }
    auto next = answer.find("next");
    if (next == answer.end() || next->value().is_null()) return;
    if (next->value().is_string()) {
      after = std::string(next->value().as_string());
    } else if (auto n = client::AsInt(next->value())) {
      after = std::to_string(*n);
    } else {
      return;
    }
  }
}

std::string Directory::Username(const std::string& conv_id, const std::string& user_id) {
  if (auto it = usernames_.find(user_id); it != usernames_.end()) return it->second;
  if (!conv_id.empty()) {
    FetchMembers(conv_id);
    if (auto it = usernames_.find(user_id); it != usernames_.end()) return it->second;
  }
  return "user " + user_id;
}

}  // namespace parley::cli
