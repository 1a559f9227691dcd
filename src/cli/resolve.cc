#include "cli/resolve.h"

#include <algorithm>
#include <cctype>

#include "cli/api.h"
#include "cli/errors.h"

namespace parley::cli {

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Describe(const Conversation& conv, UserId me) {
  std::string id = conv.id.ToString();
  if (conv.kind == ConversationKind::kDm) return id + " (dm " + ConversationName(conv, me) + ")";
  return id + " (group \"" + conv.title.value_or("") + "\")";
}

}  // namespace

std::string DmPeer(const Conversation& conv, UserId me) {
  if (conv.kind != ConversationKind::kDm) return "";
  std::string fallback;
  for (const Member& m : conv.members) {
    if (m.id != me) return m.username;
    fallback = m.username;  // a DM with oneself
  }
  return fallback;
}

std::string ConversationName(const Conversation& conv, UserId me) {
  if (conv.kind == ConversationKind::kDm) {
    std::string peer = DmPeer(conv, me);
    if (!peer.empty()) return "@" + peer;
  } else if (conv.title && !conv.title->empty()) {
    return *conv.title;
  }
  return "conversation " + conv.id.ToString();
}

const Conversation& ResolveConversation(const std::vector<Conversation>& convs, const std::string& query,
                                        UserId me) {
  for (const Conversation& c : convs) {
    if (c.id.ToString() == query) return c;
  }
  bool at = !query.empty() && query[0] == '@';
  std::string user = Lower(at ? query.substr(1) : query);
  std::vector<const Conversation*> found;
  for (const Conversation& c : convs) {
    if (c.kind == ConversationKind::kDm) {
      if (!user.empty() && DmPeer(c, me) == user) found.push_back(&c);
    } else if (!at && c.title == query) {
      found.push_back(&c);
    }
  }
  if (found.empty() && !at) {
    for (const Conversation& c : convs) {
      if (c.kind != ConversationKind::kDm && Lower(c.title.value_or("")) == Lower(query)) found.push_back(&c);
    }
  }
  if (found.size() == 1) return *found.front();
  if (found.empty()) {
    throw CliError(kExitNotFound, "no conversation '" + query + "' among yours (see 'parley conversations')");
  }
  std::string list;
  for (const Conversation* c : found) list += "\n  " + Describe(*c, me);
  throw CliError(kExitUsage, "'" + query + "' is ambiguous; use one of these ids:" + list);
}

void Directory::Load() {
  std::vector<Conversation> convs = api_.Conversations();
  conversations_.clear();
  LearnAll(convs);
}

void Directory::LearnAll(const std::vector<Conversation>& convs) {
  for (const Conversation& c : convs) Learn(c);
}

void Directory::Learn(const Conversation& conv) {
  for (const Member& m : conv.members) usernames_[m.id] = m.username;
  for (Conversation& known : conversations_) {
    if (known.id == conv.id) {
      known = conv;
      return;
    }
  }
  conversations_.push_back(conv);
}

const Conversation* Directory::Find(ConversationId conv) const {
  for (const Conversation& c : conversations_) {
    if (c.id == conv) return &c;
  }
  return nullptr;
}

UserId Directory::me() const { return api_.me(); }

const Conversation& Directory::Resolve(const std::string& query) {
  return ResolveConversation(conversations_, query, api_.me());
}

std::string Directory::Name(ConversationId conv) const {
  const Conversation* c = Find(conv);
  if (c == nullptr) return "conversation " + conv.ToString();
  return ConversationName(*c, api_.me());
}

void Directory::FetchMembers(ConversationId conv) {
  if (!fetched_.insert(conv).second) return;
  std::optional<UserId> after;
  for (int page = 0; page < 100; ++page) {
    protocol::MemberPage members;
    try {
      members = api_.Members(conv, after, 1000);
    } catch (const CliError&) {
      return;  // names are a nicety; show ids instead
    }
    for (const Member& m : members.members) usernames_[m.id] = m.username;
    if (!members.next) return;
    after = members.next;
  }
}

std::string Directory::Username(ConversationId conv, UserId user) {
  if (auto it = usernames_.find(user); it != usernames_.end()) return it->second;
  if (conv.valid()) {
    FetchMembers(conv);
    if (auto it = usernames_.find(user); it != usernames_.end()) return it->second;
  }
  return "user " + user.ToString();
}

}  // namespace parley::cli
