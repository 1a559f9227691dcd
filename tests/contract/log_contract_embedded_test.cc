// The message-log contract run against the embedded (in-process) log.
#include <gtest/gtest.h>

#include "log/embedded/embedded_log.h"
#include "log_contract.h"

namespace parley::log::contract {
namespace {

LogBackend EmbeddedBackend() {
  return LogBackend{
      .name = "embedded",
      .make = [] { return embedded::Create(embedded::Options{.partitions = 4}); },
      .join = nullptr,
      .consumer_groups = false,
      .settle = std::chrono::milliseconds(500),
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Embedded, LogContract, ::testing::Values(EmbeddedBackend()), LogBackendName);

}  // namespace parley::log::contract
