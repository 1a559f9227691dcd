#include "log/embedded/embedded_log.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

namespace parley::log {
namespace {

SendRequest Req(int64_t conv, std::string cmid) {
  SendRequest r;
  r.conv = ConversationId(conv);
  r.sender = UserId(1);
  r.client_msg_id = std::move(cmid);
  return r;
}

TEST(EmbeddedLog, KeepsPerConversationOrderAcrossPartitions) {
  auto log = embedded::Create({.partitions = 3});
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(log->Append(Req(1 + i % 5, std::to_string(i))));
  std::map<int64_t, std::vector<int>> seen;
  size_t total = 0;
  while (total < 100) {
    auto batch = log->Poll(17, std::chrono::milliseconds(100));
    ASSERT_FALSE(batch.empty());
    for (auto& r : batch) {
      EXPECT_EQ(r.partition, log->PartitionOf(r.request.conv));
      seen[r.request.conv.value].push_back(std::stoi(r.request.client_msg_id));
    }
    total += batch.size();
  }
  for (auto& [conv, ids] : seen) {
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << "conv " << conv;
    EXPECT_EQ(ids.size(), 20u);
  }
}

TEST(EmbeddedLog, PollWakesOnAppendFromAnotherThread) {
  auto log = embedded::Create({.partitions = 2});
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(log->Append(Req(7, "x")));
  });
  auto batch = log->Poll(10, std::chrono::seconds(5));
  producer.join();
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].request.client_msg_id, "x");
}

TEST(EmbeddedLog, FullOrClosedLogRefusesWithUnavailable) {
  auto log = embedded::Create({.partitions = 1, .max_pending = 2});
  ASSERT_TRUE(log->Append(Req(1, "a")));
  ASSERT_TRUE(log->Append(Req(1, "b")));
  auto full = log->Append(Req(1, "c"));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::kUnavailable);
  log->Close();
  EXPECT_FALSE(log->Append(Req(1, "d")));
  EXPECT_FALSE(log->Ping());
}

}  // namespace
}  // namespace parley::log
