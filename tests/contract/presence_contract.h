#pragma once
// The contract of presence::PresenceRegistry and presence::FanOut
// (src/presence/), written once and run for every backend. A backend
// instantiates it with one line:
//
//   INSTANTIATE_TEST_SUITE_P(Redis, PresenceContract, ::testing::Values(RedisBackend()),
//                            PresenceBackendName);
//
// Tests that need two nodes sharing state (Online across nodes, delivery
// between nodes, Follow/Unfollow respected) run only for cluster backends;
// a single-node backend runs the rest on one node.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "fanout/fanout.h"
#include "presence/presence_registry.h"

namespace parley::presence::contract {

// One node's presence parts.
struct PresenceNode {
  std::unique_ptr<PresenceRegistry> registry;
  std::unique_ptr<fanout::FanOut> fanout;
};

// How the suite gets nodes of one backend.
struct PresenceBackend {
  std::string name;  // a test-name suffix: letters, digits, underscores
  // Nodes made by `make_node` share registry state and deliver to each
  // other (a cluster backend).
  bool multi_node = false;
  // Called at the start of every test: prepares fresh, empty shared state.
  // A non-empty answer skips the test with that reason (say, no server).
  std::function<std::string()> prepare;
  // A node with id `node_id` (> 0) on the state `prepare` made.
  std::function<PresenceNode(int64_t node_id)> make_node;
};

inline std::string PresenceBackendName(const ::testing::TestParamInfo<PresenceBackend>& info) {
  return info.param.name;
}

inline void PrintTo(const PresenceBackend& backend, std::ostream* os) { *os << backend.name; }

// A DeliverySink that records every batch. Deliver comes from backend
// threads; the test thread reads and waits. Thread-safe.
class RecordingSink final : public fanout::DeliverySink {
 public:
  void Deliver(std::shared_ptr<const fanout::EventBatch> batch) override;

  // Every event delivered so far, in delivery order.
  std::vector<fanout::Event> Events() const;
  size_t Batches() const;
  // Waits until `pred(Events())` holds; false on timeout.
  bool WaitFor(const std::function<bool(const std::vector<fanout::Event>&)>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // Waits for an event whose frame is `text`.
  bool WaitForFrame(const std::string& text,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // Waits until at least `n` events arrived (cheap: no copies).
  bool WaitForCount(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  void Clear();

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<std::shared_ptr<const fanout::EventBatch>> batches_;
  size_t events_ = 0;
};

// A node under test: its parts deliver to its sink. Owned by the fixture.
struct TestNode {
  int64_t id = 0;
  RecordingSink sink;  // declared first: outlives the parts
  PresenceNode parts;
  PresenceRegistry& registry() { return *parts.registry; }
  fanout::FanOut& fanout() { return *parts.fanout; }
};

// The fixture. Owned by the gtest thread.
class PresenceContract : public ::testing::TestWithParam<PresenceBackend> {
 protected:
  void SetUp() override;
  void TearDown() override { nodes_.clear(); }

  bool multi_node() const { return GetParam().multi_node; }
  // A new node (ids 1, 2, ...), its sink set.
  TestNode& AddNode();
  // The node that receives in delivery tests: a second node for cluster
  // backends, the only one otherwise.
  TestNode& Receiver();

  // Blocks until events for `interest`, published by `from`, reach `to`
  // (subscribing is asynchronous), then empties every sink.
  void AwaitFollowing(TestNode& from, TestNode& to, fanout::Interest interest);
  // Publishes a marker to every node's own session channel from `from` and
  // waits for each: whatever `from` published before has arrived. Empties
  // the sinks when `clear`.
  void Fence(TestNode& from, bool clear);

  std::vector<std::unique_ptr<TestNode>> nodes_;
  int fence_ = 0;
};

}  // namespace parley::presence::contract
