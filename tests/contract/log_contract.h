#pragma once
// The contract of log::MessageLog (src/log/message_log.h), written once and
// run for every backend. A backend instantiates it with one line:
//
//   INSTANTIATE_TEST_SUITE_P(Kafka, LogContract, ::testing::Values(KafkaBackend()), LogBackendName);
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "log/message_log.h"

namespace parley::log::contract {

using LogFactory = std::function<std::unique_ptr<MessageLog>()>;

// How the suite gets logs of one backend.
struct LogBackend {
  std::string name;  // a test-name suffix: letters, digits, underscores
  // A log on fresh, empty storage (a new topic) whose consumer is in a new
  // group. Called once at the start of every test.
  LogFactory make;
  // Another client of the latest `make`'s storage whose consumer is in the
  // same group: a second sequencer node, or the one replacing a stopped one.
  // Used only when `consumer_groups`.
  LogFactory join;
  // Several consumers share the partitions of one group, and a new consumer
  // resumes after the group's committed offsets (uncommitted records are
  // redelivered). False for an in-process log with one consumer (embedded):
  // those tests are skipped.
  bool consumer_groups = false;
  // How long a consumer may take to get its partitions (a group join), and
  // so how long the suite waits for records that must come.
  std::chrono::milliseconds settle{2000};
};

inline std::string LogBackendName(const ::testing::TestParamInfo<LogBackend>& info) {
  return info.param.name;
}

inline void PrintTo(const LogBackend& backend, std::ostream* os) { *os << backend.name; }

// The fixture: `log_` is fresh for each test. Owned by the gtest thread.
class LogContract : public ::testing::TestWithParam<LogBackend> {
 protected:
  void SetUp() override;
  void TearDown() override { log_.reset(); }

  // A send of `conv` whose client_msg_id is `id`.
  static SendRequest Send(int64_t conv, const std::string& id, int64_t sender = 7);

  // Polls `log` (committing each batch when `commit`) until `count` records
  // came or `timeout` passed; returns them in the order received.
  static std::vector<Record> PollFor(MessageLog& log, size_t count, std::chrono::milliseconds timeout,
                                     bool commit = true, size_t max = 100);

  std::chrono::milliseconds settle() const { return GetParam().settle; }

  std::unique_ptr<MessageLog> log_;
};

}  // namespace parley::log::contract
