#include "loadgen/setup.h"

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "auth/token_signer.h"
#include "client/http_client.h"
#include "common/clock.h"
#include "protocol/http_bodies.h"
#include "protocol/utf8.h"

namespace parley::loadgen {

std::string RunPrefix() {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::mt19937 gen(rd());
  std::string s = "pb";
  for (int i = 0; i < 6; ++i) s.push_back(kChars[gen() % 36]);
  return s;
}

namespace {

// Runs fn(i, client) for i in [0, n) on `workers` threads, one HttpClient each.
template <typename Fn>
void Parallel(const Options& o, int n, int workers, Fn fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      client::HttpClient http(o.host, o.port, std::chrono::seconds(60));
      for (int i = next++; i < n; i = next++) fn(i, http);
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace

bool BuildPlan(const Options& o, const auth::TokenSigner* signer, Plan* plan,
               std::map<std::string, int64_t>* errors, std::string* fatal) {
  plan->shape = ShapeOf(o);
  const Shape& s = plan->shape;
  int n = s.connections();
  std::string prefix = o.run_id.empty() ? RunPrefix() : o.run_id;
  plan->send_prefix = o.run_id.empty() ? std::string() : RunPrefix();
  plan->usernames.resize(n);
  for (int i = 0; i < n; ++i) plan->usernames[i] = prefix + "u" + std::to_string(i);
  plan->convs.clear();
  if (o.dialect == Dialect::kSocketio) {
    if (o.workload != Workload::kConnect) {
      for (int g = 0; g < s.groups; ++g) plan->convs.push_back(prefix + "r" + std::to_string(g));
    }
    return true;
  }
  TimeMs now = SystemClock::Instance().NowMs();
  plan->tokens.resize(n);
  for (int i = 0; i < n; ++i) {
    plan->tokens[i] =
        signer->Sign(o.issuer, "bench:" + plan->usernames[i], plan->usernames[i], now, 6 * 3600);
  }
  std::mutex mu;
  auto count_error = [&](const std::string& what) {
    std::lock_guard lock(mu);
    (*errors)[what]++;
  };
  const int workers = 8;
  Parallel(o, n, workers, [&](int i, client::HttpClient& http) {
    auto r = http.Get("/v1/me", plan->tokens[i]);
    if (!r.ok()) count_error("provision: " + std::to_string(r.status) + " " + r.error);
  });
  if (errors->size() > 0) {
    *fatal =
        "provisioning users failed (is parleyd started with --auth.issuer_public_key_file and the matching "
        "key?)";
    return false;
  }
  if (o.workload == Workload::kConnect) return true;
  plan->convs.assign(s.groups, "");
  plan->conv_ids.assign(s.groups, ConversationId());
  Parallel(o, s.groups, workers, [&](int g, client::HttpClient& http) {
    int base = g * s.members;
    client::Response r;
    if (!o.run_id.empty() && o.workload != Workload::kDm && o.workload != Workload::kSearch) {
      // The group an earlier run with this --run-id made, so it has history.
      r = http.Get("/v1/conversations", plan->tokens[base]);
      auto list = protocol::ParseConversations(r.json);
      if (!r.ok() || !list) {
        count_error("list conversations: " + std::string(protocol::Utf8Prefix(r.Describe(), 200)));
        return;
      }
      for (const Conversation& c : *list) {
        if (c.title == "bench " + std::to_string(g) && c.member_count == s.members) {
          plan->convs[g] = c.id.ToString();
          plan->conv_ids[g] = c.id;
          return;
        }
      }
    }
    if (o.workload == Workload::kDm) {
      r = http.Request("POST", "/v1/conversations/dm", protocol::UsernameBody(plan->usernames[base + 1]),
                       plan->tokens[base]);
    } else {
      std::vector<std::string> members(plan->usernames.begin() + base + 1,
                                       plan->usernames.begin() + base + s.members);
      r = http.Request("POST", "/v1/conversations",
                       protocol::CreateGroupBody("bench " + std::to_string(g), members), plan->tokens[base]);
    }
    auto conv = protocol::ParseConversation(r.json);
    if (!r.ok() || !conv) {
      count_error("create conversation: " + std::string(protocol::Utf8Prefix(r.Describe(), 200)));
      return;
    }
    plan->convs[g] = conv->id.ToString();
    plan->conv_ids[g] = conv->id;
  });
  if (errors->size() > 0) {
    *fatal = "creating conversations failed";
    return false;
  }
  return true;
}

}  // namespace parley::loadgen
