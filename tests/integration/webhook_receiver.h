#pragma once
// A real local HTTP receiver for the webhook suites: plain sockets on a
// loopback port, one thread per connection, each request recorded and
// answered as the test's policy says (a status, a delay, a hang, a huge
// body). Owned by the test thread; its threads end in the destructor.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace parley::testing {

class WebhookReceiver {
 public:
  struct Request {
    std::string target;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    int64_t received_ms = 0;  // wall clock, ms since the epoch
  };
  struct Reply {
    int status = 200;
    std::chrono::milliseconds delay{0};
    bool hang = false;      // never answer (until the peer gives up)
    size_t body_bytes = 2;  // answer body size ("{}" by default)
  };
  using Policy = std::function<Reply(const Request&)>;

  explicit WebhookReceiver(Policy policy = {});
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  uint16_t port() const { return port_; }
  std::string Url(const std::string& path = "/hook") const;
  // Every request received so far (answered or not), in arrival order.
  std::vector<Request> Requests();
  // Waits until `done(requests)` holds; false on timeout.
  bool WaitFor(const std::function<bool(const std::vector<Request>&)>& done,
               std::chrono::milliseconds timeout);

 private:
  void AcceptLoop();
  void Serve(int fd);

  Policy policy_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Request> requests_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace parley::testing
