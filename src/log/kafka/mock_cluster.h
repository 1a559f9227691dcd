#pragma once
// A Kafka cluster in this process: librdkafka's mock cluster (rdkafka_mock.h),
// N brokers on random loopback ports that any client, in this process or
// another, reaches with bootstrap(). For tests and parley-kafka-dev only; it
// keeps everything in memory. Production points at a real Kafka.
//
// Owns a librdkafka handle that hosts the brokers and their thread. Methods
// are thread-safe.
#include <memory>
#include <string>

#include "common/result.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace parley::log::kafka {

class MockCluster {
 public:
  static Result<std::unique_ptr<MockCluster>> Start(int brokers);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:port,..." of every broker.
  const std::string& bootstrap() const { return bootstrap_; }
  int brokers() const { return brokers_; }

  // Creates a topic (replicated on up to 3 brokers). The Admin API's
  // CreateTopics never answers on the mock; this is the way.
  Result<void> CreateTopic(const std::string& topic, int partitions);

  // Takes broker `id` (1..brokers) down or back up, to test outages.
  Result<void> SetBrokerDown(int id);
  Result<void> SetBrokerUp(int id);

 private:
  MockCluster(rd_kafka_s* host, rd_kafka_mock_cluster_s* cluster, int brokers);

  rd_kafka_s* host_;
  rd_kafka_mock_cluster_s* cluster_;
  int brokers_;
  std::string bootstrap_;
};

}  // namespace parley::log::kafka
