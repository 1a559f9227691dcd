#include "metrics/metrics.h"

#include <mutex>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "common/build_info.h"

namespace parley::metrics {
namespace p = prometheus;

struct Metrics::Families {
  p::Family<p::Counter>* errors = nullptr;
  p::Counter* pages[2][2] = {{nullptr, nullptr}, {nullptr, nullptr}};  // [resume][from_recent]
  std::mutex mu;
  std::unordered_map<std::string, p::Counter*> by_code;
};

namespace {

p::Counter& Counter(p::Registry& r, const char* name, const char* help) {
  return p::BuildCounter().Name(name).Help(help).Register(r).Add({});
}
p::Gauge& Gauge(p::Registry& r, const char* name, const char* help) {
  return p::BuildGauge().Name(name).Help(help).Register(r).Add({});
}
p::Histogram& Histogram(p::Registry& r, const char* name, const char* help,
                        p::Histogram::BucketBoundaries b) {
  return p::BuildHistogram().Name(name).Help(help).Register(r).Add({}, std::move(b));
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<p::Registry>()),
      connections(Gauge(*registry_, "parley_connections", "Open WebSocket connections")),
      connections_total(Counter(*registry_, "parley_connections_total", "WebSocket connections accepted")),
      messages_in(Counter(*registry_, "parley_messages_in_total", "Sends accepted into the message log")),
      messages_out(Counter(*registry_, "parley_frames_out_total", "Frames queued to WebSocket connections")),
      http_requests(Counter(*registry_, "parley_http_requests_total", "HTTP requests served")),
      commit_batch_size(Histogram(*registry_, "parley_commit_batch_size", "Messages per group commit",
                                  {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000})),
      commit_seconds(
          Histogram(*registry_, "parley_commit_seconds", "Group commit latency",
                    {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1})),
      commit_errors(Counter(*registry_, "parley_commit_errors_total", "Group commits that failed")),
      log_undelivered(Counter(*registry_, "parley_log_undelivered_total",
                              "Sends the message log accepted but could not store (answered unavailable)")),
      fanout_queue_bytes(
          Gauge(*registry_, "parley_outbound_queue_bytes", "Bytes waiting in connection write queues")),
      slow_consumers(
          Counter(*registry_, "parley_slow_consumers_total", "Connections closed for reading too slowly")),
      store_memory_bytes(Gauge(*registry_, "parley_store_memory_bytes",
                               "Memory of the in-process store (SQLite page caches, RocksDB write buffers "
                               "and block cache); 0 for a remote store")),
      webhook_attempts(Counter(*registry_, "parley_webhook_deliveries_total",
                               "Webhook deliveries attempted (POSTs made)")),
      webhook_failures(Counter(*registry_, "parley_webhook_failures_total",
                               "Webhook deliveries that failed (no 2xx answer, timeout, refused)")),
      webhook_lag_seconds(
          Histogram(*registry_, "parley_webhook_lag_seconds",
                    "From an entry's commit to its webhook receiver's 2xx answer",
                    {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600})),
      ready(Gauge(*registry_, "parley_ready",
                  "1 when the store, the message log and presence answer (as /readyz), else 0")),
      push_planned(Counter(*registry_, "parley_push_planned_total",
                           "Committed text entries the push sender looked up (who may be pushed); "
                           "none while no user has a push subscription")),
      push_attempts(
          Counter(*registry_, "parley_push_attempts_total", "Web Push POSTs to push services begun")),
      push_failures(
          Counter(*registry_, "parley_push_failures_total",
                  "Web Push POSTs without a 2xx answer (error answers, timeouts, refused addresses)")),
      push_removed(Counter(*registry_, "parley_push_subscriptions_removed_total",
                           "Push subscriptions removed after a 404 or 410 answer or a refused address")),
      push_dropped(Counter(*registry_, "parley_push_dropped_total",
                           "Pushes not sent because the sender's queues were full")),
      push_coalesced(Counter(*registry_, "parley_push_coalesced_total",
                             "Pending pushes replaced by a newer entry of the same conversation")),
      push_lag_seconds(Histogram(*registry_, "parley_push_lag_seconds",
                                 "From an entry's commit to the push service's 2xx answer",
                                 {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})),
      families_(std::make_unique<Families>()) {
  families_->errors =
      &p::BuildCounter().Name("parley_errors_total").Help("Error answers by code").Register(*registry_);
  auto& resume = p::BuildCounter()
                     .Name("parley_resume_pages_total")
                     .Help(
                         "Pages of missed entries read by resuming connections, by where they came from: "
                         "recent (a cluster's Redis window) or store")
                     .Register(*registry_);
  auto& history = p::BuildCounter()
                      .Name("parley_history_pages_total")
                      .Help(
                          "History pages served, by where they came from: recent (a cluster's Redis "
                          "window) or store")
                      .Register(*registry_);
  for (bool from_recent : {false, true}) {
    const p::Labels source{{"source", from_recent ? "recent" : "store"}};
    families_->pages[1][from_recent] = &resume.Add(source);
    families_->pages[0][from_recent] = &history.Add(source);
  }
  // Always 1: the labels carry what is running, so a dashboard can show
  // which build each node runs and when a deploy reached it.
  p::BuildGauge()
      .Name("parley_build_info")
      .Help("The running build: version and git commit (value always 1)")
      .Register(*registry_)
      .Add({{"version", PARLEY_VERSION}, {"commit", PARLEY_COMMIT}})
      .Set(1);
}

Metrics::~Metrics() = default;

void Metrics::CountError(std::string_view code) {
  std::lock_guard lock(families_->mu);
  auto it = families_->by_code.find(std::string(code));
  if (it == families_->by_code.end()) {
    it = families_->by_code.emplace(std::string(code), &families_->errors->Add({{"code", std::string(code)}}))
             .first;
  }
  it->second->Increment();
}

void Metrics::CountPage(bool resume, bool from_recent) { families_->pages[resume][from_recent]->Increment(); }

std::string Metrics::Serialize() const {
  if (store_memory) store_memory_bytes.Set(store_memory());
  if (ready_check) ready.Set(ready_check() ? 1 : 0);
  p::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace parley::metrics
