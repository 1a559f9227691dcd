#pragma once
// The WebSocket side: open + hello (refreshing the token when the server
// refuses it), reconnect backoff, fresh client_msg_ids.
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "client/ws_client.h"
#include "protocol/client_frames.h"

namespace parley::cli {

class Api;

// A connected socket that has said hello with `last_seq` (the conversations
// to resume, each from the seq given); the welcome goes to `welcome`.
// Throws CliError (kExitUnreachable when the server cannot be reached,
// kExitAuth when it refuses the login).
std::unique_ptr<client::WsClient> OpenSocket(Api& api,
                                             std::vector<std::pair<ConversationId, int64_t>> last_seq,
                                             protocol::Welcome* welcome);

// Exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to `max`.
class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds max = std::chrono::seconds(8)) : max_(max) {}
  std::chrono::milliseconds Next();
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds max_;
  int attempt_ = 0;
  std::mt19937 rng_{std::random_device{}()};
};

// A random client_msg_id ("cli-" + 24 hex digits).
std::string NewClientMsgId();

// Why a socket ended, for messages: "closed by the server, code 1001,
// server going away" etc.
std::string DescribeClose(const client::WsClient& ws);

}  // namespace parley::cli
