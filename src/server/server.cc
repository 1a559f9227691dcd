#include "server/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include "auth/auth.h"
#include "chat/service.h"
#include "common/logging.h"
#include "gateway/gateway.h"
#include "log/embedded/embedded_log.h"
#include "log/kafka/kafka_log.h"
#include "metrics/metrics.h"
#include "fanout/local_fanout.h"
#include "presence/embedded/embedded_presence.h"
#include "presence/redis/redis_presence.h"
#include "push/sender.h"
#include "push/vapid.h"
#include "sequencer/sequencer.h"
#include "server/backup.h"
#include "webhooks/dispatcher.h"
#include "webhooks/target.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"
#include "uploads/file_blob_store.h"
#include "uploads/postgres/postgres_blob_store.h"
#include "uploads/url_signer.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
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
  std::unique_ptr<fanout::FanOut> fanout;
  std::unique_ptr<SharedLimits> limits;  // null on one node
  // The newest entries of each conversation in Redis (a cluster's resumes
  // read them); null on one node or when presence.redis_recent_entries is 0.
  std::unique_ptr<store::RecentEntries> recent;
  std::unique_ptr<auth::TokenIssuer> tokens;
  std::unique_ptr<auth::PasswordHasher> hasher;
  std::unique_ptr<auth::ExternalVerifier> external;
  std::unique_ptr<uploads::BlobStore> blobs;
  std::unique_ptr<uploads::UrlSigner> url_signer;
  push::Vapid vapid;                     // the VAPID key, read from (or made in) the store
  std::unique_ptr<push::Sender> pusher;  // Web Push of this node's commits
  std::unique_ptr<chat::Service> service;
  std::unique_ptr<webhooks::Dispatcher> webhooks;  // delivery of PROTOCOL.md §8's webhooks, own threads
  std::unique_ptr<sequencer::Sequencer> sequencer;
  std::unique_ptr<gateway::Gateway> gateway;
  boost::asio::thread_pool background{1};  // presence callbacks that must not block their caller
  // The collector of unattached uploads, run on `background` (so declared
  // after it: destroyed first).
  std::unique_ptr<boost::asio::steady_timer> collector;
  // The flush of users lingering after an abrupt close (Service::FlushLingering).
  std::unique_ptr<boost::asio::steady_timer> lingering;
  std::atomic<bool> collecting{true};
  bool stopped = false;
};

namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("server");
  return log;
}

// The address the gateway binds for the configured listen host (config has
// checked it is an IP address or a host name). Host names are resolved here,
// once, at start-up; "localhost" is 127.0.0.1 whatever the resolver prefers.
Result<std::string> ListenAddress(const std::string& host) {
  std::string lower = host;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (lower == "localhost") return std::string("127.0.0.1");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || found == nullptr) {
    return MakeError(Errc::kBadRequest,
                     "server.listen: cannot resolve host '" + host + "': " + gai_strerror(rc));
  }
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr =
      found->ai_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
  const bool ok = inet_ntop(found->ai_family, addr, text, sizeof text) != nullptr;
  freeaddrinfo(found);
  if (!ok) return MakeError(Errc::kBadRequest, "server.listen: cannot use the address of '" + host + "'");
  return std::string(text);
}

// The web client: the configured folder, else the source tree's web/ when
// this binary was built from one that still exists, else the built-in page.
std::string WebRoot(const std::string& configured) {
  if (!configured.empty()) return configured;
#ifdef PARLEY_DEFAULT_WEB_ROOT
  std::error_code ec;
  if (fs::exists(fs::path(PARLEY_DEFAULT_WEB_ROOT) / "index.html", ec)) return PARLEY_DEFAULT_WEB_ROOT;
#endif
  return {};
}

// Opens the configured store; SQLite also reports its memory to `m`.
Result<std::unique_ptr<store::Store>> OpenStore(const config::Config& c, metrics::Metrics& m) {
  switch (c.store.backend) {
    case config::StoreBackend::kSqlite: {
      store::sqlite::Options o = c.store.sqlite;
      if (o.path.empty()) o.path = (fs::path(c.server.data_dir) / "parley.db").string();
      o.readers = std::max(2, c.gateway.blocking_threads);
      m.store_memory = [] { return static_cast<double>(store::sqlite::MemoryUsed()); };
      return store::sqlite::Open(o);
    }
    case config::StoreBackend::kPostgres:
      if (c.store.postgres.conninfo.empty())
        return MakeError(Errc::kBadRequest, "store.postgres_url is required for postgres");
      return store::postgres::Open(c.store.postgres);
  }
  return MakeError(Errc::kInternal, "store.backend out of range");
}

Result<std::unique_ptr<log::MessageLog>> OpenLog(
    const config::Config& c, std::function<void(const log::SendRequest&, const Error&)> on_undelivered) {
  switch (c.log.backend) {
    case config::LogBackend::kEmbedded:
      return log::embedded::Create(c.log.embedded);
    case config::LogBackend::kKafka: {
      log::kafka::Options o = c.log.kafka;
      if (o.client_id.empty()) o.client_id = "parleyd-" + std::to_string(c.gateway.node_id);
      o.on_undelivered = std::move(on_undelivered);
      return log::kafka::Create(o);
    }
  }
  return MakeError(Errc::kInternal, "log.backend out of range");
}

// Where upload bytes live (PROTOCOL.md §6).
Result<std::unique_ptr<uploads::BlobStore>> OpenBlobs(const config::Config& c) {
  switch (c.uploads.backend) {
    case config::UploadBackend::kFiles: {
      std::string dir =
          c.uploads.dir.empty() ? (fs::path(c.server.data_dir) / "uploads").string() : c.uploads.dir;
      return uploads::OpenFileBlobStore(dir);
    }
    case config::UploadBackend::kPostgres:
      if (c.store.postgres.conninfo.empty())
        return MakeError(Errc::kBadRequest, "uploads.backend = postgres needs store.postgres_url");
      if (c.store.backend != config::StoreBackend::kPostgres)
        return MakeError(Errc::kBadRequest, "uploads.backend = postgres needs store.backend = postgres");
      return uploads::postgres::Open(uploads::postgres::Options{.conninfo = c.store.postgres.conninfo});
  }
  return MakeError(Errc::kInternal, "uploads.backend out of range");
}

// Runs the collector of unattached uploads every quarter of their age (at
// least every second, at most every hour), on the background thread.
void ScheduleCollect(Server::Parts* p) {
  const int64_t every_s = std::clamp<int64_t>(p->config.chat.upload_collect_after_s / 4, 1, 3600);
  p->collector->expires_after(std::chrono::seconds(every_s));
  p->collector->async_wait([p](boost::system::error_code ec) {
    if (ec || !p->collecting.load()) return;
    if (auto n = p->service->CollectUploads(); !n.ok()) {
      Log()->warn("collecting unattached uploads failed: {}", n.error().message);
    }
    if (p->collecting.load()) ScheduleCollect(p);
  });
}

// Removes the sessions whose grace after a cut is over, every quarter of
// the grace (at most every 250 ms), on the background thread.
void ScheduleLingering(Server::Parts* p) {
  const int64_t every_ms = std::clamp<int64_t>(p->config.chat.offline_grace_ms / 4, 10, 250);
  p->lingering->expires_after(std::chrono::milliseconds(every_ms));
  p->lingering->async_wait([p](boost::system::error_code ec) {
    if (ec || !p->collecting.load()) return;
    p->service->FlushLingering();
    if (p->collecting.load()) ScheduleLingering(p);
  });
}

// The presence registry and the fan-out, which a backend provides together,
// and in a cluster the counters of the limits the nodes share.
struct Presence {
  std::unique_ptr<presence::PresenceRegistry> registry;
  std::unique_ptr<fanout::FanOut> fanout;
  std::unique_ptr<SharedLimits> limits{};
  std::unique_ptr<store::RecentEntries> recent{};
};

Result<Presence> OpenPresence(const config::Config& c) {
  switch (c.presence.backend) {
    case config::PresenceBackend::kEmbedded:
      return Presence{presence::embedded::CreateRegistry(), fanout::CreateLocal()};
    case config::PresenceBackend::kRedis: {
      auto backend = presence::redis::Create(c.presence.redis);
      if (!backend) return std::move(backend).error();
      return Presence{std::move(backend->registry), std::move(backend->fanout), std::move(backend->limits),
                      std::move(backend->recent)};
    }
  }
  return MakeError(Errc::kInternal, "presence.backend out of range");
}

}  // namespace

Server::Server(std::unique_ptr<Parts> parts) : p_(std::move(parts)) {}

Server::~Server() { Stop(); }

Result<std::unique_ptr<Server>> Server::Create(const config::Config& c) {
  // Resolved first: a listen host that does not resolve fails before any
  // state is created.
  auto address = ListenAddress(c.gateway.host);
  if (!address) return std::move(address).error();
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

  auto store = OpenStore(c, p->metrics);
  if (!store) return std::move(store).error();
  p->store = std::move(store).value();
  Parts* raw = p.get();
  // A send Kafka accepted but could not store never reaches the sequencer:
  // count it and answer its sender `unavailable` now, as a failed commit is
  // answered, rather than leave the client to time out. (No send is
  // appended before Start, so the fan-out exists by then; the log stops
  // reporting at Close, before Stop takes anything down.)
  auto message_log = OpenLog(c, [raw](const log::SendRequest& send, const Error& error) {
    raw->metrics.log_undelivered.Increment();
    raw->fanout->Publish({sequencer::ErrorAnswer(send.origin, error)});
  });
  if (!message_log) return std::move(message_log).error();
  p->log = std::move(message_log).value();
  auto presence = OpenPresence(c);
  if (!presence) return std::move(presence).error();
  p->registry = std::move(presence->registry);
  p->fanout = std::move(presence->fanout);
  p->limits = std::move(presence->limits);
  p->recent = std::move(presence->recent);
  p->tokens = std::make_unique<auth::TokenIssuer>(secret, c.auth.access_ttl_s, SystemClock::Instance());
  p->hasher = std::make_unique<auth::PasswordHasher>(*strength);
  if (!c.auth.issuer_public_key_file.empty()) {
    auto verifier = auth::ExternalVerifier::FromPemFile(c.auth.issuer_public_key_file, c.auth.issuer,
                                                        SystemClock::Instance());
    if (!verifier) return std::move(verifier).error();
    p->external = std::move(verifier).value();
  }

  auto blobs = OpenBlobs(c);
  if (!blobs) return std::move(blobs).error();
  p->blobs = std::move(blobs).value();
  p->url_signer = std::make_unique<uploads::UrlSigner>(secret);
  auto vapid = push::LoadOrCreateVapid(*p->store, c.chat.push.vapid_subject);
  if (!vapid) return std::move(vapid).error();
  p->vapid = std::move(vapid).value();

  // A webhook's target is checked when it is made; the delivery checks the
  // addresses again on every POST (webhooks/target.h).
  auto check_webhook_url = [allow = c.webhooks.allow_private_addresses](std::string_view url) {
    return webhooks::CheckTargetUrl(url, allow);
  };
  chat::Deps deps{*p->store, *p->log, *p->fanout, *p->registry, *p->tokens, *p->hasher,
                  SystemClock::Instance(), p->external.get(), p->blobs.get(), p->url_signer.get(),
                  p->limits.get(), check_webhook_url, &p->vapid,
                  // The sender is made below, before the gateway serves anyone.
                  [raw] { raw->pusher->Subscribed(); }, p->recent.get(),
                  [&m = p->metrics](bool resume, bool from_recent) { m.CountPage(resume, from_recent); }};
  // A grace longer than a heartbeat could show a user online past the 2
  // heartbeats PROTOCOL.md §3 allows.
  chat::Options chat_options = c.chat;
  chat_options.offline_grace_ms = std::min(chat_options.offline_grace_ms, c.gateway.heartbeat_ms);
  p->service = std::make_unique<chat::Service>(std::move(deps), chat_options);
  p->collector = std::make_unique<boost::asio::steady_timer>(p->background.get_executor());
  p->lingering = std::make_unique<boost::asio::steady_timer>(p->background.get_executor());

  metrics::Metrics& m = p->metrics;
  // Leases name the node: its id is unique in a cluster and survives a
  // restart, so a node that comes back resumes its own webhooks at once.
  p->webhooks = std::make_unique<webhooks::Dispatcher>(
      *p->store, SystemClock::Instance(), c.webhooks, "node-" + std::to_string(c.gateway.node_id),
      webhooks::Observer{.on_attempt = [&m] { m.webhook_attempts.Increment(); },
                         .on_failure = [&m] { m.webhook_failures.Increment(); },
                         .on_delivered = [&m](double s) { m.webhook_lag_seconds.Observe(s); }},
      [raw](std::vector<Message>& entries) { raw->service->SignAttachments(entries); });

  // Web Push: the node that commits an entry pushes it (PROTOCOL.md §8).
  p->pusher = std::make_unique<push::Sender>(
      *p->store, *p->registry, p->vapid, c.chat.push,
      push::Observer{.on_planned = [&m] { m.push_planned.Increment(); },
                     .on_attempt = [&m] { m.push_attempts.Increment(); },
                     .on_failure = [&m] { m.push_failures.Increment(); },
                     .on_removed = [&m] { m.push_removed.Increment(); },
                     .on_delivered = [&m](double s) { m.push_lag_seconds.Observe(s); },
                     .on_dropped = [&m] { m.push_dropped.Increment(); },
                     .on_coalesced = [&m] { m.push_coalesced.Increment(); }});
  p->sequencer = std::make_unique<sequencer::Sequencer>(
      *p->log, *p->store, *p->fanout, SystemClock::Instance(), c.sequencer,
      sequencer::Observer{.on_commit =
                              [&m, raw](size_t n, double s) {
                                m.commit_batch_size.Observe(static_cast<double>(n));
                                m.commit_seconds.Observe(s);
                                raw->webhooks->Nudge();  // cheap: one flag; the scan finds whose
                              },
                          .on_commit_error = [&m] { m.commit_errors.Increment(); },
                          .on_entry =
                              [raw](const Message& entry) {
                                raw->pusher->Committed(entry);
                                if (raw->recent) raw->recent->Committed(std::span<const Message>(&entry, 1));
                              }},
      [raw](Message& entry) { raw->service->SignAttachments(entry); });

  gateway::Options gw = c.gateway;
  gw.host = *address;
  gw.threads = c.server.threads > 0 ? c.server.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  gw.web_root = WebRoot(gw.web_root);
  // /readyz and the parley_ready gauge ask the same question.
  auto ready = [raw]() -> Result<void> {
    if (auto ok = raw->store->Ping(); !ok) return ok;
    if (auto ok = raw->log->Ping(); !ok) return ok;
    return raw->registry->Ping();
  };
  m.ready_check = [ready] { return ready().ok(); };
  p->gateway = std::make_unique<gateway::Gateway>(std::move(gw), *p->service, *p->fanout, p->metrics, ready);
  p->fanout->SetSink(p->gateway.get());
  // Users whose node died (their leases lapsed): last_seen and offline
  // events, off the registry's own thread.
  p->registry->SetOfflineListener([raw](std::vector<UserId> users) {
    boost::asio::post(raw->background, [raw, users = std::move(users)] { raw->service->WentOffline(users); });
  });
  return std::unique_ptr<Server>(new Server(std::move(p)));
}

Result<uint16_t> Server::Start() {
  p_->pusher->Start();
  p_->sequencer->Start();
  p_->webhooks->Start();
  boost::asio::post(p_->background, [p = p_.get()] { ScheduleCollect(p); });
  if (p_->config.chat.offline_grace_ms > 0) {
    boost::asio::post(p_->background, [p = p_.get()] { ScheduleLingering(p); });
  }
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
  Log()->info("parleyd listening on {}://{}:{} (node {}, store {}, log {}, presence {})",
              c.gateway.tls_cert_file.empty() ? "http" : "https", c.gateway.host, *port, c.gateway.node_id,
              config::Name(c.store.backend), config::Name(c.log.backend), config::Name(c.presence.backend));
  return port;
}

void Server::Stop() {
  if (!p_ || p_->stopped) return;
  p_->stopped = true;
  Log()->info("shutting down: closing clients");
  p_->gateway->Shutdown(std::chrono::milliseconds(p_->config.server.shutdown_grace_ms));
  p_->webhooks->Stop();   // waits at most for the POSTs in flight (webhooks.timeout_ms)
  p_->sequencer->Stop();  // commits what was already accepted
  p_->pusher->Stop();     // pushes still waiting are dropped
  p_->log->Close();       // commits offsets, leaves the consumer group at once
  p_->registry->SetOfflineListener(nullptr);
  p_->collecting = false;
  boost::asio::post(p_->background, [p = p_.get()] {
    p->collector->cancel();
    p->lingering->cancel();
  });
  p_->background.join();
  // Whoever still lingers is offline now: their last_seen is stored and,
  // in a cluster, the other nodes' contacts hear it.
  p_->service->FlushLingering(/*all=*/true);
  p_->fanout->SetSink(nullptr);  // no delivery into a stopped gateway
  p_->store.reset();
  Log()->info("stopped");
}

int RunParleyd(int argc, const char* const* argv, const char* const* envp) {
  if (IsArchiveCommand(argc, argv)) return RunArchiveCommand(argc, argv);
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
