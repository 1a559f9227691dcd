// commit-bench: Parley's durable write path at full speed, in one process.
//
//   commit-bench [--path FILE] [--rows N] [--convs C] [--body-bytes B]
//                [--batch-max M] [--window W] [--partitions P] [--synchronous full|normal]
//                [--report-every R] [--reuse] [--client-ids counter|ordered|random]
//
// The same rows as sqlite-bulk (C conversations interleaved, B-byte bodies),
// but through what a `send` goes through after the gateway: the embedded
// message log, the sequencer's group commit (SqliteStore::CommitBatch: dedupe
// by client_msg_id, membership check, gapless seq, read marker, one
// transaction and one fsync per batch) and the `sent` + message frames
// published for fan-out. W sends are kept outstanding, as W clients waiting
// for their `sent` would. Prints one JSON line: rows/s, commits/s, mean batch.
// With --report-every R, first one line per R rows committed (rows/s and the
// process's CPU per row over those R), to show how the cost of a row grows
// with the store. With --reuse, FILE is a store an earlier run left (same
// --convs): the run adds its rows to it, to measure a grown store without
// growing it again (copy the file first to keep it). --client-ids: how a
// send's client_msg_id looks: "counter" (default) a prefix and the send's
// number, "ordered" the same zero-padded (each sender's ids ascend, so the
// de-duplication index is appended to), "random" 32 random hex digits as the
// web SDK makes them.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <sys/resource.h>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "log/embedded/embedded_log.h"
#include "fanout/fanout.h"
#include "sequencer/sequencer.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using namespace parley;

// Counts the `sent` answers (session events) the sequencer publishes.
class CountingFanOut final : public fanout::FanOut {
 public:
  void SetSink(fanout::DeliverySink*) override {}
  void Publish(fanout::EventBatch batch) override {
    int64_t answered = 0;
    for (const auto& e : batch) {
      if (e.target == fanout::Event::Target::kSession) ++answered;
    }
    std::lock_guard lock(mu_);
    answered_ += answered;
    cv_.notify_all();
  }
  // Waits until fewer than `window` of `sent` sends are unanswered.
  void WaitBelow(int64_t sent, int64_t window) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return sent - answered_ < window; });
  }
  int64_t answered() {
    std::lock_guard lock(mu_);
    return answered_;
  }
  // Waits until at least `n` sends are answered.
  void WaitAtLeast(int64_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return answered_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t answered_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string path = "/tmp/commit-bench.db";
  long rows = 200000, convs = 1000, body_bytes = 64, batch_max = 1000, window = 2000, partitions = 4;
  long report_every = 0;
  bool reuse = false;
  std::string client_ids = "counter";
  bool full = true;
  for (int i = 1; i < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--reuse") {
      reuse = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", k.c_str());
      return 2;
    }
    const char* v = argv[i + 1];
    if (k == "--path") {
      path = v;
    } else if (k == "--rows") {
      rows = std::atol(v);
    } else if (k == "--convs") {
      convs = std::atol(v);
    } else if (k == "--body-bytes") {
      body_bytes = std::atol(v);
    } else if (k == "--batch-max") {
      batch_max = std::atol(v);
    } else if (k == "--window") {
      window = std::atol(v);
    } else if (k == "--partitions") {
      partitions = std::atol(v);
    } else if (k == "--client-ids") {
      client_ids = v;
      if (client_ids != "counter" && client_ids != "ordered" && client_ids != "random") {
        std::fprintf(stderr, "--client-ids: counter, ordered or random\n");
        return 2;
      }
    } else if (k == "--report-every") {
      report_every = std::atol(v);
    } else if (k == "--synchronous") {
      full = std::string(v) != "normal";
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (!reuse) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  }
  auto opened = store::sqlite::Open({.path = path, .synchronous_full = full, .readers = 1});
  if (!opened) {
    std::fprintf(stderr, "open: %s\n", opened.error().message.c_str());
    return 1;
  }
  store::Store& store = **opened;
  const Clock& clock = SystemClock::Instance();

  // Ten members per conversation, as in `rooms`; each conversation's sender
  // is one of them.
  std::vector<ConversationId> conv_ids;
  std::vector<UserId> senders;
  for (long c = 0; reuse && c < convs; ++c) {
    auto u = store.FindUserByName("u" + std::to_string(c) + "x0");
    if (!u) {
      std::fprintf(stderr, "--reuse: no user u%ldx0 in %s\n", c, path.c_str());
      return 1;
    }
    auto list = store.ListConversationHeads(u->user.id);  // no unread counts: any schema screened
    if (!list || list->size() != 1) {
      std::fprintf(stderr, "--reuse: no conversation of u%ldx0 in %s\n", c, path.c_str());
      return 1;
    }
    conv_ids.push_back(list->front().id);
    senders.push_back(u->user.id);
  }
  for (long c = 0; !reuse && c < convs; ++c) {
    std::vector<UserId> members;
    for (int m = 0; m < 10; ++m) {
      auto u = store.CreateUser("u" + std::to_string(c) + "x" + std::to_string(m), "", "-", clock.NowMs());
      if (!u) {
        std::fprintf(stderr, "user: %s\n", u.error().message.c_str());
        return 1;
      }
      members.push_back(u->id);
    }
    auto g = store.CreateGroup("g" + std::to_string(c), members[0],
                               std::span<const UserId>(members).subspan(1), clock.NowMs());
    if (!g) {
      std::fprintf(stderr, "group: %s\n", g.error().message.c_str());
      return 1;
    }
    conv_ids.push_back(*g);
    senders.push_back(members[0]);
  }

  auto log = log::embedded::Create({.partitions = static_cast<int>(partitions)});
  CountingFanOut fanout;
  std::atomic<int64_t> commits{0}, committed{0};
  sequencer::Sequencer seq(*log, store, fanout, clock,
                           sequencer::Options{.batch_max = static_cast<size_t>(batch_max), .node_id = 1},
                           sequencer::Observer{.on_commit =
                                                   [&](size_t n, double) {
                                                     ++commits;
                                                     committed += static_cast<int64_t>(n);
                                                   },
                                               .on_commit_error = [] {},
                                               .on_entry = nullptr});
  seq.Start();

  std::string body(static_cast<size_t>(body_bytes), 'x');
  // A reused store holds the earlier runs' ids: each run's are its own.
  std::string client_prefix = "m" + std::to_string(clock.NowMs()) + "-";
  std::mt19937_64 rng(std::random_device{}());
  auto client_id = [&](long i) {
    char id[40];
    if (client_ids == "random") {
      std::snprintf(id, sizeof(id), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                    static_cast<unsigned long long>(rng()));
      return std::string(id);
    }
    if (client_ids == "ordered") {
      std::snprintf(id, sizeof(id), "%012ld", i);
      return client_prefix + id;
    }
    return client_prefix + std::to_string(i);
  };
  auto started = std::chrono::steady_clock::now();
  auto cpu_seconds = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  std::thread reporter([&] {
    if (report_every <= 0) return;
    auto at = started;
    double cpu = cpu_seconds();
    for (long done = report_every; done <= rows; done += report_every) {
      fanout.WaitAtLeast(done);
      auto now = std::chrono::steady_clock::now();
      double now_cpu = cpu_seconds();
      double s = std::chrono::duration<double>(now - at).count();
      std::printf("{\"stored\":%ld,\"rows_per_s\":%.0f,\"cpu_us_per_row\":%.1f}\n", done,
                  static_cast<double>(report_every) / s,
                  (now_cpu - cpu) * 1e6 / static_cast<double>(report_every));
      std::fflush(stdout);
      at = now;
      cpu = now_cpu;
    }
  });
  for (long i = 0; i < rows; ++i) {
    fanout.WaitBelow(i, window);
    long c = i % convs;
    log::SendRequest r{conv_ids[static_cast<size_t>(c)], senders[static_cast<size_t>(c)], client_id(i), body,
                       log::Origin{1, 0, 1, i}};
    while (!log->Append(r)) std::this_thread::yield();  // full: wait like a client would
  }
  fanout.WaitBelow(rows, 1);
  reporter.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  seq.Stop();
  log->Close();
  std::printf(
      "{\"rows\":%ld,\"convs\":%ld,\"body_bytes\":%ld,\"window\":%ld,\"batch_max\":%ld,\"synchronous\":\"%"
      "s\","
      "\"commits\":%lld,\"mean_batch\":%.1f,\"seconds\":%.3f,\"rows_per_s\":%.0f,\"commits_per_s\":%.0f,"
      "\"path\":\"%s\"}\n",
      rows, convs, body_bytes, window, batch_max, full ? "full" : "normal",
      static_cast<long long>(commits.load()),
      commits ? static_cast<double>(committed.load()) / static_cast<double>(commits.load()) : 0.0, s,
      rows / s, static_cast<double>(commits.load()) / s, path.c_str());
  return fanout.answered() == rows ? 0 : 1;
}
