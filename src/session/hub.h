#pragma once
// Hub: which of one io thread's sessions follow which conversation and user,
// and the delivery of fan-out batches to them. It tells the fan-out backend
// when the first local session starts to follow something and when the last
// one stops (FanOut::Follow/Unfollow), so a node receives only what its
// connections need.
//
// Owned by its io thread and touched only there; sessions add themselves
// once admitted and remove themselves when they close.
#include <unordered_map>
#include <vector>

#include "common/ids.h"
#include "fanout/fanout.h"

namespace parley::session {

class ClientSession;

class Hub {
 public:
  explicit Hub(fanout::FanOut& fanout) : fanout_(fanout) {}
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  void Add(ClientSession* s);
  // Also drops every subscription of `s`.
  void Remove(ClientSession* s);
  void Subscribe(ClientSession* s, ConversationId conv);
  void Unsubscribe(ClientSession* s, ConversationId conv);
  // Delivers one batch, in order: subscription changes first, per event.
  void Dispatch(const fanout::EventBatch& batch);
  // Every session catches up from the store (fanout::DeliverySink::Resync).
  void CatchUpAll();
  size_t size() const { return by_id_.size(); }
  fanout::FanOut& fanout() { return fanout_; }

 private:
  void DropFromConversation(ClientSession* s, ConversationId conv);
  // A revocation (Event::revoke_epoch): each session of its users decides
  // whether its token is among the revoked.
  void Revoke(const fanout::Event& e);

  fanout::FanOut& fanout_;
  std::unordered_map<uint64_t, ClientSession*> by_id_;
  std::unordered_map<UserId, std::vector<ClientSession*>> by_user_;
  std::unordered_map<ConversationId, std::vector<ClientSession*>> by_conv_;
};

}  // namespace parley::session
