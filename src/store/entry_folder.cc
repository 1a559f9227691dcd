#include "store/entry_folder.h"

#include <algorithm>
#include <charconv>

// Early returns for Result values (local to this file).
#define FOLD_CONCAT_INNER(a, b) a##b
#define FOLD_CONCAT(a, b) FOLD_CONCAT_INNER(a, b)
#define FOLD_TRY(expr)                                         \
  do {                                                         \
    auto fold_try_result = (expr);                             \
    if (!fold_try_result.ok()) return fold_try_result.error(); \
  } while (0)
#define FOLD_ASSIGN_IMPL(tmp, lhs, expr)        \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return std::move(tmp).error(); \
  lhs = std::move(tmp).value()
#define FOLD_ASSIGN(lhs, expr) FOLD_ASSIGN_IMPL(FOLD_CONCAT(fold_assign_, __LINE__), lhs, expr)

namespace parley::store {

int64_t EntryKindCode(EntryKind kind) noexcept {
  switch (kind) {
    case EntryKind::kText:
      return 0;
    case EntryKind::kEdit:
      return 1;
    case EntryKind::kDelete:
      return 2;
    case EntryKind::kReaction:
      return 3;
  }
  return 0;
}

Result<EntryKind> EntryKindFromCode(int64_t code) {
  switch (code) {
    case 0:
      return EntryKind::kText;
    case 1:
      return EntryKind::kEdit;
    case 2:
      return EntryKind::kDelete;
    case 3:
      return EntryKind::kReaction;
    default:
      return MakeError(Errc::kInternal, "store: corrupt entry kind " + std::to_string(code));
  }
}

int64_t ReactionOpCode(ReactionOp op) noexcept { return op == ReactionOp::kAdd ? 0 : 1; }

std::string EncodeMentions(std::span<const UserId> mentions) {
  std::string out;
  for (UserId u : mentions) {
    if (!out.empty()) out += ' ';
    out += u.ToString();
  }
  return out;
}

std::vector<UserId> DecodeMentions(std::string_view text) {
  std::vector<UserId> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find(' ', i);
    if (end == std::string_view::npos) end = text.size();
    if (std::optional<UserId> id = UserId::Parse(text.substr(i, end - i))) out.push_back(*id);
    i = end + 1;
  }
  return out;
}

void AttachReactions(std::vector<Message>& page, std::span<const EmojiCountRow> counts,
                     const std::set<std::pair<int64_t, std::string>, std::less<>>& mine) {
  // Both are ascending by seq: one merge pass.
  auto it = page.begin();
  for (const EmojiCountRow& row : counts) {
    while (it != page.end() && it->seq < row.target) ++it;
    if (it == page.end()) break;
    if (it->seq != row.target || it->kind != EntryKind::kText || it->deleted) continue;
    it->reactions.push_back(
        Reaction{row.emoji, row.count, mine.contains(std::make_pair(row.target, row.emoji))});
  }
}

bool EntryFolder::RefusesOnlyTheEntry(const Error& e) noexcept {
  return e.code == Errc::kNotFound || e.code == Errc::kForbidden || e.code == Errc::kBadRequest;
}

Result<EntryFolder::Target*> EntryFolder::TextEntry(ConversationId conv, int64_t seq) {
  const Key key(conv.value, seq);
  auto it = targets_.find(key);
  if (it == targets_.end()) {
    std::optional<Target> target;
    if (seq > 0) {
      FOLD_ASSIGN(std::optional<EntryRow> row, source_.Entry(conv, seq));
      if (row && row->kind == EntryKind::kText) target = Target{*row};
    }
    it = targets_.emplace(key, std::move(target)).first;
  }
  if (!it->second) {
    return MakeError(Errc::kNotFound, "seq " + std::to_string(seq) + " is not a text entry of conversation " +
                                          conv.ToString());
  }
  return &*it->second;
}

Result<std::vector<UserId>> EntryFolder::ResolveMentions(ConversationId conv,
                                                         std::span<const std::string> names) {
  std::vector<UserId> out;
  if (names.empty()) return out;
  FOLD_ASSIGN(auto members, source_.MembersNamed(conv, names));
  for (const std::string& name : names) {
    auto it = members.find(name);
    if (it == members.end() || std::find(out.begin(), out.end(), it->second) != out.end()) continue;
    out.push_back(it->second);
    if (out.size() == kMaxMentions) break;
  }
  return out;
}

Result<EntryFolder::ReactionState*> EntryFolder::Reactions(ConversationId conv, int64_t target, UserId user) {
  const ReactionKey key(conv.value, target, user.value);
  auto it = reactions_.find(key);
  if (it == reactions_.end()) {
    ReactionState state;
    // A text entry made in this batch holds no reactions yet.
    if (!targets_.at(Key(conv.value, target))->is_new) {
      FOLD_ASSIGN(std::vector<std::string> held, source_.Held(conv, target, user));
      state.initial.insert(held.begin(), held.end());
    }
    state.now = state.initial;
    it = reactions_.emplace(key, std::move(state)).first;
  }
  return &it->second;
}

Result<EntryFolder::CountState*> EntryFolder::Counts(ConversationId conv, int64_t target,
                                                     const std::string& emoji) {
  CountKey key(conv.value, target, emoji);
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    CountState state;
    if (!targets_.at(Key(conv.value, target))->is_new) {
      FOLD_ASSIGN(state.initial, source_.Count(conv, target, emoji));
    }
    if (state.initial) state.now = *state.initial;
    it = counts_.emplace(std::move(key), std::move(state)).first;
  }
  return &it->second;
}

Result<Message> EntryFolder::Apply(const NewMessage& m, int64_t seq) {
  Message out;
  out.conv = m.conv;
  out.seq = seq;
  out.id = m.id;
  out.sender = m.sender;
  out.body = m.body;
  out.ts = m.ts;
  out.client_msg_id = m.client_msg_id;
  out.kind = m.kind;
  if (m.kind == EntryKind::kText) {
    if (m.reply_to) FOLD_TRY(TextEntry(m.conv, *m.reply_to));  // a deleted one is fine
    FOLD_ASSIGN(out.mentions, ResolveMentions(m.conv, m.mention_names));
    out.reply_to = m.reply_to;
    out.state_seq = seq;
    Target made{EntryRow{EntryKind::kText, m.sender, false}};
    made.is_new = true;
    made.mentions = out.mentions;
    made.state_seq = seq;
    targets_[Key(m.conv.value, seq)] = std::move(made);
    new_text_.emplace_back(m.conv.value, seq);
    return out;
  }
  out.target = m.target;
  FOLD_ASSIGN(Target * target, TextEntry(m.conv, m.target));
  switch (m.kind) {
    case EntryKind::kEdit:
      FOLD_TRY(ApplyEdit(m, seq, *target));
      out.mentions = target->mentions;  // what the target now names (see Committed)
      break;
    case EntryKind::kDelete:
      out.body.clear();
      FOLD_TRY(ApplyDelete(m, seq, *target));
      break;
    case EntryKind::kReaction:
      out.body.clear();
      out.emoji = m.emoji;
      out.op = m.op;
      FOLD_TRY(ApplyReaction(m, seq, *target));
      break;
    case EntryKind::kText:
      break;
  }
  return out;
}

Result<void> EntryFolder::ApplyEdit(const NewMessage& m, int64_t seq, Target& target) {
  if (target.row.sender != m.sender) {
    return MakeError(Errc::kForbidden, "only its sender may edit seq " + std::to_string(m.target));
  }
  if (target.row.deleted) {
    return MakeError(Errc::kBadRequest,
                     "seq " + std::to_string(m.target) + " is deleted and cannot be edited");
  }
  FOLD_ASSIGN(std::vector<UserId> mentions, ResolveMentions(m.conv, m.mention_names));
  target.changed = true;
  target.body_changed = true;
  target.body = m.body;
  target.edited_ts = m.ts;
  target.mentions = std::move(mentions);
  target.state_seq = seq;
  return Ok();
}

Result<void> EntryFolder::ApplyDelete(const NewMessage& m, int64_t seq, Target& target) {
  // A server administrator may delete any entry, member or not (§7).
  if (target.row.sender != m.sender && !m.by_server_admin) {
    FOLD_ASSIGN(Role role, source_.RoleOf(m.conv, m.sender));
    if (role == Role::kMember) {
      return MakeError(Errc::kForbidden,
                       "only its sender, the owner and admins may delete seq " + std::to_string(m.target));
    }
  }
  if (target.row.deleted) return Ok();  // stored; changes nothing
  target.row.deleted = true;
  target.changed = true;
  target.body_changed = true;
  target.body.clear();
  target.mentions.clear();
  target.state_seq = seq;
  target.erased = true;
  return Ok();
}

Result<void> EntryFolder::ApplyReaction(const NewMessage& m, int64_t seq, Target& target) {
  if (m.emoji.empty() || m.emoji.size() > kMaxEmojiBytes) {
    return MakeError(Errc::kBadRequest, "an emoji is 1 to " + std::to_string(kMaxEmojiBytes) + " bytes");
  }
  if (target.row.deleted) {
    return MakeError(Errc::kBadRequest, "seq " + std::to_string(m.target) + " is deleted: no reactions");
  }
  FOLD_ASSIGN(ReactionState * held, Reactions(m.conv, m.target, m.sender));
  const bool has = held->now.contains(m.emoji);
  if (m.op == ReactionOp::kAdd && !has && held->now.size() >= kMaxEmojiPerUser) {
    return MakeError(Errc::kBadRequest, "a user holds at most " + std::to_string(kMaxEmojiPerUser) +
                                            " distinct emoji on one message");
  }
  const bool changes = (m.op == ReactionOp::kAdd) != has;
  if (changes) {
    FOLD_ASSIGN(CountState * count, Counts(m.conv, m.target, m.emoji));
    if (m.op == ReactionOp::kAdd) {
      held->now.insert(m.emoji);
      if (count->now.count++ == 0) count->now.first_seq = seq;
    } else {
      held->now.erase(m.emoji);
      --count->now.count;
    }
  }
  target.changed = true;
  target.state_seq = seq;
  return Ok();
}

FoldWrites EntryFolder::Writes() const {
  FoldWrites w;
  std::set<Key> erased;
  for (const auto& [key, target] : targets_) {
    if (!target) continue;
    const ConversationId conv(key.first);
    if (target->erased) {
      erased.insert(key);
      w.erased.emplace_back(conv, key.second);
    }
    if (target->changed) {
      w.targets.push_back(FoldWrites::TargetUpdate{conv, key.second, target->body_changed, target->body,
                                                   target->edited_ts, target->row.deleted, target->mentions,
                                                   target->state_seq});
    }
    // The index of mentions: written for new entries and for edits (a delete
    // erases it with the rest).
    if ((target->is_new || target->body_changed) && !target->erased) {
      FoldWrites::MentionRows rows{conv, key.second, {}};
      for (UserId u : target->mentions) {
        if (u != target->row.sender) rows.users.push_back(u);
      }
      if (!rows.users.empty() || !target->is_new) w.mentions.push_back(std::move(rows));
    }
  }
  for (const auto& [key, state] : reactions_) {
    const auto& [conv, target, user] = key;
    if (erased.contains(Key(conv, target))) continue;
    for (const std::string& emoji : state.now) {
      if (!state.initial.contains(emoji))
        w.reactions.push_back({ConversationId(conv), target, UserId(user), emoji, true});
    }
    for (const std::string& emoji : state.initial) {
      if (!state.now.contains(emoji))
        w.reactions.push_back({ConversationId(conv), target, UserId(user), emoji, false});
    }
  }
  for (const auto& [key, state] : counts_) {
    const auto& [conv, target, emoji] = key;
    if (erased.contains(Key(conv, target))) continue;
    if (state.initial && state.initial->count == state.now.count &&
        state.initial->first_seq == state.now.first_seq)
      continue;
    if (!state.initial && state.now.count == 0) continue;
    w.counts.push_back({ConversationId(conv), target, emoji, state.now});
  }
  return w;
}

}  // namespace parley::store
