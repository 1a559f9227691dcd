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

}  // namespace parley
