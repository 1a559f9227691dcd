#pragma once
// The HTTP API of PROTOCOL.md section 1 as plain functions of a request: no
// sockets here, so it is testable and the Beast code stays small. A table of
// routes (method + path pattern -> handler, in http_api.cc) says which call
// is which. Handle() blocks (store, password hashing): the gateway calls it
// on a worker thread; it touches no state of its own, so any thread may.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/uploads.h"
#include "gateway/gateway.h"
#include "gateway/http_answers.h"

namespace parley::gateway {

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query
  std::string body;
  std::string authorization;  // the Authorization header, verbatim
  // The TCP peer's IP address ("" when unknown): with `forwarded_for`, the
  // client address the login throttle counts (auth::ResolveClientAddress).
  std::string peer_address;
  std::string forwarded_for;  // the X-Forwarded-For header, verbatim
  std::string range;          // the Range header, verbatim (GET /v1/uploads/{id})
  std::string content_type;   // the Content-Type header, verbatim (POST /v1/uploads)
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // Extra response headers (e.g. Retry-After on a 429).
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is produced a piece at a time instead (`body` is
  // unused): each call blocks, returns the next piece, "" at the end, or
  // an error that leaves the response unfinished. The listener sends each
  // piece as an HTTP chunk and asks for the next only once it is written,
  // so one piece at a time is in memory (GET /v1/me/export).
  std::function<Result<std::string>()> stream{};
  // With `stream`: the body is exactly this many bytes, sent as they come
  // with a Content-Length rather than in chunks (a download: players and
  // browsers want its length). Also the Content-Length of a HEAD answer.
  std::optional<int64_t> content_length{};
};

// One HTTP route: its method and path ("/v1/users/{username}"; a "{...}"
// segment is a parameter). What the OpenAPI description must match.
struct RouteInfo {
  std::string method;
  std::string path;
};

// What the calls that are about the answering node need of it (PROTOCOL.md
// §7's admin calls): its id (where the sequencer sends an answer), where
// answers to HTTP requests arrive, and when it started.
struct NodeInfo {
  int64_t node_id = 1;
  HttpAnswers* answers = nullptr;  // null: calls that wait for a commit answer 503
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

class HttpApi {
 public:
  HttpApi(chat::Service& service, metrics::Metrics& metrics, ReadyProbe ready, std::string web_root,
          NodeInfo node = {});
  // Every route Handle answers (the table's, and those answered before it:
  // /healthz, /readyz, /metrics; and the WebSocket upgrade the listener
  // takes), in table order.
  static std::vector<RouteInfo> Routes();
  // Answers one request; every error answer (4xx/5xx) is counted in
  // parley_errors_total by its code.
  ApiResponse Handle(const ApiRequest& request);
  // An error the listener answers before a request reaches Handle (a body
  // over the limit, the connection limit, an upgrade elsewhere than
  // /v1/ws): the same body, and counted the same way.
  ApiResponse Refuse(Errc code, std::string message);

  // --- POST /v1/uploads (PROTOCOL.md §6; upload_api.cc) --------------------------
  // The listener streams an upload's body instead of reading it whole: with
  // the header only it asks BeginUpload, writes each piece of the body to
  // the sink as it arrives, then asks FinishUpload. Each call blocks.
  //
  // Whether a request is an upload (by its method and target).
  static bool IsUpload(std::string_view method, std::string_view target);
  struct UploadStart {
    std::unique_ptr<chat::UploadSink> sink;  // null: refused
    ApiResponse refusal;                     // the answer when refused
  };
  // Checks the token, the `name` query parameter and a declared
  // Content-Length against limits.max_upload_bytes, and opens the sink.
  UploadStart BeginUpload(const ApiRequest& request, std::optional<uint64_t> content_length);
  // 201 {"upload": Upload}, or the error that kept it.
  ApiResponse FinishUpload(chat::UploadSink& sink);
  // The answer when the sink refused a piece (413, or the store failed).
  ApiResponse UploadFailed(const Error& error);

 private:
  ApiResponse Dispatch(const ApiRequest& request);
  ApiResponse Static(const std::string& path);

  chat::Service& service_;
  metrics::Metrics& metrics_;
  ReadyProbe ready_;
  std::string web_root_;
  NodeInfo node_;
};

// An error answer (PROTOCOL.md §1's body, with the status of its code),
// as every route gives it.
ApiResponse ErrorResponse(const Error& error);
// The caller named by the request's `Authorization: Bearer` token.
Result<UserId> AuthenticatedCaller(chat::Service& service, const ApiRequest& request);

}  // namespace parley::gateway
