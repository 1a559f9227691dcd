#include "session/hub.h"

#include <algorithm>

#include "session/client_session.h"

namespace parley::session {
namespace {

void EraseFrom(std::vector<ClientSession*>& v, ClientSession* s) {
  auto it = std::find(v.begin(), v.end(), s);
  if (it != v.end()) {
    *it = v.back();
    v.pop_back();
  }
}

}  // namespace

void Hub::Add(ClientSession* s) {
  by_id_[s->id()] = s;
  auto& sessions = by_user_[s->user()];
  if (sessions.empty()) fanout_.Follow({fanout::Interest::Kind::kUser, s->user().value});
  sessions.push_back(s);
}

void Hub::Remove(ClientSession* s) {
  by_id_.erase(s->id());
  if (auto it = by_user_.find(s->user()); it != by_user_.end()) {
    EraseFrom(it->second, s);
    if (it->second.empty()) {
      by_user_.erase(it);
      fanout_.Unfollow({fanout::Interest::Kind::kUser, s->user().value});
    }
  }
  for (const ClientSession::Sub& sub : s->subscriptions()) DropFromConversation(s, sub.conv);
}

void Hub::Subscribe(ClientSession* s, ConversationId conv) {
  if (!s->AddSubscription(conv)) return;
  auto& sessions = by_conv_[conv];
  if (sessions.empty()) fanout_.Follow({fanout::Interest::Kind::kConversation, conv.value});
  sessions.push_back(s);
}

void Hub::Unsubscribe(ClientSession* s, ConversationId conv) {
  if (!s->RemoveSubscription(conv)) return;
  DropFromConversation(s, conv);
}

void Hub::DropFromConversation(ClientSession* s, ConversationId conv) {
  if (auto it = by_conv_.find(conv); it != by_conv_.end()) {
    EraseFrom(it->second, s);
    if (it->second.empty()) {
      by_conv_.erase(it);
      fanout_.Unfollow({fanout::Interest::Kind::kConversation, conv.value});
    }
  }
}

void Hub::CatchUpAll() {
  for (auto& [id, s] : by_id_) s->CatchUp();
}

void Hub::Revoke(const fanout::Event& e) {
  for (UserId u : e.users) {
    auto it = by_user_.find(u);
    if (it == by_user_.end()) continue;
    // A copy: a session that closes may leave the hub before this returns.
    std::vector<ClientSession*> sessions = it->second;
    for (ClientSession* s : sessions) s->Revoke(e.revoke_epoch);
  }
}

void Hub::Dispatch(const fanout::EventBatch& batch) {
  using fanout::Event;
  for (const Event& e : batch) {
    switch (e.target) {
      case Event::Target::kConversation: {
        auto it = by_conv_.find(e.conv);
        if (it == by_conv_.end()) break;
        for (ClientSession* s : it->second) {
          if (s->user() != e.exclude) s->DeliverEvent(e);
        }
        break;
      }
      case Event::Target::kUsers:
        if (e.revoke_epoch > 0) {
          Revoke(e);
          break;
        }
        for (UserId u : e.users) {
          auto it = by_user_.find(u);
          if (it == by_user_.end()) continue;
          for (ClientSession* s : it->second) {
            if (e.subscription == Event::Subscription::kSubscribe) Subscribe(s, e.conv);
            if (e.subscription == Event::Subscription::kUnsubscribe) Unsubscribe(s, e.conv);
            if (e.frame) s->DeliverEvent(e);
          }
        }
        break;
      case Event::Target::kSession:
        if (auto it = by_id_.find(e.origin.session); it != by_id_.end()) it->second->Answer(e.frame);
        break;
    }
  }
}

}  // namespace parley::session
