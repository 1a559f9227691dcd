// The presence contract run against the embedded (single-node) backend.
#include "fanout/local_fanout.h"
#include "presence/embedded/embedded_presence.h"
#include "presence_contract.h"

namespace parley::presence::contract {
namespace {

PresenceBackend EmbeddedBackend() {
  return PresenceBackend{
      .name = "embedded",
      .multi_node = false,
      .prepare = nullptr,
      .make_node =
          [](int64_t) {
            return PresenceNode{embedded::CreateRegistry(), fanout::CreateLocal()};
          },
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Embedded, PresenceContract, ::testing::Values(EmbeddedBackend()),
                         PresenceBackendName);

}  // namespace parley::presence::contract
