#pragma once
// The load generator proper: connections on T threads (one io_context each),
// open-loop senders, receivers that check loss/duplicates/order, and the
// step loop of --find-max. The only Beast translation unit of parley-bench.
#include "loadgen/options.h"
#include "loadgen/results.h"

namespace parley::auth {
class TokenSigner;
}

namespace parley::loadgen {

// Runs setup, connections and the workload; fills *result. Returns an exit code.
int RunBench(const Options& o, const auth::TokenSigner* signer, BenchResult* result);

}  // namespace parley::loadgen
