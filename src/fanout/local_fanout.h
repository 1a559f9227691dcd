#pragma once
// Fan-out within one process (the embedded mode): every published batch goes
// straight to this node's sink, on the publisher's thread.
#include <memory>

#include "fanout/fanout.h"

namespace parley::fanout {

std::unique_ptr<FanOut> CreateLocal();

}  // namespace parley::fanout
