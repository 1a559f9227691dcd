#pragma once
// The embedded message log: one in-process queue per partition. It keeps
// nothing on disk on purpose: a send is acknowledged only after the store
// commits it, so a record lost in a crash was never acknowledged and the
// client retries it with the same client_msg_id.
#include <memory>

#include "log/message_log.h"

namespace parley::log::embedded {

struct Options {
  int partitions = 4;
  size_t max_pending = 1'000'000;  // records waiting, all partitions; over: kUnavailable
};

std::unique_ptr<MessageLog> Create(const Options& options);

}  // namespace parley::log::embedded
