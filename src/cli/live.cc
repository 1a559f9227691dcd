#include "cli/live.h"

#include <cstdio>

#include "cli/api.h"
#include "cli/errors.h"
#include "client/json_util.h"

namespace parley::cli {

namespace json = boost::json;
using client::GetString;

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr auto kHelloTimeout = std::chrono::seconds(10);
constexpr int kCloseBadToken = 4003;

}  // namespace

std::unique_ptr<client::WsClient> OpenSocket(Api& api, const json::value& last_seq, json::object* welcome) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string token = api.AccessToken(/*force=*/attempt > 0);
    auto ws = std::make_unique<client::WsClient>();
    if (auto r = ws->Connect(api.url().host, api.url().port, "/v1/ws", kConnectTimeout); !r) {
      throw Unreachable(api.config().server, r.error().message);
    }
    auto answer = ws->Hello(token, last_seq, kHelloTimeout);
    if (!answer) {
      ws->WaitClosed(std::chrono::milliseconds(500));
      if (ws->close_code() == kCloseBadToken && attempt == 0) continue;
      if (ws->close_code() == kCloseBadToken) {
        throw CliError(kExitAuth, "the server refused this login; run 'parley login' again");
      }
      throw Unreachable(api.config().server, "no welcome (" + DescribeClose(*ws) + ")");
    }
    if (GetString(*answer, "type") == "error") {
      std::string code = GetString(*answer, "code");
      if (code == "unauthorized" && attempt == 0) continue;
      throw CliError(ExitCodeForWireCode(code), "the server refused the connection: " +
                                                    GetString(*answer, "message") + " (" + code + ")");
    }
    if (GetString(*answer, "type") != "welcome") {
      throw CliError(kExitRejected, "unexpected answer to hello: " + GetString(*answer, "type"));
    }
    if (welcome) *welcome = std::move(*answer);
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
    if (*code == 1001) text += ", going away";
    if (*code == 4003) text += ", login refused";
    if (!reason.empty()) text += ": " + reason;
    return text;
  }
  std::string error = ws.last_error();
  return error.empty() ? "connection closed" : error;
}

}  // namespace parley::cli
