#pragma once
// The HTTP API of PROTOCOL.md section 1 as plain functions of a request: no
// sockets here, so it is testable and the Beast code stays small. Handle()
// blocks (store, password hashing): the gateway calls it on a worker thread.
#include <string>

#include "gateway/gateway.h"

namespace parley::gateway {

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query
  std::string body;
  std::string authorization;  // the Authorization header, verbatim
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

class HttpApi {
 public:
  HttpApi(chat::Service& service, metrics::Metrics& metrics, ReadyProbe ready, std::string web_root);
  ApiResponse Handle(const ApiRequest& request);

 private:
  ApiResponse Static(const std::string& path);

  chat::Service& service_;
  metrics::Metrics& metrics_;
  ReadyProbe ready_;
  std::string web_root_;
};

}  // namespace parley::gateway
