#pragma once
// The search part of the store contract (PROTOCOL.md §6), a suite of its own
// over the same backends as StoreContract; a backend runs it with one line:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, SearchContract, ::testing::Values(backend), StoreBackendName);
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/search_query.h"
#include "store_contract.h"

namespace parley::store::contract {

// The bodies of a page, in its order.
inline std::vector<std::string> Bodies(const SearchPage& page) {
  std::vector<std::string> out;
  for (const Message& m : page.results) out.push_back(m.body);
  return out;
}

// The fixture: alice and bob share a group, carol has one of her own.
// Owned by the gtest thread.
class SearchContract : public StoreContract {
 protected:
  void SetUp() override {
    StoreContract::SetUp();
    if (HasFatalFailure()) return;
    alice_ = NewUser("alice");
    bob_ = NewUser("bob");
    carol_ = NewUser("carol");
    group_ = NewGroup(alice_, {bob_});
    other_ = NewGroup(carol_, {});
  }

  // The page `viewer` gets for `q` (which must parse).
  Result<SearchPage> Find(UserId viewer, std::string_view q,
                          std::optional<ConversationId> conv = std::nullopt, int limit = 20,
                          std::string cursor = "") {
    Result<SearchQuery> query = ParseSearchQuery(q);
    if (!query.ok()) {
      ADD_FAILURE() << "ParseSearchQuery(" << q << "): " << query.error().message;
      return query.error();
    }
    return store_->Search(SearchRequest{viewer, *query, conv, limit, std::move(cursor)});
  }

  // The bodies `viewer` finds for `q`, newest first (a failure is reported).
  std::vector<std::string> Found(UserId viewer, std::string_view q,
                                 std::optional<ConversationId> conv = std::nullopt) {
    Result<SearchPage> page = Find(viewer, q, conv, kMaxSearchLimit);
    if (!page.ok()) {
      ADD_FAILURE() << "Search(" << q << "): " << page.error().message;
      return {};
    }
    EXPECT_EQ(page->next, std::nullopt);
    return Bodies(*page);
  }

  UserId alice_, bob_, carol_;
  ConversationId group_, other_;
};

}  // namespace parley::store::contract
