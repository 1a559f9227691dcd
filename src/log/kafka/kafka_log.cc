#include "log/kafka/kafka_log.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "log/kafka/rdkafka_handles.h"
#include "log/kafka/send_codec.h"

namespace parley::log::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = Logger("kafka");
  return logger;
}

// librdkafka's own log lines (syslog levels) go to the "kafka" logger.
void OnLog(const rd_kafka_t* /*rk*/, int level, const char* fac, const char* buf) {
  auto lvl = level <= 2   ? spdlog::level::err
             : level <= 4 ? spdlog::level::warn
             : level <= 6 ? spdlog::level::info
                          : spdlog::level::debug;
  Log()->log(lvl, "librdkafka {}: {}", fac, buf);
}

std::string Str(rd_kafka_resp_err_t err) { return rd_kafka_err2str(err); }

// Commit errors that a rebalance explains (the mock cluster also refuses
// commits while a group rebalances, which a real broker accepts).
bool RebalanceError(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
         err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
}

// The partition count of `topic`, kNotFound when the topic does not exist.
Result<int> FetchPartitionCount(rd_kafka_t* rk, rd_kafka_topic_t* topic, int timeout_ms) {
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, topic, &raw, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return MakeError(Errc::kUnavailable, "kafka metadata: " + Str(err));
  rd::Metadata md(raw);
  const char* name = rd_kafka_topic_name(topic);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (std::string_view(t.topic) != name) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      return MakeError(Errc::kNotFound, "no topic " + std::string(name));
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return MakeError(Errc::kUnavailable, "kafka topic " + std::string(name) + ": " + Str(t.err));
    if (t.partition_cnt <= 0)
      return MakeError(Errc::kUnavailable, "kafka topic " + std::string(name) + " has no partitions yet");
    return t.partition_cnt;
  }
  return MakeError(Errc::kNotFound, "no topic " + std::string(name));
}

// Asks the brokers to create `topic` (Admin API). TOPIC_ALREADY_EXISTS is a
// success. Bounded by `timeout_ms`: the mock cluster never answers.
Result<void> CreateTopic(rd_kafka_t* rk, const std::string& topic, int partitions, int timeout_ms) {
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, err, sizeof(err));
  if (nt == nullptr) return MakeError(Errc::kInternal, std::string("kafka new topic: ") + err);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof(err));
  rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, err, sizeof(err));
  rd::Queue q(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, &nt, 1, opts, q.get());
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q.get(), timeout_ms + 1000);
  if (ev == nullptr) return MakeError(Errc::kUnavailable, "kafka create topic: no answer");
  Result<void> out = Ok();
  if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    out =
        MakeError(Errc::kUnavailable, std::string("kafka create topic: ") + rd_kafka_event_error_string(ev));
  } else if (const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev)) {
    size_t n = 0;
    const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(topics[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        out = MakeError(Errc::kUnavailable, "kafka create topic: " + Str(e));
      }
    }
  }
  rd_kafka_event_destroy(ev);
  return out;
}

// The Kafka log. Owns a producer (thread-safe Append from any io thread), its
// poll thread (delivery reports, a health check every second), and a consumer
// created at the first Poll and used only under consumer_mu_ by the thread
// that polls (Poll, Commit; Close and the destructor take the same lock after
// waking a blocked Poll). librdkafka's rebalance and commit callbacks run
// inside consumer calls, so also under consumer_mu_.
class KafkaLog final : public MessageLog {
 public:
  explicit KafkaLog(Options options) : options_(std::move(options)) {}

  ~KafkaLog() override {
    Close();
    stop_ = true;
    if (poller_.joinable()) poller_.join();
    if (producer_) {
      if (rd_kafka_flush(producer_.get(), 2000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(producer_.get(), 0);
      }
    }
    std::lock_guard lock(consumer_mu_);
    consumer_queue_.store(nullptr);
    queue_.reset();
    consumer_.reset();
    topic_.reset();
    producer_.reset();
  }

  Result<void> Init() {
    if (options_.brokers.empty()) return MakeError(Errc::kBadRequest, "kafka: no brokers configured");
    rd::Conf conf(rd_kafka_conf_new());
    for (auto [k, v] : std::initializer_list<std::pair<const char*, std::string>>{
             {"bootstrap.servers", options_.brokers},
             {"client.id", options_.client_id.empty() ? "parley" : options_.client_id},
             {"enable.idempotence", "true"},
             {"acks", "all"},
             {"linger.ms", "1"},
             {"message.timeout.ms", std::to_string(options_.delivery_timeout_ms)},
             {"queue.buffering.max.messages", std::to_string(std::max(1, options_.max_pending))},
             {"allow.auto.create.topics", "false"},
         }) {
      if (auto r = rd::Set(conf.get(), k, v); !r) return r.error();
    }
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaLog::OnDelivery);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaLog::OnError);
    rd_kafka_conf_set_log_cb(conf.get(), &OnLog);
    auto producer = rd::NewHandle(RD_KAFKA_PRODUCER, std::move(conf));
    if (!producer) return producer.error();
    producer_ = std::move(producer).value();
    topic_.reset(rd_kafka_topic_new(producer_.get(), options_.topic.c_str(), nullptr));
    if (!topic_) return MakeError(Errc::kInternal, "kafka topic handle: " + Str(rd_kafka_last_error()));

    // Wait for the topic's metadata; create the topic once if it is missing.
    auto deadline = Clock::now() + milliseconds(options_.connect_timeout_ms);
    bool tried_create = false;
    Error last = MakeError(Errc::kUnavailable, "kafka: no metadata");
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      auto count =
          FetchPartitionCount(producer_.get(), topic_.get(), static_cast<int>(std::min<int64_t>(left, 2000)));
      if (count) {
        partitions_ = *count;
        break;
      }
      last = count.error();
      if (last.code == Errc::kNotFound && !tried_create) {
        tried_create = true;
        auto created = CreateTopic(producer_.get(), options_.topic, std::max(1, options_.partitions),
                                   static_cast<int>(std::min<int64_t>(left, 5000)));
        if (!created) Log()->warn("kafka: creating topic {}: {}", options_.topic, created.error().message);
        continue;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    if (partitions_ <= 0) {
      return MakeError(Errc::kUnavailable,
                       "kafka: topic " + options_.topic + " at " + options_.brokers + ": " + last.message);
    }
    poller_ = std::thread([this] { RunPoller(); });
    return Ok();
  }

  int partitions() const override { return partitions_; }

  Result<void> Append(SendRequest request) override {
    if (closed_.load(std::memory_order_acquire))
      return MakeError(Errc::kUnavailable, "message log is closed");
    if (!healthy_.load(std::memory_order_relaxed)) {
      return MakeError(Errc::kUnavailable, "message log: kafka brokers unreachable; retry");
    }
    std::string value = EncodeSendRequest(request);
    char key[24];
    auto [end, ec] = std::to_chars(key, key + sizeof(key), request.conv.value);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_RKT(topic_.get()), RD_KAFKA_V_PARTITION(PartitionOf(request.conv)),
        RD_KAFKA_V_KEY(key, static_cast<size_t>(end - key)), RD_KAFKA_V_VALUE(value.data(), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Ok();
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return MakeError(Errc::kUnavailable, "message log is full; retry");
    return MakeError(Errc::kUnavailable, "message log: " + Str(err));
  }

  std::vector<Record> Poll(size_t max, milliseconds wait) override {
    auto deadline = Clock::now() + wait;
    std::lock_guard lock(consumer_mu_);
    batch_.clear();
    if (closed_.load() || max == 0) return {};
    if (!consumer_ && !StartConsumer()) {
      std::this_thread::sleep_for(std::min(wait, milliseconds(1000)));
      return {};
    }
    SendCommits(/*async=*/true);
    while (batch_.size() < max && !closed_.load(std::memory_order_acquire)) {
      int timeout_ms = 0;
      if (batch_.empty()) {
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
        timeout_ms =
            static_cast<int>(std::clamp<int64_t>(left, 0, 100));  // slices: Close is seen within 100 ms
      }
      rd::Message m(rd_kafka_consumer_poll(consumer_.get(), timeout_ms));
      if (!m) {
        if (!batch_.empty() || Clock::now() >= deadline) break;
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          Log()->warn("kafka consumer: {}", rd_kafka_message_errstr(m.get()));
        }
        continue;
      }
      if (!assigned_.contains(m->partition)) continue;  // fetched before a revocation
      auto request = DecodeSendRequest(std::string_view(static_cast<const char*>(m->payload), m->len));
      if (!request) {
        // A record no Parley wrote (or a newer codec): skipped; its offset is
        // committed with the next record of its partition.
        Log()->error("kafka: skipping record {}/{}@{}: {}", options_.topic, m->partition, m->offset,
                     request.error().message);
        continue;
      }
      batch_.push_back(Record{m->partition, m->offset, std::move(request).value()});
    }
    return std::move(batch_);
  }

  void Commit(int partition, int64_t offset) override {
    std::lock_guard lock(consumer_mu_);
    if (!consumer_ || consumer_closed_) return;  // the next owner redelivers; the store de-duplicates
    int64_t& mark = marks_[partition];
    if (offset + 1 > mark) {
      mark = offset + 1;
      dirty_.insert(partition);
    }
  }

  void Close() override {
    closed_.store(true, std::memory_order_release);
    {
      std::lock_guard lock(undelivered_mu_);  // waits for a report in progress
      report_undelivered_ = false;
    }
    if (rd_kafka_queue_t* q = consumer_queue_.load()) rd_kafka_queue_yield(q);
    {
      std::lock_guard lock(consumer_mu_);  // waits for a Poll in progress to return
      if (consumer_ && !consumer_closed_) {
        consumer_closed_ = true;
        SendCommits(/*async=*/false);
        if (AwaitFirstAssignment()) {
          rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer_.get());  // leaves the group
          if (err != RD_KAFKA_RESP_ERR_NO_ERROR) Log()->warn("kafka consumer close: {}", Str(err));
        } else {
          // Left the group already; destroying the handle would abort (see
          // AwaitFirstAssignment), so it stays, idle, until the process exits.
          consumer_queue_.store(nullptr);
          queue_.reset();
          (void)consumer_.release();
        }
      }
    }
    // Give what was accepted a moment to reach the brokers.
    if (producer_ && !flushed_.exchange(true)) rd_kafka_flush(producer_.get(), 2000);
  }

  Result<void> Ping() override {
    if (closed_.load()) return MakeError(Errc::kUnavailable, "message log is closed");
    if (!healthy_.load())
      return MakeError(Errc::kUnavailable, "kafka brokers unreachable at " + options_.brokers);
    return Ok();
  }

 private:
  // --- producer side -------------------------------------------------------

  void RunPoller() {
    auto next_check = Clock::now() + milliseconds(1000);
    while (!stop_.load(std::memory_order_acquire)) {
      rd_kafka_poll(producer_.get(), 100);
      if (Clock::now() < next_check) continue;
      auto count = FetchPartitionCount(producer_.get(), topic_.get(), 1000);
      next_check = Clock::now() + milliseconds(1000);
      if (count) {
        if (!healthy_.exchange(true)) Log()->info("kafka: brokers reachable again");
        failures_ = 0;
        if (*count != partitions_ && !warned_partitions_) {
          warned_partitions_ = true;
          Log()->error("kafka: topic {} now has {} partitions, Parley started with {}; restart every node",
                       options_.topic, *count, partitions_);
        }
      } else if (++failures_ >= 2 && healthy_.exchange(false)) {
        Log()->warn("kafka: brokers unreachable: {}", count.error().message);
      }
    }
  }

  static void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    auto* self = static_cast<KafkaLog*>(opaque);
    // Only a record that never reached a broker is certainly not stored; one
    // that timed out in flight may still be consumed and answered `sent`.
    const bool maybe_stored = rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
    uint64_t n = ++self->undelivered_;
    if (n == 1 || n % 1000 == 0) {
      Log()->warn("kafka: a send {} stored ({} so far): {}", maybe_stored ? "may not have been" : "was not",
                  n, rd_kafka_err2str(m->err));
    }
    if (maybe_stored || !self->options_.on_undelivered) return;
    auto request = DecodeSendRequest(std::string_view(static_cast<const char*>(m->payload), m->len));
    if (!request) return;  // our own encoding: cannot fail
    std::lock_guard lock(self->undelivered_mu_);
    if (!self->report_undelivered_) return;
    self->options_.on_undelivered(
        *request,
        MakeError(Errc::kUnavailable, "message log unavailable; retry with the same client_msg_id"));
  }

  static void OnError(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaLog*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->healthy_ = false;
    // A broker connection failing is already in librdkafka's own log line.
    auto lvl = err == RD_KAFKA_RESP_ERR__TRANSPORT ? spdlog::level::debug : spdlog::level::warn;
    Log()->log(lvl, "kafka: {}: {}", rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err)), reason);
  }

  // --- consumer side (consumer_mu_ held) ---------------------------------------

  bool StartConsumer() {
    rd::Conf conf(rd_kafka_conf_new());
    int session = std::max(1000, options_.session_timeout_ms);
    for (auto [k, v] : std::initializer_list<std::pair<const char*, std::string>>{
             {"bootstrap.servers", options_.brokers},
             {"client.id", options_.client_id.empty() ? "parley" : options_.client_id},
             {"group.id", options_.group},
             {"enable.auto.commit", "false"},
             {"enable.auto.offset.store", "false"},
             {"auto.offset.reset", "earliest"},
             {"session.timeout.ms", std::to_string(session)},
             {"heartbeat.interval.ms", std::to_string(std::max(100, session / 3))},
             {"fetch.wait.max.ms", std::to_string(std::max(1, options_.fetch_wait_max_ms))},
             {"enable.partition.eof", "false"},
             // Incremental rebalancing: when a node joins or dies, only the
             // partitions that move stop; the others keep being sequenced
             // (the eager default pauses every partition of the group).
             {"partition.assignment.strategy", "cooperative-sticky"},
         }) {
      if (auto r = rd::Set(conf.get(), k, v); !r) {
        Log()->error("kafka consumer: {}", r.error().message);
        return false;
      }
    }
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaLog::OnRebalance);
    rd_kafka_conf_set_offset_commit_cb(conf.get(), &KafkaLog::OnCommitted);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaLog::OnError);
    rd_kafka_conf_set_log_cb(conf.get(), &OnLog);
    auto consumer = rd::NewHandle(RD_KAFKA_CONSUMER, std::move(conf));
    if (!consumer) {
      Log()->error("kafka consumer: {}", consumer.error().message);
      return false;
    }
    rd_kafka_poll_set_consumer(
        consumer->get());  // rebalances, commits and errors are served by consumer_poll
    rd::PartitionList topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), options_.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer->get(), topics.get());
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Log()->error("kafka subscribe {}: {}", options_.topic, Str(err));
      return false;
    }
    consumer_ = std::move(consumer).value();
    queue_.reset(rd_kafka_queue_get_consumer(consumer_.get()));
    consumer_queue_.store(queue_.get());
    return true;
  }

  // Sends the commit marks of partitions marked since the last send (all
  // `only` partitions when given, dirty or not). async: one OffsetCommit in
  // flight, its result logged by OnCommitted.
  void SendCommits(bool async, const rd_kafka_topic_partition_list_t* only = nullptr) {
    if (!consumer_) return;
    rd::PartitionList offsets(rd_kafka_topic_partition_list_new(static_cast<int>(marks_.size())));
    if (only != nullptr) {
      for (int i = 0; i < only->cnt; ++i) {
        auto it = marks_.find(only->elems[i].partition);
        if (it == marks_.end()) continue;
        rd_kafka_topic_partition_list_add(offsets.get(), options_.topic.c_str(), it->first)->offset =
            it->second;
        dirty_.erase(it->first);
      }
    } else {
      for (int p : dirty_) {
        rd_kafka_topic_partition_list_add(offsets.get(), options_.topic.c_str(), p)->offset = marks_[p];
      }
      dirty_.clear();
    }
    if (offsets->cnt == 0) return;
    rd_kafka_resp_err_t err = rd_kafka_commit(consumer_.get(), offsets.get(), async ? 1 : 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (!async) NoteCommitAccepted();
    } else if (RebalanceError(err)) {
      NoteCommitRefused(err);
    } else {
      Log()->warn("kafka commit: {}", Str(err));
    }
  }

  // A group that rebalances refuses commits until it has settled, and the
  // sequencer commits after every batch: one line when the refusals start
  // and one when commits are accepted again, not one per batch.
  void NoteCommitRefused(rd_kafka_resp_err_t err) {
    if (commits_refused_.fetch_add(1) == 0) {
      Log()->info(
          "kafka offset commits refused while the group rebalances ({}); records may be "
          "redelivered, which the store de-duplicates",
          Str(err));
    }
  }
  void NoteCommitAccepted() {
    if (uint64_t n = commits_refused_.exchange(0); n > 0) {
      Log()->info("kafka offset commits accepted again after {} refused", n);
    }
  }

  static void OnCommitted(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    auto* self = static_cast<KafkaLog*>(opaque);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      // Expected around a rebalance; the next owner may get these records
      // again, which the store de-duplicates.
      if (RebalanceError(err)) return self->NoteCommitRefused(err);
      Log()->warn("kafka offset commit failed ({}); records may be redelivered", Str(err));
      return;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) self->NoteCommitAccepted();
    for (int i = 0; offsets != nullptr && i < offsets->cnt; ++i) {
      if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        Log()->warn("kafka offset commit of partition {}: {}", offsets->elems[i].partition,
                    Str(offsets->elems[i].err));
      }
    }
  }

  // librdkafka before 2.3.0 (Debian 12 ships 2.0.2) aborts when a
  // cooperative-sticky consumer is closed after its group chose the assignor
  // (it has a member id) and before its first assignment (upstream issue
  // 4312): a node stopped in its first seconds, or while it joins a busy
  // group, would die on SIGABRT without leaving the group, and the group
  // would wait a session timeout for it. So a consumer in that state polls
  // until its assignment comes (the records it fetches meanwhile are dropped
  // uncommitted: the next owner reads them), for at most three session
  // timeouts (10 s at least: a busy group's rebalance can take longer than
  // one on a loaded machine). If none comes even then, the consumer leaves
  // the group by unsubscribing, and false tells Close not to destroy it (the
  // destruction is what aborts): the handle then lives, idle, until the
  // process exits, which a Close at shutdown precedes. Under consumer_mu_,
  // from Close.
  bool AwaitFirstAssignment() {
    if (ever_assigned_) return true;
    char* id = rd_kafka_memberid(consumer_.get());
    const bool joined = id != nullptr && *id != '\0';
    if (id) rd_kafka_mem_free(consumer_.get(), id);
    if (!joined) return true;
    const int wait_ms = std::max(10000, 3 * options_.session_timeout_ms);
    const auto deadline = Clock::now() + milliseconds(wait_ms);
    while (!ever_assigned_ && Clock::now() < deadline)
      rd::Message(rd_kafka_consumer_poll(consumer_.get(), 100));
    if (ever_assigned_) return true;
    Log()->warn(
        "kafka: the consumer of group {} had no assignment {} ms after it joined; it leaves the group and "
        "stays open until exit (librdkafka 2.0.2 aborts destroying it)",
        options_.group, wait_ms);
    rd_kafka_unsubscribe(consumer_.get());
    return false;
  }

  // Runs inside rd_kafka_consumer_poll or rd_kafka_consumer_close, so between
  // two batches of the sequencer: whatever it committed is already marked.
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                          void* opaque) {
    auto* self = static_cast<KafkaLog*>(opaque);
    bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->ever_assigned_ = true;
      for (int i = 0; i < parts->cnt; ++i) self->assigned_.insert(parts->elems[i].partition);
      Log()->info("kafka: assigned {} partition(s) of {} in group {}", parts->cnt, self->options_.topic,
                  self->options_.group);
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
      } else {
        rd_kafka_assign(rk, parts);
      }
      return;
    }
    // Revoked (or an error): commit the marks of the leaving partitions so the
    // next owner starts after them, and drop what was fetched but not returned.
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk))
      self->SendCommits(false, parts);
    std::set<int32_t> revoked;
    for (int i = 0; i < parts->cnt; ++i) revoked.insert(parts->elems[i].partition);
    std::erase_if(self->batch_, [&](const Record& r) { return revoked.contains(r.partition); });
    for (int p : revoked) {
      self->assigned_.erase(p);
      self->marks_.erase(p);
      self->dirty_.erase(p);
    }
    Log()->info("kafka: revoked {} partition(s) of {} ({})", parts->cnt, self->options_.topic, Str(err));
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
      self->assigned_.clear();
    }
  }

  const Options options_;
  int partitions_ = 0;

  rd::Handle producer_;
  rd::Topic topic_;
  std::thread poller_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> healthy_{true};
  int failures_ = 0;                // poller thread
  bool warned_partitions_ = false;  // poller thread
  std::atomic<uint64_t> undelivered_{0};
  std::mutex undelivered_mu_;       // held while on_undelivered runs
  bool report_undelivered_ = true;  // until Close; under undelivered_mu_
  std::atomic<bool> flushed_{false};
  std::atomic<uint64_t> commits_refused_{0};  // since the last accepted commit

  std::atomic<bool> closed_{false};
  std::mutex consumer_mu_;
  rd::Handle consumer_;
  rd::Queue queue_;
  std::atomic<rd_kafka_queue_t*> consumer_queue_{nullptr};
  bool consumer_closed_ = false;
  bool ever_assigned_ = false;  // an assignment (even empty) came; under consumer_mu_ or in a callback
  std::set<int32_t> assigned_;
  std::map<int, int64_t> marks_;  // partition -> next offset to consume
  std::set<int> dirty_;           // marks not yet sent
  std::vector<Record> batch_;     // the batch being filled by Poll
};

}  // namespace

Result<std::unique_ptr<MessageLog>> Create(const Options& options) {
  auto log = std::make_unique<KafkaLog>(options);
  if (auto r = log->Init(); !r) return r.error();
  return std::unique_ptr<MessageLog>(std::move(log));
}

}  // namespace parley::log::kafka
