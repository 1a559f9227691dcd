#include "common/model.h"

namespace parley {

std::string_view RoleName(Role r) noexcept {
  switch (r) {
    case Role::kOwner:
      return "owner";
    case Role::kAdmin:
      return "admin";
    case Role::kMember:
      return "member";
  }
  return "member";
}

std::string_view KindName(ConversationKind k) noexcept { return k == ConversationKind::kDm ? "dm" : "group"; }

std::string_view EntryKindName(EntryKind k) noexcept {
  switch (k) {
    case EntryKind::kText:
      return "text";
    case EntryKind::kEdit:
      return "edit";
    case EntryKind::kDelete:
      return "delete";
    case EntryKind::kReaction:
      return "reaction";
  }
  return "text";
}

std::optional<EntryKind> ParseEntryKind(std::string_view s) noexcept {
  for (EntryKind k : {EntryKind::kText, EntryKind::kEdit, EntryKind::kDelete, EntryKind::kReaction}) {
    if (EntryKindName(k) == s) return k;
  }
  return std::nullopt;
}

std::string_view ReactionOpName(ReactionOp op) noexcept { return op == ReactionOp::kAdd ? "add" : "remove"; }

std::optional<ReactionOp> ParseReactionOp(std::string_view s) noexcept {
  if (s == "add") return ReactionOp::kAdd;
  if (s == "remove") return ReactionOp::kRemove;
  return std::nullopt;
}

std::string_view NotifyLevelName(NotifyLevel l) noexcept {
  switch (l) {
    case NotifyLevel::kAll:
      return "all";
    case NotifyLevel::kMentions:
      return "mentions";
    case NotifyLevel::kNone:
      return "none";
  }
  return "all";
}

std::optional<NotifyLevel> ParseNotifyLevel(std::string_view s) noexcept {
  if (s == "all") return NotifyLevel::kAll;
  if (s == "mentions") return NotifyLevel::kMentions;
  if (s == "none") return NotifyLevel::kNone;
  return std::nullopt;
}

NotifyLevel DefaultNotifyLevel(ConversationKind k) noexcept {
  return k == ConversationKind::kDm ? NotifyLevel::kAll : NotifyLevel::kMentions;
}

}  // namespace parley
