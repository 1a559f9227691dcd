#pragma once
// In-process presence for a single node (its fan-out: fanout/local_fanout.h).
#include <memory>

#include "presence/presence_registry.h"

namespace parley::presence::embedded {

std::unique_ptr<PresenceRegistry> CreateRegistry();

}  // namespace parley::presence::embedded
