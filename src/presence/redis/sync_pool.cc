#include "presence/redis/sync_pool.h"

#include <sys/time.h>

namespace parley::presence::redis {
namespace {

constexpr size_t kMaxIdle = 64;

// argv and lengths for hiredis, pointing into `args`.
struct Argv {
  explicit Argv(const std::vector<std::string>& args) {
    ptrs.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
  }
  int count() const { return static_cast<int>(ptrs.size()); }
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
};

bool IsNoScript(const Reply& r) {
  return r && r->type == REDIS_REPLY_ERROR && Str(r.get()).starts_with("NOSCRIPT");
}

}  // namespace

SyncPool::SyncPool(std::string host, int port, int timeout_ms)
    : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {}

SyncPool::~SyncPool() { DropIdle(); }

Reply SyncPool::Run(const std::vector<std::string>& args, std::string* error) {
  Argv argv(args);
  for (int attempt = 0; attempt < 2; ++attempt) {
    redisContext* c = Acquire(error);
    if (c == nullptr) return nullptr;
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, argv.count(), argv.ptrs.data(), argv.lens.data()));
    if (r == nullptr) {
      *error = c->errstr;
      redisFree(c);
      DropIdle();
      continue;
    }
    Release(c);
    return Reply(r);
  }
  return nullptr;
}

Reply SyncPool::Eval(const Script& s, const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> cmd;
  cmd.reserve(args.size() + 3);
  cmd.insert(cmd.end(), {"EVALSHA", s.sha, "0"});
  cmd.insert(cmd.end(), args.begin(), args.end());
  Reply r = Run(cmd, error);
  if (IsNoScript(r)) {
    cmd[0] = "EVAL";
    cmd[1] = s.body;
    r = Run(cmd, error);
  }
  if (r && r->type == REDIS_REPLY_ERROR) {
    *error = std::string(Str(r.get()));
    return nullptr;
  }
  return r;
}

std::vector<Reply> SyncPool::EvalMany(const Script& s, const std::vector<std::vector<std::string>>& calls,
                                      std::string* error) {
  std::vector<Reply> replies;
  if (calls.empty()) return replies;
  redisContext* c = Acquire(error);
  if (c == nullptr) return replies;
  std::vector<std::string> cmd;
  auto broken = [&]() -> std::vector<Reply> {
    *error = c->errstr[0] != '\0' ? c->errstr : "no reply";
    redisFree(c);
    DropIdle();
    return {};
  };
  for (const auto& call : calls) {
    cmd.assign({"EVALSHA", s.sha, "0"});
    cmd.insert(cmd.end(), call.begin(), call.end());
    Argv argv(cmd);
    if (redisAppendCommandArgv(c, argv.count(), argv.ptrs.data(), argv.lens.data()) != REDIS_OK)
      return broken();
  }
  replies.reserve(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(c, &r) != REDIS_OK || r == nullptr) return broken();
    replies.emplace_back(static_cast<redisReply*>(r));
  }
  Release(c);
  // Redis forgot the script (it restarted): those calls, once more with the body.
  for (size_t i = 0; i < calls.size(); ++i) {
    if (!IsNoScript(replies[i])) continue;
    cmd.assign({"EVAL", s.body, "0"});
    cmd.insert(cmd.end(), calls[i].begin(), calls[i].end());
    replies[i] = Run(cmd, error);
    if (!replies[i]) return {};
  }
  return replies;
}

std::string SyncPool::Load(std::initializer_list<Script*> scripts) {
  for (Script* s : scripts) {
    std::string err;
    Reply sha = Run({"SCRIPT", "LOAD", s->body}, &err);
    if (!sha || sha->type != REDIS_REPLY_STRING) return sha ? std::string(Str(sha.get())) : err;
    s->sha = std::string(Str(sha.get()));
  }
  return {};
}

redisContext* SyncPool::Acquire(std::string* error) {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      redisContext* c = idle_.back();
      idle_.pop_back();
      return c;
    }
  }
  timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
  redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, tv);
  if (c == nullptr || c->err != 0) {
    *error = c != nullptr ? c->errstr : "out of memory";
    if (c != nullptr) redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, tv);
  redisEnableKeepAlive(c);
  return c;
}

void SyncPool::Release(redisContext* c) {
  if (c->err == 0) {
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(c);
      return;
    }
  }
  redisFree(c);
}

void SyncPool::DropIdle() {
  std::vector<redisContext*> idle;
  {
    std::lock_guard lock(mu_);
    idle.swap(idle_);
  }
  for (redisContext* c : idle) redisFree(c);
}

}  // namespace parley::presence::redis
