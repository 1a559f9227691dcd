#pragma once
// A user's data as one JSON document (issue 16, `GET /v1/me/export`),
// produced a piece at a time so that neither the store nor the document is
// ever held whole: each Next() reads one page or a few pages of the store
// and returns the text they make. The document:
//
//   {"format":"parley-export","version":1,"exported_at":ms,
//    "account":{"id","username","display_name","last_seen"},
//    "conversations":[{"id","kind","title","read_seq","last_seq",
//                      "members":[username, ...]}, ...],
//    "former_conversations":[{"id","kind","title","last_seq"}, ...],
//    "messages":[Message, ...],      // the user's text entries, folded,
//                                    // per conversation in seq order,
//                                    // with their attachments' names and urls
//    "read_markers":[{"conv","read_seq"}, ...]}
//
// Conversations are those the user is a member of when the export starts,
// in the order GET /v1/conversations gives them; former conversations are
// those the user wrote in and has since left (or was removed or banned
// from), by id, without their members (no longer the user's to see).
// Messages cover both, read page by page after that, so one sent during the
// export may or may not be in it.
//
// ExportSlots holds one running export per user. An AccountExport keeps its
// user's slot until it has returned the end of the document or is
// destroyed (the client went away).
//
// Threading: ExportSlots is thread-safe. An AccountExport is used by one
// thread at a time (each Next() may run on another blocking worker); Next()
// blocks on the store.
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/model.h"
#include "common/result.h"
#include "store/store.h"

namespace parley::chat {

class ExportSlots {
 public:
  // The slot of `user`, released when the last copy of it is destroyed;
  // null when an export of `user` is running.
  std::shared_ptr<void> Take(UserId user);

 private:
  std::mutex mu_;
  std::unordered_set<UserId> running_;
};

class AccountExport {
 public:
  // Messages and members are read `page` at a time (at most the store's
  // history limit); a piece is returned once it holds about
  // `piece_bytes` bytes (or the document ends).
  // `serve` puts on a page of entries what they carry only when served
  // (the signed urls of their attachments, PROTOCOL.md §6).
  AccountExport(store::Store& store, User user, std::shared_ptr<void> slot, TimeMs now, int page = 500,
                size_t piece_bytes = 64 * 1024, std::function<void(std::vector<Message>&)> serve = {});

  // The next piece of the document; "" once it is complete (then again ""
  // on every call). An error leaves the document unfinished: the caller
  // aborts the response so the client sees a broken one, never a short
  // document that parses.
  Result<std::string> Next();

 private:
  enum class Stage { kHead, kConversations, kMessages, kTail, kDone };
  Result<void> Step(std::string& out);  // one store read's worth
  Result<void> Head(std::string& out);
  Result<void> ConversationsStep(std::string& out);
  Result<void> MessagesStep(std::string& out);
  void Tail(std::string& out);
  // Appends `,` before every element of an array but the first.
  void Separate(std::string& out);
  // The conversation whose messages come at index `i` of the messages
  // stage: the current ones, then the former ones; null past the end.
  const Conversation* MessagesOf(size_t i) const;

  store::Store& store_;
  User user_;
  std::shared_ptr<void> slot_;
  TimeMs now_;
  int page_;
  size_t piece_bytes_;
  std::function<void(std::vector<Message>&)> serve_;
  Stage stage_ = Stage::kHead;
  std::vector<Conversation> convs_;
  std::vector<Conversation> former_;
  size_t conv_ = 0;          // index into convs_, then (messages) on into former_
  bool in_members_ = false;  // inside convs_[conv_]'s "members" array
  UserId member_after_;      // members cursor
  int64_t seq_after_ = 0;    // messages cursor within convs_[conv_]
  bool first_ = true;        // no element yet in the array being written
};

}  // namespace parley::chat
