#include "cli/live.h"

#include <cstdio>

#include "cli/api.h"
#include "cli/errors.h"
#include "common/close_code.h"

namespace parley::cli {

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr auto kHelloTimeout = std::chrono::seconds(10);

}  // namespace

std::unique_ptr<client::WsClient> OpenSocket(Api& api,
                                             std::vector<std::pair<ConversationId, int64_t>> last_seq,
                                             protocol::Welcome* welcome) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string token = api.AccessToken(/*force=*/attempt > 0);
    auto ws = std::make_unique<client::WsClient>();
    if (auto r = ws->Connect(api.url().host, api.url().port, "/v1/ws", kConnectTimeout, api.tls()); !r) {
      throw Unreachable(api.login().server, r.error().message);
    }
    auto answer = ws->Call(protocol::HelloReq{token, last_seq, false}, kHelloTimeout);
    if (!answer) {
      if (answer.error().code != Errc::kUnavailable) {
        throw CliError(kExitRejected, "unexpected answer to hello: " + answer.error().message);
      }
      ws->WaitClosed(std::chrono::milliseconds(500));
      if (ws->close_code() == kCloseBadToken && attempt == 0) continue;
      if (ws->close_code() == kCloseBadToken) {
        throw CliError(kExitAuth, "the server refused this login; run 'parley login' again");
      }
      throw Unreachable(api.login().server, "no welcome (" + DescribeClose(*ws) + ")");
    }
    if (auto* error = std::get_if<protocol::ErrorAnswer>(&*answer)) {
      if (error->error.code == Errc::kUnauthorized && attempt == 0) continue;
      throw CliError(
          ExitCodeForErrc(error->error.code),
          "the server refused the connection: " + error->error.message + " (" + error->error.code_name + ")");
    }
    auto* welcomed = std::get_if<protocol::Welcome>(&*answer);
    if (welcomed == nullptr) throw CliError(kExitRejected, "unexpected answer to hello");
    if (welcome) *welcome = std::move(*welcomed);
    return ws;
  }
  throw CliError(kExitAuth, "the server refused this login; run 'parley login' again");
}

std::chrono::milliseconds Backoff::Next() {
  int64_t base = 500LL << std::min(attempt_, 10);
  base = std::min<int64_t>(base, max_.count());
  ++attempt_;
  std::uniform_int_distribution<int64_t> jitter(0, base / 4);
  return std::chrono::milliseconds(base - base / 8 + jitter(rng_));
}

std::string NewClientMsgId() {
  static std::mt19937_64 rng{
      std::random_device{}() ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  char buffer[32];
  uint64_t a = rng();
  uint32_t b = static_cast<uint32_t>(rng());
  std::snprintf(buffer, sizeof buffer, "cli-%016llx%08x", static_cast<unsigned long long>(a), b);
  return buffer;
}

std::string DescribeClose(const client::WsClient& ws) {
  if (auto code = ws.close_code()) {
    std::string reason = ws.close_reason();
    std::string text = "closed by the server, code " + std::to_string(*code);
    if (std::string_view meaning = CloseCodeMeaning(*code); !meaning.empty())
      text += ", " + std::string(meaning);
    if (!reason.empty()) text += ": " + reason;
    return text;
  }
  std::string error = ws.last_error();
  return error.empty() ? "connection closed" : error;
}

}  // namespace parley::cli
