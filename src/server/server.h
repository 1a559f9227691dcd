#pragma once
// The composition root: configuration in, running components out. The only
// place that names every backend; everything else sees interfaces.
#include <memory>

#include "common/result.h"
#include "config/config.h"

namespace parley::server {

class Server {
 public:
  // Opens the store, creates the backends the configuration names, and wires
  // them; binds nothing yet. kBadRequest/kUnavailable with a clear message.
  static Result<std::unique_ptr<Server>> Create(const config::Config& config);
  ~Server();

  // Starts the sequencer and the gateway; returns the bound port.
  Result<uint16_t> Start();
  // Two phases with a deadline: stop accepting and close clients with 1001,
  // then drain the sequencer, close the log and the store.
  void Stop();

  struct Parts;

 private:
  explicit Server(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> p_;
};

// parleyd's main(): parse the configuration, run until SIGTERM/SIGINT.
int RunParleyd(int argc, const char* const* argv, const char* const* envp);

}  // namespace parley::server
