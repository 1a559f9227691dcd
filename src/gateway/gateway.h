#pragma once
// The gateway: WebSocket and HTTP on one port, one io_context per core with
// its own SO_REUSEPORT acceptor; a connection lives on one io thread for
// life. It knows the domain only through chat::Service, and implements the
// DeliverySink through which fan-out reaches this node's connections.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "fanout/fanout.h"

namespace parley::chat {
class Service;
}
namespace parley::metrics {
class Metrics;
}

namespace parley::gateway {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 1;
  int blocking_threads = 4;
  int64_t node_id = 1;
  int64_t max_frame_bytes = 64 * 1024;
  int64_t max_http_body_bytes = 64 * 1024;
  int64_t max_queue_bytes = 4 * 1024 * 1024;
  int max_connections = 100000;
  int hello_timeout_ms = 10000;
  int heartbeat_ms = 25000;
  double send_rate_per_s = 50;
  double abuse_factor = 10;
  std::string web_root;  // empty: the built-in page
  // PEM files; both set: the port speaks only TLS (https://, wss://).
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Answers /readyz: every backend the node needs answers. Blocking.
using ReadyProbe = std::function<Result<void>()>;

class Gateway final : public fanout::DeliverySink {
 public:
  // `fanout` learns which conversations and users this node follows.
  Gateway(Options options, chat::Service& service, fanout::FanOut& fanout, metrics::Metrics& metrics,
          ReadyProbe ready);
  ~Gateway() override;

  // Binds and starts the io threads; returns the bound port (useful with port 0).
  Result<uint16_t> Start();
  // Stops accepting, closes every WebSocket with 1001 (going away), waits up
  // to `grace` for connections to finish, then stops the io threads.
  void Shutdown(std::chrono::milliseconds grace);

  void Deliver(std::shared_ptr<const fanout::EventBatch> batch) override;
  void Resync() override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::gateway
