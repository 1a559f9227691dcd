#pragma once
// In-process presence and fan-out for a single node.
#include <memory>

#include "presence/fanout.h"
#include "presence/presence_registry.h"

namespace parley::presence::embedded {

std::unique_ptr<PresenceRegistry> CreateRegistry();
// Delivers every published batch straight to the local sink.
std::unique_ptr<FanOut> CreateFanOut();

}  // namespace parley::presence::embedded
