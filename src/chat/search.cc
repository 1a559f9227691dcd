// chat::Service, search (PROTOCOL.md §6): the policy around the store's
// search. The store filters by membership inside its query; here the
// request is checked: the query parsed, the limit bounded, and a `conv`
// named by the caller answered as History answers it (404, 403).
#include "chat/service.h"
#include "store/search_query.h"

namespace parley::chat {

Result<store::SearchPage> Service::Search(UserId actor, std::string_view q,
                                          std::optional<ConversationId> conv, int limit,
                                          const std::string& cursor) {
  if (limit < 1 || limit > store::kMaxSearchLimit) {
    return MakeError(Errc::kBadRequest,
                     "limit must be between 1 and " + std::to_string(store::kMaxSearchLimit));
  }
  auto query = store::ParseSearchQuery(q);
  if (!query) return query.error();
  if (conv) {
    if (auto ok = CheckMember(actor, *conv); !ok) return ok.error();
  } else if (auto ok = RequireActive(actor); !ok) {
    return ok.error();
  }
  return d_.store.Search(store::SearchRequest{actor, std::move(query).value(), conv, limit, cursor});
}

}  // namespace parley::chat
