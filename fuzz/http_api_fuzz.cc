// Fuzzes the HTTP API (gateway::HttpApi::Handle), a pure function of a
// request, over a real chat::Service: SQLite store in a temp folder, the
// embedded log and presence, a sequencer, as src/server/server.cc wires
// them. Set up once: alice, bob and carol, a DM and a group with messages,
// and a web root beside a file that must never be served.
// Input: "METHOD TARGET" on the first line, the Authorization header on the
// second, the body after. In all of it, $A and $B become alice's and bob's
// access tokens, $R alice's refresh token, $D and $G the DM's and the
// group's ids, so the fuzzer reaches the authenticated routes.
// Checks: every answer has a known status; JSON answers parse; errors are
// {"error":{"code","message"}}; nothing outside the web root is served.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "chat/service.h"
#include "gateway/http_api.h"
#include "log/embedded/embedded_log.h"
#include "metrics/metrics.h"
#include "fanout/local_fanout.h"
#include "presence/embedded/embedded_presence.h"
#include "sequencer/sequencer.h"
#include "store/sqlite/sqlite_store.h"
#include "fixed_randomness.h"

using namespace parley;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr std::string_view kSecretMarker = "PARLEY-FUZZ-OUTSIDE-THE-WEB-ROOT";

class NullSink : public fanout::DeliverySink {
 public:
  void Deliver(std::shared_ptr<const fanout::EventBatch>) override {}
};

struct World {
  fs::path dir;
  ManualClock clock;
  auth::TokenIssuer tokens{std::string(64, 's'), 900, clock};
  auth::PasswordHasher hasher{auth::PasswordStrength::kMin};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<log::MessageLog> log;
  std::unique_ptr<presence::PresenceRegistry> registry;
  std::unique_ptr<fanout::FanOut> fanout;
  NullSink sink;
  std::unique_ptr<chat::Service> service;
  std::unique_ptr<sequencer::Sequencer> sequencer;
  metrics::Metrics metrics;
  std::unique_ptr<gateway::HttpApi> api;
  std::string alice, bob, refresh, dm, group;

  World() {
    char tmpl[] = "/tmp/parley-http-api-fuzz-XXXXXX";
    Check(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    static const std::string* folder = new std::string(dir.string());
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(*folder, ec);
    });
    fs::create_directories(dir / "web" / "sub");
    std::ofstream(dir / "web" / "index.html") << "<!doctype html><title>fuzz</title>";
    std::ofstream(dir / "web" / "sub" / "app.js") << "export {};";
    std::ofstream(dir / "secret.txt") << kSecretMarker;
    std::ofstream(dir / "web" / "sub" / "..secret") << kSecretMarker;  // ".." in a name is refused too

    store =
        std::move(store::sqlite::Open({.path = (dir / "t.db").string(), .synchronous_full = false})).value();
    log = log::embedded::Create({.partitions = 2});
    registry = presence::embedded::CreateRegistry();
    fanout = fanout::CreateLocal();
    fanout->SetSink(&sink);
    service = std::make_unique<chat::Service>(
        chat::Deps{*store, *log, *fanout, *registry, tokens, hasher, clock}, chat::Options{});
    sequencer = std::make_unique<sequencer::Sequencer>(*log, *store, *fanout, clock, sequencer::Options{});
    api = std::make_unique<gateway::HttpApi>(
        *service, metrics, [] { return Ok(); }, (dir / "web").string());

    auto a = service->Register("alice", "password1", "Alice");
    auto b = service->Register("bob", "password1", "");
    auto c = service->Register("carol", "password1", "");
    Check(a && b && c);
    alice = a->access_token;
    bob = b->access_token;
    refresh = a->refresh_token;
    auto d = service->OpenDm(a->user.id, "bob");
    auto g = service->CreateGroup(a->user.id, "fuzz", {"bob", "carol"});
    Check(d && g);
    dm = d->id.ToString();
    group = g->id.ToString();
    for (int i = 0; i < 20; ++i) {
      Check(service
                ->Send(a->user.id, protocol::SendReq{i % 2 ? d->id : g->id, "m" + std::to_string(i), "hi"},
                       log::Origin{1, 0, 1, i})
                .ok());
    }
    while (sequencer->RunOnce(std::chrono::milliseconds(0)) > 0) {
    }
  }
};

World& GetWorld() {
  static World* world = new World();
  return *world;
}

std::string Expand(std::string_view in, const World& w) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '$' && i + 1 < in.size()) {
      const std::string* sub = nullptr;
      switch (in[i + 1]) {
        case 'A':
          sub = &w.alice;
          break;
        case 'B':
          sub = &w.bob;
          break;
        case 'R':
          sub = &w.refresh;
          break;
        case 'D':
          sub = &w.dm;
          break;
        case 'G':
          sub = &w.group;
          break;
      }
      if (sub) {
        out += *sub;
        ++i;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

}  // namespace

// Set-up (key generation, the store) before the first input, outside its timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::FixRandomness();
  GetWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  World& w = GetWorld();
  std::string in = Expand(std::string_view(reinterpret_cast<const char*>(data), size), w);
  gateway::ApiRequest req;
  size_t nl1 = in.find('\n');
  std::string first = in.substr(0, nl1);
  size_t sp = first.find(' ');
  req.method = first.substr(0, sp);
  req.target = sp == std::string::npos ? "/" : first.substr(sp + 1);
  if (nl1 != std::string::npos) {
    size_t nl2 = in.find('\n', nl1 + 1);
    req.authorization = in.substr(nl1 + 1, nl2 == std::string::npos ? std::string::npos : nl2 - nl1 - 1);
    if (nl2 != std::string::npos) req.body = in.substr(nl2 + 1);
  }

  gateway::ApiResponse r = w.api->Handle(req);
  w.clock.Advance(1);

  static constexpr int kStatuses[] = {200, 201, 204, 400, 401, 403, 404, 409, 413, 429, 503};
  bool known = false;
  for (int s : kStatuses) known = known || r.status == s;
  Check(known);  // 500 included: an internal error on any input is a bug
  Check(r.body.find(kSecretMarker) == std::string::npos);
  Check(r.body.rfind("SQLite format 3", 0) != 0);
  if (r.content_type == "application/json") {
    std::error_code ec;
    json::value v = json::parse(r.body, ec);
    Check(!ec);
    if (r.status >= 400) {
      const json::value* e = v.is_object() ? v.as_object().if_contains("error") : nullptr;
      Check(e && e->is_object() && e->as_object().contains("code") && e->as_object().contains("message"));
    }
  }
  if (r.status == 204) Check(r.body.empty());
  return 0;
}
