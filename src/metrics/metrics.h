#pragma once
// The server's Prometheus metrics: one registry, the families named once
// here, served as text at /metrics. Counters and gauges are atomics inside
// prometheus-cpp, so any thread may update them.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace parley::metrics {

class Metrics {
  // Declared first: the references below point into families it owns.
  std::shared_ptr<prometheus::Registry> registry_;

 public:
  Metrics();
  ~Metrics();

  prometheus::Gauge& connections;          // open WebSocket connections
  prometheus::Counter& connections_total;  // accepted WebSocket connections
  prometheus::Counter& messages_in;        // sends accepted into the log
  prometheus::Counter& messages_out;       // frames written to sockets
  prometheus::Counter& http_requests;
  prometheus::Histogram& commit_batch_size;
  prometheus::Histogram& commit_seconds;
  prometheus::Counter& commit_errors;
  prometheus::Counter& log_undelivered;   // sends the log accepted, then certainly failed to store
  prometheus::Gauge& fanout_queue_bytes;  // bytes queued for writing, all connections
  prometheus::Counter& slow_consumers;    // connections closed with 4009
  prometheus::Gauge& store_memory_bytes;  // the store's heap in this process, read at each scrape
  // Set by the server when the store lives in-process (SQLite: its page
  // caches, bounded by configuration, fill as the database grows).
  std::function<double()> store_memory;
  // Outgoing webhooks (PROTOCOL.md §8), counted by the node delivering them.
  prometheus::Counter& webhook_attempts;       // POSTs made
  prometheus::Counter& webhook_failures;       // ... not answered 2xx (timeouts and refusals included)
  prometheus::Histogram& webhook_lag_seconds;  // an entry's commit to its receiver's 2xx
  prometheus::Gauge& ready;                    // 1 when /readyz would answer 200, read at each scrape
  // Set by the server: the /readyz check (store, log, presence), so an
  // alert can fire on a node Prometheus still reaches but that cannot serve.
  std::function<bool()> ready_check;
  // Web Push (PROTOCOL.md §8; push::Sender).
  prometheus::Counter& push_planned;        // committed entries looked up (who to push)
  prometheus::Counter& push_attempts;       // POSTs to push services begun
  prometheus::Counter& push_failures;       // of them, without a 2xx (answers, timeouts, refusals)
  prometheus::Counter& push_removed;        // subscriptions removed (404, 410, a refused address)
  prometheus::Counter& push_dropped;        // pushes not sent: the sender's queues were full
  prometheus::Counter& push_coalesced;      // pending pushes replaced by a newer one of their conversation
  prometheus::Histogram& push_lag_seconds;  // commit to the push service's 2xx

  // Counts an error answer by its wire code ("bad_request", ...).
  void CountError(std::string_view code);
  // Counts a page of entries served to a resume (parley_resume_pages_total)
  // or as history (parley_history_pages_total), by its source.
  void CountPage(bool resume, bool from_recent);
  // Prometheus text exposition format.
  std::string Serialize() const;

 private:
  struct Families;
  std::unique_ptr<Families> families_;
};

}  // namespace parley::metrics
