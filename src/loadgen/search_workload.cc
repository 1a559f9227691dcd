#include "loadgen/search_workload.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "client/http_client.h"
#include "client/ws_client.h"
#include "loadgen/histogram.h"
#include "loadgen/setup.h"

namespace parley::loadgen {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr int kVocabulary = 20000;
constexpr int kWindow = 256;  // sends in flight per connection

// The made-up word of rank `rank` (0 is the most common): syllables of its
// base-16 digits, at least three.
std::string WordOf(int rank) {
  static constexpr const char* kSyllables[] = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "si",
                                               "pe", "da", "gu", "zo", "fi", "ba", "hu", "je"};
  std::string w;
  for (int v = rank + 256; v > 0; v /= 16) w += kSyllables[v % 16];
  return w;
}

// Draws ranks with P(rank r) proportional to 1 / (r + 1).
class Zipf {
 public:
  Zipf() : cdf_(kVocabulary) {
    double sum = 0;
    for (int r = 0; r < kVocabulary; ++r) cdf_[r] = sum += 1.0 / (r + 1);
    for (double& c : cdf_) c /= sum;
  }
  int Draw(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

std::vector<int> MessageRanks(const Zipf& zipf, std::mt19937_64& rng) {
  std::vector<int> ranks(std::uniform_int_distribution<int>(6, 14)(rng));
  for (int& r : ranks) r = zipf.Draw(rng);
  return ranks;
}

std::string Join(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) {
    if (!out.empty()) out += ' ';
    out += WordOf(r);
  }
  return out;
}

std::string Encode(std::string_view s) { return boost::urls::encode(s, boost::urls::unreserved_chars); }

enum Kind { kCommon, kRare, kTwoWords, kPhrase, kPrefix, kKinds };
constexpr const char* kKindNames[] = {"common word", "rare word", "two words", "phrase", "prefix"};

// The next query of `kind`.
std::string Query(Kind kind, const Zipf& zipf, std::mt19937_64& rng) {
  auto rank_in = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  switch (kind) {
    case kCommon:
      return WordOf(rank_in(0, 9));
    case kRare:
      return WordOf(rank_in(5000, kVocabulary - 1));
    case kTwoWords:
      return WordOf(rank_in(0, 99)) + " " + WordOf(rank_in(100, 999));
    case kPhrase: {
      std::vector<int> ranks = MessageRanks(zipf, rng);
      const size_t at = std::uniform_int_distribution<size_t>(0, ranks.size() - 2)(rng);
      return "\"" + WordOf(ranks[at]) + " " + WordOf(ranks[at + 1]) + "\"";
    }
    case kPrefix:
    case kKinds:
      break;
  }
  return WordOf(rank_in(100, 4999)).substr(0, 3) + "*";
}

// What the storing phase did.
struct Stored {
  int64_t sent = 0;
  int64_t failed = 0;
  double seconds = 0;
};

// Sends `count` messages into `conv` as the holder of `token`, a window of
// kWindow in flight; a rate-limited send waits as told and goes again with
// the same client_msg_id (stored once).
void StoreShare(const Options& o, const std::string& token, const std::string& conv, int64_t count,
                uint64_t seed, const Zipf& zipf, std::atomic<int64_t>& sent, std::atomic<int64_t>& failed) {
  client::WsClient ws;
  if (!ws.Connect(o.host, o.port).ok() || !ws.Hello(token)) {
    failed += count;
    return;
  }
  std::mt19937_64 rng(seed);
  std::map<int64_t, json::object> pending;  // id -> the request
  int64_t next = 0, id = 100;
  auto send = [&](json::object request) {
    const int64_t rid = id++;
    request["id"] = rid;
    if (!ws.SendJson(request)) return false;
    pending.emplace(rid, std::move(request));
    return true;
  };
  while (next < count || !pending.empty()) {
    while (next < count && static_cast<int>(pending.size()) < kWindow) {
      json::object request{{"type", "send"},
                           {"conv", conv},
                           {"client_msg_id", "s" + std::to_string(seed) + "-" + std::to_string(next)},
                           {"body", Join(MessageRanks(zipf, rng))}};
      if (!send(std::move(request))) {
        failed += count - next + static_cast<int64_t>(pending.size());
        return;
      }
      ++next;
    }
    std::optional<json::object> frame = ws.Receive(std::chrono::seconds(30));
    if (!frame) {
      failed += count - next + static_cast<int64_t>(pending.size());
      return;
    }
    const json::value* re = frame->if_contains("re");
    if (re == nullptr || !re->is_int64()) continue;  // an event
    auto it = pending.find(re->as_int64());
    if (it == pending.end()) continue;
    json::object request = std::move(it->second);
    pending.erase(it);
    const json::value* type = frame->if_contains("type");
    if (type != nullptr && type->is_string() && type->as_string() == "sent") {
      ++sent;
      continue;
    }
    const json::value* code = frame->if_contains("code");
    if (code != nullptr && code->is_string() && code->as_string() == "rate_limited") {
      const json::value* wait = frame->if_contains("retry_after_ms");
      std::this_thread::sleep_for(
          std::chrono::milliseconds(wait && wait->is_int64() ? wait->as_int64() : 10));
      request.erase("id");
      if (!send(std::move(request))) ++failed;
      continue;
    }
    ++failed;
  }
}

Stored StoreMessages(const Options& o, const Plan& plan, const Zipf& zipf) {
  const Clock::time_point start = Clock::now();
  const int groups = plan.shape.groups;
  std::atomic<int64_t> sent{0}, failed{0};
  std::atomic<int> next_group{0};
  std::vector<std::thread> threads;
  const int workers = std::clamp(o.threads, 1, groups);
  std::atomic<bool> done{false};
  std::thread progress([&] {
    for (int tick = 1; !done; ++tick) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (tick % 50 != 0 || done) continue;
      std::fprintf(stderr, "parley-bench: stored %lld of %lld messages\n",
                   static_cast<long long>(sent.load()), static_cast<long long>(o.search_messages));
    }
  });
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (int g = next_group++; g < groups; g = next_group++) {
        const int64_t share = o.search_messages / groups + (g < o.search_messages % groups ? 1 : 0);
        StoreShare(o, plan.tokens[g * plan.shape.members], plan.convs[g], share, 1000 + g, zipf, sent,
                   failed);
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  progress.join();
  return Stored{sent.load(), failed.load(), std::chrono::duration<double>(Clock::now() - start).count()};
}

double Ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

}  // namespace

int RunSearchBench(const Options& o, const auth::TokenSigner* signer, std::string* table,
                   std::string* json_text) {
  Plan plan;
  std::map<std::string, int64_t> errors;
  std::string fatal;
  if (!BuildPlan(o, signer, &plan, &errors, &fatal)) {
    *table = "parley-bench: search: " + fatal + "\n";
    return 1;
  }
  const int members = plan.shape.members;
  if (members < 2) {
    *table = "parley-bench: search: needs --members 2 or more (the reader is a group's second member)\n";
    return 2;
  }
  // The reader joins every group, so each search runs over every message.
  const std::string reader = plan.usernames[1];
  const std::string& reader_token = plan.tokens[1];
  int64_t join_failures = 0;
  {
    client::HttpClient http(o.host, o.port, std::chrono::seconds(60));
    for (int g = 1; g < plan.shape.groups; ++g) {
      client::Response r = http.Post("/v1/conversations/" + plan.convs[g] + "/members",
                                     {{"username", reader}}, plan.tokens[g * members]);
      if (!r.ok()) ++join_failures;
    }
  }
  const Zipf zipf;
  Stored stored;
  if (o.search_messages > 0) stored = StoreMessages(o, plan, zipf);

  // Closed loop: each thread makes its share of the searches, one at a time.
  Histogram all, by_kind[kKinds];
  int64_t results_by_kind[kKinds] = {};
  std::atomic<int> next_query{0};
  std::atomic<int64_t> search_failures{0};
  std::mutex mu;
  std::string first_failure;
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, o.threads); ++t) {
    threads.emplace_back([&, t] {
      client::HttpClient http(o.host, o.port, std::chrono::seconds(60));
      std::mt19937_64 rng(7000 + t);
      Histogram mine, mine_by_kind[kKinds];
      int64_t mine_results[kKinds] = {};
      for (int i = next_query++; i < o.search_queries; i = next_query++) {
        const Kind kind = static_cast<Kind>(i % kKinds);
        const std::string target = "/v1/search?limit=20&q=" + Encode(Query(kind, zipf, rng));
        const Clock::time_point sent_at = Clock::now();
        client::Response r = http.Get(target, reader_token);
        const int64_t us =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent_at).count();
        if (r.status != 200 || !r.json.is_object()) {
          ++search_failures;
          std::lock_guard lock(mu);
          if (first_failure.empty()) first_failure = target + ": " + r.Describe();
          continue;
        }
        mine.Record(us);
        mine_by_kind[kind].Record(us);
        mine_results[kind] += static_cast<int64_t>(r.json.at("results").as_array().size());
      }
      std::lock_guard lock(mu);
      all.Merge(mine);
      for (int k = 0; k < kKinds; ++k) {
        by_kind[k].Merge(mine_by_kind[k]);
        results_by_kind[k] += mine_results[k];
      }
    });
  }
  for (auto& t : threads) t.join();
  const double search_s = std::chrono::duration<double>(Clock::now() - start).count();

  char line[256];
  std::string out;
  std::snprintf(line, sizeof(line), "search workload: run id %s, %d groups, reader %s\n",
                plan.usernames[0].substr(0, plan.usernames[0].size() - 2).c_str(), plan.shape.groups,
                reader.c_str());
  out += line;
  if (o.search_messages > 0) {
    std::snprintf(line, sizeof(line), "  stored: %lld messages in %.1f s (%.0f msgs/s), %lld failed\n",
                  static_cast<long long>(stored.sent), stored.seconds,
                  stored.seconds > 0 ? static_cast<double>(stored.sent) / stored.seconds : 0.0,
                  static_cast<long long>(stored.failed));
    out += line;
  }
  std::snprintf(line, sizeof(line), "  searches: %lld in %.1f s from %d threads, %lld failed\n",
                static_cast<long long>(all.count()), search_s, std::max(1, o.threads),
                static_cast<long long>(search_failures.load()));
  out += line;
  std::snprintf(line, sizeof(line), "  %-12s p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", "all",
                Ms(all.Percentile(50)), Ms(all.Percentile(99)), Ms(all.max()));
  out += line;
  json::object kinds;
  for (int k = 0; k < kKinds; ++k) {
    const Histogram& h = by_kind[k];
    const double mean_results =
        h.count() > 0 ? static_cast<double>(results_by_kind[k]) / static_cast<double>(h.count()) : 0.0;
    std::snprintf(line, sizeof(line),
                  "  %-12s p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms  (%.1f results each)\n", kKindNames[k],
                  Ms(h.Percentile(50)), Ms(h.Percentile(99)), Ms(h.max()), mean_results);
    out += line;
    kinds[kKindNames[k]] = {{"count", h.count()},
                            {"p50_ms", Ms(h.Percentile(50))},
                            {"p99_ms", Ms(h.Percentile(99))},
                            {"max_ms", Ms(h.max())},
                            {"mean_results", mean_results}};
  }
  if (!first_failure.empty()) out += "  first failed search: " + first_failure + "\n";
  if (join_failures > 0) out += "  the reader could not join " + std::to_string(join_failures) + " groups\n";
  *table = out;
  json::object doc{{"workload", "search"},
                   {"label", o.label},
                   {"groups", plan.shape.groups},
                   {"messages_stored", stored.sent},
                   {"store_failed", stored.failed},
                   {"store_s", stored.seconds},
                   {"searches", all.count()},
                   {"search_failed", search_failures.load()},
                   {"threads", std::max(1, o.threads)},
                   {"p50_ms", Ms(all.Percentile(50))},
                   {"p99_ms", Ms(all.Percentile(99))},
                   {"max_ms", Ms(all.max())},
                   {"kinds", std::move(kinds)}};
  *json_text = json::serialize(doc) + "\n";
  return stored.failed == 0 && search_failures == 0 && join_failures == 0 ? 0 : 1;
}

}  // namespace parley::loadgen
