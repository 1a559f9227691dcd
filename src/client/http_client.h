#pragma once
// HttpClient: a synchronous HTTP/1.1 client over one keep-alive connection.
//
// Owns one TCP connection to host:port (TLS over it when given TlsOptions:
// https, the certificate verified), opened on first use and reopened when
// the server closes it. Every operation has a deadline (`timeout`).
// Not thread-safe: one thread at a time. Beast stays in http_client.cc.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "client/tls.h"
#include "common/error.h"

namespace parley::client {

struct Response {
  int status = 0;                              // 0: transport failure, see `error`
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  boost::json::value json;  // the parsed body; null if not JSON
  std::string error;        // transport error text, empty on success

  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  // The header `name` (any case), or "".
  std::string Header(std::string_view name) const;
  // `json` as an object (an empty one when the body is not an object).
  const boost::json::object& Object() const;
  // "<status> <body>" for test and log messages.
  std::string Describe() const;
  // What a failed answer means: the code of its error body when it has one,
  // else its status's (a transport failure is kUnavailable, a status no code
  // answers with kInternal).
  Errc ErrorCode() const;
};

class HttpClient {
 public:
  // With `tls`, every connection is HTTPS; a certificate that fails
  // verification is a transport error starting with kUntrustedCertificate.
  HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10),
             std::optional<TlsOptions> tls = std::nullopt);
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `method target` with an optional body (JSON unless
  // `content_type` says otherwise: an upload's bytes) and bearer token and
  // reads the answer. A stale keep-alive connection is retried once on a new
  // connection; transport failures come back as status 0 with `error` set.
  Response Request(std::string_view method, std::string_view target,
                   std::optional<std::string> body = std::nullopt,
                   std::optional<std::string> bearer = std::nullopt,
                   std::string_view content_type = "application/json");

  Response Get(std::string_view target, std::optional<std::string> bearer = std::nullopt);
  Response Post(std::string_view target, const boost::json::object& body,
                std::optional<std::string> bearer = std::nullopt);
  Response Delete(std::string_view target, std::optional<std::string> bearer = std::nullopt);

  // Drops the connection; the next request opens a new one.
  void Disconnect();

  const std::string& host() const;
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::client
