#include "store/recent_entries.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

namespace parley::store {
namespace {

// Who holds one emoji on one text entry, and the seq of the add that took it
// from nobody to somebody (which orders the entry's reactions, as in the
// stores' emoji counts).
struct EmojiHolders {
  std::set<int64_t> users;
  int64_t first_seq = 0;
};

}  // namespace

std::optional<std::vector<Message>> FoldWindow(std::span<const Message> window, int64_t after, int64_t upto,
                                               int64_t last_seq, int limit, UserId viewer) {
  if (upto > last_seq) return std::nullopt;
  if (after >= upto || limit <= 0) return std::vector<Message>();
  if (window.empty()) return std::nullopt;
  const int64_t lo = window.front().seq;
  const int64_t hi = window.back().seq;
  if (after + 1 < lo || hi < last_seq) return std::nullopt;
  for (size_t i = 1; i < window.size(); ++i) {
    if (window[i].seq != window[i - 1].seq + 1 || window[i].conv != window.front().conv) return std::nullopt;
  }

  const int64_t first = after + 1;
  const int64_t last = std::min(upto, after + limit);
  std::vector<Message> out(window.begin() + (first - lo), window.begin() + (last - lo + 1));
  auto served = [&](int64_t seq) -> Message* {
    if (seq < first || seq > last) return nullptr;
    Message* m = &out[static_cast<size_t>(seq - first)];
    return m->kind == EntryKind::kText ? m : nullptr;
  };

  // Every change after `first` up to hi (at least last_seq): the changes
  // to the served text entries all come after them, so they are here.
  std::map<int64_t, std::map<std::string, EmojiHolders>> reactions;  // by target seq
  for (size_t i = static_cast<size_t>(first - lo); i < window.size(); ++i) {
    const Message& e = window[i];
    if (e.kind == EntryKind::kText) continue;
    if (e.kind == EntryKind::kDelete) {
      // The store erases the bodies of the target's edits with its own.
      for (Message& m : out) {
        if (m.kind == EntryKind::kEdit && m.target == e.target && m.seq < e.seq) m.body.clear();
      }
    }
    Message* t = served(e.target);
    if (t == nullptr) continue;
    switch (e.kind) {
      case EntryKind::kEdit:
        t->body = e.body;
        t->edited_ts = e.ts;
        t->mentions = e.mentions;
        t->state_seq = e.seq;
        break;
      case EntryKind::kDelete:
        if (t->deleted) break;  // deleting again changes nothing
        t->deleted = true;
        t->body.clear();
        t->mentions.clear();
        t->attachments.clear();
        reactions.erase(t->seq);
        t->state_seq = e.seq;
        break;
      case EntryKind::kReaction: {
        EmojiHolders& h = reactions[t->seq][e.emoji];
        if (e.op == ReactionOp::kAdd) {
          if (h.users.empty()) h.first_seq = e.seq;
          h.users.insert(e.sender.value);
        } else {
          h.users.erase(e.sender.value);
        }
        t->state_seq = e.seq;
        break;
      }
      case EntryKind::kText:
        break;
    }
  }

  for (Message& m : out) {
    if (m.kind != EntryKind::kText) {
      m.mentions.clear();  // what an edit resolved is its target's; History serves it there
      continue;
    }
    for (Attachment& a : m.attachments) a.url.clear();  // signed when served
    auto it = reactions.find(m.seq);
    if (it == reactions.end()) continue;
    std::vector<std::pair<int64_t, Reaction>> held;
    for (const auto& [emoji, h] : it->second) {
      if (h.users.empty()) continue;
      held.emplace_back(h.first_seq, Reaction{emoji, static_cast<int64_t>(h.users.size()),
                                              viewer.valid() && h.users.contains(viewer.value)});
    }
    std::sort(held.begin(), held.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    m.reactions.clear();
    for (auto& [seq, r] : held) m.reactions.push_back(std::move(r));
  }
  return out;
}

}  // namespace parley::store
