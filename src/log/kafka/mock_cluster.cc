#include "log/kafka/mock_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>

#include "log/kafka/rdkafka_handles.h"

namespace parley::log::kafka {

Result<std::unique_ptr<MockCluster>> MockCluster::Start(int brokers) {
  if (brokers < 1) return MakeError(Errc::kBadRequest, "mock cluster: brokers must be at least 1");
  rd::Conf conf(rd_kafka_conf_new());
  // The host handle connects nowhere; silence its "no bootstrap.servers" line.
  if (auto r = rd::Set(conf.get(), "log_level", "2"); !r) return r.error();
  auto host = rd::NewHandle(RD_KAFKA_PRODUCER, std::move(conf));
  if (!host) return host.error();
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(host->get(), brokers);
  if (cluster == nullptr) return MakeError(Errc::kUnavailable, "mock cluster: cannot start brokers");
  return std::unique_ptr<MockCluster>(new MockCluster(host->release(), cluster, brokers));
}

MockCluster::MockCluster(rd_kafka_s* host, rd_kafka_mock_cluster_s* cluster, int brokers)
    : host_(host),
      cluster_(cluster),
      brokers_(brokers),
      bootstrap_(rd_kafka_mock_cluster_bootstraps(cluster)) {}

MockCluster::~MockCluster() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(host_);
}

Result<void> MockCluster::CreateTopic(const std::string& topic, int partitions) {
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster_, topic.c_str(), std::max(1, partitions), std::min(brokers_, 3));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    return MakeError(Errc::kUnavailable,
                     std::string("mock cluster: create topic ") + topic + ": " + rd_kafka_err2str(err));
  }
  return Ok();
}

Result<void> MockCluster::SetBrokerDown(int id) {
  if (auto err = rd_kafka_mock_broker_set_down(cluster_, id); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return MakeError(Errc::kBadRequest, std::string("mock cluster: broker down: ") + rd_kafka_err2str(err));
  }
  return Ok();
}

Result<void> MockCluster::SetBrokerUp(int id) {
  if (auto err = rd_kafka_mock_broker_set_up(cluster_, id); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return MakeError(Errc::kBadRequest, std::string("mock cluster: broker up: ") + rd_kafka_err2str(err));
  }
  return Ok();
}

}  // namespace parley::log::kafka
