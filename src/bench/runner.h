#pragma once
// The load generator proper: connections on T threads (one io_context each),
// open-loop senders, receivers that check loss/duplicates/order, and the
// step loop of --find-max. The only Beast translation unit of parley-bench.
#include "bench/options.h"
#include "bench/results.h"

namespace parley::auth {
class TokenSigner;
}

namespace parley::bench {

// Runs setup, connections and the workload; fills *result. Returns an exit code.
int RunBench(const Options& o, const auth::TokenSigner* signer, BenchResult* result);

}  // namespace parley::bench
