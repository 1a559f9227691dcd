#pragma once
// The `search` workload of parley-bench (PROTOCOL.md §6): stores
// --messages messages of generated text through the server, then times
// --queries searches (GET /v1/search) over everything stored.
//
// Text: words drawn from a fixed vocabulary of 20,000 made-up words with a
// Zipf distribution (s = 1), 6 to 14 a message, so a few words are in most
// messages and most words in few, as in real chat. Storing: each group's
// first member sends its share over one WebSocket, a window of sends in
// flight; one reader (the second member of group 0) is added to every group
// and makes every search, so each one runs over all the stored messages.
// Searches: closed loop from --threads HTTP clients, cycling through five
// kinds (a common word, a rare word, two words, a phrase of two adjacent
// words, a 3-letter prefix), each timed alone and all together.
//
// With --run-id, the users are named after it, so a later run with the same
// --run-id and --messages 0 searches what this one stored (new groups are
// made, but the reader is still a member of the old ones).
#include <string>

#include "loadgen/options.h"

namespace parley::auth {
class TokenSigner;
}

namespace parley::loadgen {

// Runs the workload; writes the table to *table and the JSON document to
// *json. Returns an exit code (0: every message stored and every search
// answered 200).
int RunSearchBench(const Options& o, const auth::TokenSigner* signer, std::string* table, std::string* json);

}  // namespace parley::loadgen
