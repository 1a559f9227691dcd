#pragma once
// The contract of store::Store (src/store/store.h), written once and run for
// every backend. A backend instantiates it with one line:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract,
//                            ::testing::Values(StoreBackend{"sqlite", make, reopen}),
//                            StoreBackendName);
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "store/store.h"

namespace parley::store::contract {

// Result checks of the suites: the expression succeeded / failed with errc.
#define ASSERT_OK(expr)                                                                      \
  do {                                                                                       \
    const auto& assert_ok_result = (expr);                                                   \
    ASSERT_TRUE(assert_ok_result.ok()) << #expr << ": " << assert_ok_result.error().message; \
  } while (0)

#define EXPECT_ERRC(expr, errc)                                            \
  do {                                                                     \
    const auto& expect_errc_result = (expr);                               \
    if (expect_errc_result.ok()) {                                         \
      ADD_FAILURE() << #expr << " succeeded; expected " << ErrcName(errc); \
    } else {                                                               \
      EXPECT_EQ(expect_errc_result.error().code, errc)                     \
          << #expr << ": " << expect_errc_result.error().message;          \
    }                                                                      \
  } while (0)

// A store opened on data of schema 2 (before PROTOCOL.md §5) that holds, in
// conversation 1, the members alice (id 1, owner, read_seq 2) and bob (id 2,
// read_seq 0) and alice's messages seq 1 "old one" and seq 2 "old two":
// checks they are served as text entries nothing changed, are counted as
// unread, and take an edit and a delete. Each backend's migration test
// writes that data its own way and calls this.
void ExpectSchemaTwoMessagesServedAsEntries(Store& store);

using StoreFactory = std::function<std::unique_ptr<Store>()>;

// How the suite gets stores of one backend.
struct StoreBackend {
  std::string name;  // a test-name suffix: letters, digits, underscores
  // A store on fresh, empty storage (a new file, a new schema). Called once
  // at the start of every test.
  StoreFactory make;
  // A store on the storage that the latest `make` call created, after the
  // previous store on it was destroyed: proves data survives a restart.
  // Empty when the backend cannot reopen (the durability test is skipped).
  StoreFactory reopen;
};

inline std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

inline void PrintTo(const StoreBackend& backend, std::ostream* os) { *os << backend.name; }

// The fixture: `store_` is fresh for each test. Owned by the gtest thread.
class StoreContract : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  void TearDown() override { store_.reset(); }

  // Closes the store and opens it again on the same storage.
  void Reopen();

  // Helpers that fail the test (ADD_FAILURE) when the store refuses.
  UserId NewUser(const std::string& username);
  ConversationId NewGroup(UserId owner, std::initializer_list<UserId> members,
                          const std::string& title = "g");
  // Commits one message and returns its seq (0 on failure).
  int64_t Send(ConversationId conv, UserId sender, const std::string& client_msg_id,
               const std::string& body = "hi");

  // Entries of PROTOCOL.md §5, ready for CommitBatch (id and ts drawn here).
  NewMessage Text(ConversationId conv, UserId sender, const std::string& client_msg_id,
                  const std::string& body = "hi");
  NewMessage Edit(ConversationId conv, UserId sender, const std::string& client_msg_id, int64_t target,
                  const std::string& body);
  NewMessage Delete(ConversationId conv, UserId sender, const std::string& client_msg_id, int64_t target);
  NewMessage React(ConversationId conv, UserId sender, const std::string& client_msg_id, int64_t target,
                   const std::string& emoji, ReactionOp op = ReactionOp::kAdd);
  // Commits one entry; its outcome (the batch's outer error fails the test).
  Result<Committed> Commit(const NewMessage& m);
  // The entry at `seq` as `viewer` reads it in history (kind text with seq 0
  // when there is none).
  Message EntryAt(ConversationId conv, int64_t seq, UserId viewer = UserId());

  std::unique_ptr<Store> store_;
  TimeMs now_ = 1'700'000'000'000;
  int64_t next_message_id_ = 1000;
};

}  // namespace parley::store::contract
