#pragma once
// Setting up a Parley run over HTTP: users provisioned by an outside
// issuer's tokens (one GET /v1/me each, in parallel), then the groups or DMs.
#include <map>
#include <string>
#include <vector>

#include "common/ids.h"
#include "loadgen/options.h"

namespace parley::auth {
class TokenSigner;
}

namespace parley::loadgen {

struct Plan {
  Shape shape;
  std::vector<std::string> usernames;    // one per connection
  std::vector<std::string> tokens;       // parley only
  std::vector<std::string> convs;        // per group: conversation id (parley) or room name (socketio)
  std::vector<ConversationId> conv_ids;  // parley: convs as ids
  // Begins every client_msg_id of this run: users a later run reuses
  // (--run-id) must not send ids the server already stored, or it answers
  // them as duplicates and stores nothing.
  std::string send_prefix;
};

// A run id folded into usernames so runs against one server never collide.
std::string RunPrefix();

// Fills usernames/tokens/convs. Parley: provisions and creates over HTTP.
bool BuildPlan(const Options& o, const auth::TokenSigner* signer, Plan* plan,
               std::map<std::string, int64_t>* errors, std::string* fatal);

}  // namespace parley::loadgen
