// The message-log contract run against the Kafka log over librdkafka's mock
// cluster (3 brokers) started in this process. Every test gets a new topic of
// 4 partitions and a new consumer group, so no test waits for another's
// members to time out; a short session timeout keeps rebalances short.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "log/kafka/kafka_log.h"
#include "log/kafka/mock_cluster.h"
#include "log_contract.h"

namespace parley::log::contract {
namespace {

// The process's mock cluster and the latest topic and group. Tests of one
// process run one after another on the gtest thread.
struct KafkaWorld {
  std::unique_ptr<kafka::MockCluster> cluster;
  int next = 0;
  std::string topic;
  std::string group;

  static KafkaWorld& Get() {
    static KafkaWorld world;
    return world;
  }

  std::unique_ptr<MessageLog> Open(const std::string& client_id) {
    kafka::Options o;
    o.brokers = cluster->bootstrap();
    o.topic = topic;
    o.group = group;
    o.client_id = client_id;
    o.session_timeout_ms = 3000;
    o.fetch_wait_max_ms = 10;
    o.connect_timeout_ms = 5000;
    auto log = kafka::Create(o);
    if (!log.ok()) {
      ADD_FAILURE() << "kafka::Create: " << log.error().message;
      return nullptr;
    }
    return std::move(log).value();
  }

  std::unique_ptr<MessageLog> MakeFresh() {
    if (!cluster) {
      auto started = kafka::MockCluster::Start(3);
      if (!started.ok()) {
        ADD_FAILURE() << "mock cluster: " << started.error().message;
        return nullptr;
      }
      cluster = std::move(started).value();
    }
    ++next;
    topic = "parley.contract." + std::to_string(next);
    group = "contract-" + std::to_string(next);
    if (auto r = cluster->CreateTopic(topic, 4); !r.ok()) {
      ADD_FAILURE() << r.error().message;
      return nullptr;
    }
    return Open("contract-a");
  }
};

LogBackend KafkaBackend() {
  return LogBackend{
      .name = "kafka",
      .make = [] { return KafkaWorld::Get().MakeFresh(); },
      .join = [] { return KafkaWorld::Get().Open("contract-b"); },
      .consumer_groups = true,
      .settle = std::chrono::milliseconds(4000),
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Kafka, LogContract, ::testing::Values(KafkaBackend()), LogBackendName);

}  // namespace parley::log::contract
