#include "server/server.h"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "auth/auth.h"
#include "chat/service.h"
#include "common/logging.h"
#include "gateway/gateway.h"
#include "log/embedded/embedded_log.h"
#include "log/kafka/kafka_log.h"
#include "metrics/metrics.h"
#include "presence/embedded/embedded_presence.h"
#include "presence/redis/redis_presence.h"
#include "sequencer/sequencer.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

namespace parley::server {
namespace fs = std::filesystem;

struct Server::Parts {
  config::Config config;
  metrics::Metrics metrics;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<log::MessageLog> log;
  std::unique_ptr<presence::PresenceRegistry> registry;
  std::unique_ptr<presence::FanOut> fanout;
  std::unique_ptr<auth::TokenIssuer> tokens;
  std::unique_ptr<auth::PasswordHasher> hasher;
  std::unique_ptr<auth::ExternalVerifier> external;
  std::unique_ptr<chat::Service> service;
  std::unique_ptr<sequencer::Sequencer> sequencer;
  std::unique_ptr<gateway::Gateway> gateway;
  boost::asio::thread_pool background{1};  // presence callbacks that must not block their caller
  bool stopped = false;
};

namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("server");
  return log;
}

// "host:port" -> parts (config has validated the shape).
std::pair<std::string, uint16_t> SplitListen(const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  return {host, static_cast<uint16_t>(std::stoi(listen.substr(colon + 1)))};
}

// The web client: the configured folder, else the source tree's web/ when
// this binary was built from one that still exists, else the built-in page.
std::string WebRoot(const config::Config& c) {
  if (!c.server.web_root.empty()) return c.server.web_root;
#ifdef PARLEY_DEFAULT_WEB_ROOT
  std::error_code ec;
  if (fs::exists(fs::path(PARLEY_DEFAULT_WEB_ROOT) / "index.html", ec)) return PARLEY_DEFAULT_WEB_ROOT;
#endif
  return {};
}

Result<std::unique_ptr<store::Store>> OpenStore(const config::Config& c) {
  if (c.store.backend == "sqlite") {
    std::string path = c.store.sqlite_path.empty() ? (fs::path(c.server.data_dir) / "parley.db").string()
                                                   : c.store.sqlite_path;
    return store::sqlite::Open({.path = path,
                                .synchronous_full = c.store.synchronous == "full",
                                .readers = std::max(2, c.server.blocking_threads)});
  }
  if (c.store.backend == "postgres") {
    if (c.store.postgres_url.empty())
      return MakeError(Errc::kBadRequest, "store.postgres_url is required for postgres");
    return store::postgres::Open({.conninfo = c.store.postgres_url, .pool = c.store.postgres_pool});
  }
  return MakeError(Errc::kBadRequest, "unknown store.backend '" + c.store.backend + "'");
}

Result<std::unique_ptr<log::MessageLog>> OpenLog(const config::Config& c) {
  if (c.log.backend == "embedded") return log::embedded::Create({.partitions = c.log.partitions});
  if (c.log.backend == "kafka") {
    log::kafka::Options o;
    o.brokers = c.log.kafka_brokers;
    o.topic = c.log.kafka_topic;
    o.group = c.log.kafka_group;
    o.partitions = c.log.partitions;
    o.client_id = "parleyd-" + std::to_string(c.server.node_id);
    o.fetch_wait_max_ms = c.log.kafka_fetch_wait_max_ms;
    return log::kafka::Create(o);
  }
  return MakeError(Errc::kBadRequest, "unknown log.backend '" + c.log.backend + "'");
}

// "a, b,c" -> {"a", "b", "c"} (empty items dropped).
std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

auth::ThrottleOptions LoginThrottleOptions(const config::AuthConfig& a) {
  return {.window_ms = int64_t{a.login_window_s} * 1000,
          .max_per_account = a.login_max_failures_per_account,
          .max_per_address = a.login_max_failures_per_address,
          .max_entries = static_cast<size_t>(a.login_throttle_max_entries)};
}

}  // namespace

Server::Server(std::unique_ptr<Parts> parts) : p_(std::move(parts)) {}

Server::~Server() { Stop(); }

Result<std::unique_ptr<Server>> Server::Create(const config::Config& c) {
  auto p = std::make_unique<Parts>();
  p->config = c;
  std::error_code ec;
  fs::create_directories(c.server.data_dir, ec);
  if (ec)
    return MakeError(Errc::kUnavailable,
                     "cannot create data dir '" + c.server.data_dir + "': " + ec.message());

  std::string secret = c.auth.jwt_secret;
  if (secret.empty()) {
    auto s = auth::LoadOrCreateSecret((fs::path(c.server.data_dir) / "jwt.secret").string());
    if (!s) return std::move(s).error();
    secret = *s;
  }
  auto strength = auth::ParseStrength(c.auth.password_strength);
  if (!strength) return std::move(strength).error();

  auto store = OpenStore(c);
  if (!store) return std::move(store).error();
  p->store = std::move(store).value();
  auto message_log = OpenLog(c);
  if (!message_log) return std::move(message_log).error();
  p->log = std::move(message_log).value();
  if (c.presence.backend == "redis") {
    auto [host, port] = SplitListen(c.presence.redis_address);
    auto backend = presence::redis::Create(
        {.host = host, .port = port, .node_id = c.server.node_id, .heartbeat_ms = c.limits.heartbeat_ms});
    if (!backend) return std::move(backend).error();
    p->registry = std::move(backend->registry);
    p->fanout = std::move(backend->fanout);
  } else if (c.presence.backend == "embedded") {
    p->registry = presence::embedded::CreateRegistry();
    p->fanout = presence::embedded::CreateFanOut();
  } else {
    return MakeError(Errc::kBadRequest, "unknown presence.backend '" + c.presence.backend + "'");
  }
  p->tokens = std::make_unique<auth::TokenIssuer>(secret, c.auth.access_ttl_s, SystemClock::Instance());
  p->hasher = std::make_unique<auth::PasswordHasher>(*strength);
  if (!c.auth.issuer_public_key_file.empty()) {
    auto verifier = auth::ExternalVerifier::FromPemFile(c.auth.issuer_public_key_file, c.auth.issuer,
                                                        SystemClock::Instance());
    if (!verifier) return std::move(verifier).error();
    p->external = std::move(verifier).value();
  }

  const auto& l = c.limits;
  p->service =
      std::make_unique<chat::Service>(chat::Deps{*p->store, *p->log, *p->fanout, *p->registry, *p->tokens,
                                                 *p->hasher, SystemClock::Instance(), p->external.get()},
                                      chat::Options{.max_body_bytes = l.max_body_bytes,
                                                    .send_rate_per_s = l.send_rate_per_s,
                                                    .send_burst = l.send_burst,
                                                    .resume_limit = l.resume_limit,
                                                    .presence_group_limit = l.presence_group_limit,
                                                    .typing_interval_ms = l.typing_interval_ms,
                                                    .max_group_members = l.max_group_members,
                                                    .refresh_ttl_s = c.auth.refresh_ttl_s,
                                                    .login_throttle = LoginThrottleOptions(c.auth),
                                                    .trusted_proxies = SplitList(c.auth.trusted_proxies),
                                                    .revocation_cache_ms = c.auth.revocation_cache_ms});

  metrics::Metrics& m = p->metrics;
  if (c.store.backend == "sqlite")
    m.store_memory = [] { return static_cast<double>(store::sqlite::MemoryUsed()); };
  p->sequencer = std::make_unique<sequencer::Sequencer>(
      *p->log, *p->store, *p->fanout, SystemClock::Instance(),
      sequencer::Options{.batch_max = static_cast<size_t>(c.store.commit_batch_max),
                         .node_id = c.server.node_id},
      sequencer::Observer{.on_commit =
                              [&m](size_t n, double s) {
                                m.commit_batch_size.Observe(static_cast<double>(n));
                                m.commit_seconds.Observe(s);
                              },
                          .on_commit_error = [&m] { m.commit_errors.Increment(); }});

  auto [host, port] = SplitListen(c.server.listen);
  int threads = c.server.threads > 0 ? c.server.threads
                                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Parts* raw = p.get();
  p->gateway =
      std::make_unique<gateway::Gateway>(gateway::Options{.host = host,
                                                          .port = port,
                                                          .threads = threads,
                                                          .blocking_threads = c.server.blocking_threads,
                                                          .node_id = c.server.node_id,
                                                          .max_frame_bytes = l.max_frame_bytes,
                                                          .max_http_body_bytes = l.max_http_body_bytes,
                                                          .max_queue_bytes = l.max_queue_bytes,
                                                          .max_connections = l.max_connections,
                                                          .hello_timeout_ms = l.hello_timeout_ms,
                                                          .heartbeat_ms = l.heartbeat_ms,
                                                          .send_rate_per_s = l.send_rate_per_s,
                                                          .abuse_factor = l.abuse_factor,
                                                          .web_root = WebRoot(c),
                                                          .tls_cert_file = c.server.tls_cert_file,
                                                          .tls_key_file = c.server.tls_key_file},
                                         *p->service, *p->fanout, p->metrics, [raw]() -> Result<void> {
                                           if (auto ok = raw->store->Ping(); !ok) return ok;
                                           if (auto ok = raw->log->Ping(); !ok) return ok;
                                           return raw->registry->Ping();
                                         });
  p->fanout->SetSink(p->gateway.get());
  // Users whose node died (their leases lapsed): last_seen and offline
  // events, off the registry's own thread.
  p->registry->SetOfflineListener([raw](std::vector<UserId> users) {
    boost::asio::post(raw->background, [raw, users = std::move(users)] { raw->service->WentOffline(users); });
  });
  return std::unique_ptr<Server>(new Server(std::move(p)));
}

Result<uint16_t> Server::Start() {
  p_->sequencer->Start();
  auto port = p_->gateway->Start();
  if (!port) return port;
  const auto& c = p_->config;
  if (!c.server.port_file.empty()) {
    std::string tmp = c.server.port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << *port << "\n";
    }
    fs::rename(tmp, c.server.port_file);
  }
  auto [host, _] = SplitListen(c.server.listen);
  Log()->info("parleyd listening on {}://{}:{} (node {}, store {}, log {}, presence {})",
              c.server.tls_cert_file.empty() ? "http" : "https", host, *port, c.server.node_id,
              c.store.backend, c.log.backend, c.presence.backend);
  return port;
}

void Server::Stop() {
  if (!p_ || p_->stopped) return;
  p_->stopped = true;
  Log()->info("shutting down: closing clients");
  p_->gateway->Shutdown(std::chrono::milliseconds(p_->config.server.shutdown_grace_ms));
  p_->sequencer->Stop();  // commits what was already accepted
  p_->log->Close();       // commits offsets, leaves the consumer group at once
  p_->registry->SetOfflineListener(nullptr);
  p_->background.join();
  p_->fanout->SetSink(nullptr);  // no delivery into a stopped gateway
  p_->store.reset();
  Log()->info("stopped");
}

int RunParleyd(int argc, const char* const* argv, const char* const* envp) {
  auto loaded = config::Load(argc, argv, envp);
  if (!loaded) {
    std::cerr << "parleyd: " << loaded.error().message << "\n";
    return 2;
  }
  if (loaded->exit_now) return 0;
  if (loaded->print_config) {
    std::cout << config::ToToml(loaded->config);
    return 0;
  }
  const config::Config& c = loaded->config;
  spdlog::set_level(spdlog::level::from_str(c.server.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");

  // Signals are taken by sigwait on this thread only: block them before any
  // other thread starts so they inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto server = Server::Create(c);
  if (!server) {
    std::cerr << "parleyd: " << server.error().message << "\n";
    return 1;
  }
  auto port = (*server)->Start();
  if (!port) {
    std::cerr << "parleyd: " << port.error().message << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  Log()->info("received {}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Stop();
  return 0;
}

}  // namespace parley::server
