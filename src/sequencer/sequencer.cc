#include "sequencer/sequencer.h"

#include <chrono>
#include <unordered_map>

#include "common/mentions.h"
#include "protocol/frames.h"

namespace parley::sequencer {

using fanout::Event;
using protocol::MakeFrame;

fanout::Event ErrorAnswer(const log::Origin& origin, const Error& error) {
  return Event::ToSession(origin, MakeFrame(protocol::ErrorFrame(origin.request_id, error)));
}

MessageId IdGenerator::Next(TimeMs now) {
  constexpr TimeMs kEpoch = 1'704'067'200'000;  // 2024-01-01
  if (now <= last_ms_) {
    now = last_ms_;
    if (++counter_ > 0xFFF) {  // 4096 ids in one ms: borrow the next ms
      counter_ = 0;
      ++now;
    }
  } else {
    counter_ = 0;
  }
  last_ms_ = now;
  return MessageId(((now - kEpoch) << 22) | (node_ << 12) | counter_);
}

Sequencer::Sequencer(log::MessageLog& log, store::Store& store, fanout::FanOut& fanout, const Clock& clock,
                     Options options, Observer observer, std::function<void(Message&)> serve)
    : log_(log),
      store_(store),
      fanout_(fanout),
      clock_(clock),
      options_(options),
      observer_(std::move(observer)),
      serve_(std::move(serve)),
      ids_(options.node_id) {}

Sequencer::~Sequencer() { Stop(); }

void Sequencer::Start() {
  running_ = true;
  thread_ = std::thread([this] {
    while (running_.load(std::memory_order_acquire)) RunOnce(std::chrono::milliseconds(100));
    // Drain what is already in the log so that accepted sends get answers;
    // bounded, since with a shared log other nodes keep appending.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline && RunOnce(std::chrono::milliseconds(0)) > 0) {
    }
  });
}

void Sequencer::Stop() {
  if (!running_.exchange(false)) return;
  if (thread_.joinable()) thread_.join();
}

size_t Sequencer::RunOnce(std::chrono::milliseconds wait) {
  std::vector<log::Record> records = log_.Poll(options_.batch_max, wait);
  if (records.empty()) return 0;

  std::vector<store::NewMessage> batch;
  batch.reserve(records.size());
  TimeMs now = clock_.NowMs();
  for (auto& r : records) {
    log::SendRequest& q = r.request;
    store::NewMessage m{q.conv, q.sender, std::move(q.client_msg_id), std::move(q.body), ids_.Next(now), now};
    m.kind = q.kind;
    m.target = q.target;
    m.emoji = std::move(q.emoji);
    m.op = q.op;
    m.reply_to = q.reply_to;
    m.attachments = std::move(q.attachments);
    m.by_server_admin = q.by_server_admin;
    // Who a body names is read here, once, off the io threads; whether they
    // are members (and so mentioned) the store decides at commit time.
    if (m.kind == EntryKind::kText || m.kind == EntryKind::kEdit) m.mention_names = MentionedNames(m.body);
    batch.push_back(std::move(m));
  }

  auto started = std::chrono::steady_clock::now();
  auto committed = store_.CommitBatch(batch);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  fanout::EventBatch events;
  events.reserve(records.size() * 2);
  if (!committed) {
    // Nothing in the batch is stored: every sender hears `unavailable` and
    // retries with the same client_msg_id; no seq was used.
    if (observer_.on_commit_error) observer_.on_commit_error();
    Error e = MakeError(Errc::kUnavailable, "storage unavailable; retry with the same client_msg_id");
    for (const auto& r : records) events.push_back(ErrorAnswer(r.request.origin, e));
  } else {
    if (observer_.on_commit) observer_.on_commit(records.size(), seconds);
    for (size_t i = 0; i < records.size(); ++i) {
      const log::Origin& origin = records[i].request.origin;
      auto& outcome = (*committed)[i];
      if (!outcome) {
        events.push_back(ErrorAnswer(origin, outcome.error()));
        continue;
      }
      Message& m = outcome->message;
      // The `sent` answer first: it goes to one connection, and behind a large
      // group's fan-out it would wait for every member's delivery.
      events.push_back(
          Event::ToSession(origin, MakeFrame(protocol::SentFrame(origin.request_id, m, outcome->duplicate))));
      if (!outcome->duplicate) {
        if (serve_ && !m.attachments.empty()) serve_(m);
        events.push_back(Event::ToConversation(m.conv, MakeFrame(protocol::MessageEvent(m)), m.seq));
      }
    }
  }
  fanout_.Publish(std::move(events));
  if (committed && observer_.on_entry) {
    for (const auto& outcome : *committed) {
      if (outcome && !outcome->duplicate) observer_.on_entry(outcome->message);
    }
  }

  // Offsets are committed only after the store commit (or a definitive answer).
  std::unordered_map<int, int64_t> last;
  for (const auto& r : records) last[r.partition] = std::max(last[r.partition], r.offset);
  for (auto [p, off] : last) log_.Commit(p, off);
  return records.size();
}

}  // namespace parley::sequencer
