#pragma once
// Synchronous hiredis connections for the calls that come from blocking
// threads (the gateway's workers, the maintenance thread, the recent-entries
// writer): one per concurrent caller, kept idle for reuse, and the Lua
// scripts they run. Shared by every part of the Redis backend.
#include <hiredis/hiredis.h>

#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace parley::presence::redis {

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

inline std::string_view Str(const redisReply* r) { return std::string_view(r->str, r->len); }

// A Lua script and the SHA1 Redis knows it by. Immutable once loaded.
struct Script {
  explicit Script(std::string text) : body(std::move(text)) {}
  std::string body;
  std::string sha;
};

// Thread-safe.
class SyncPool {
 public:
  SyncPool(std::string host, int port, int timeout_ms);
  ~SyncPool();
  SyncPool(const SyncPool&) = delete;
  SyncPool& operator=(const SyncPool&) = delete;

  // Runs one command. On a broken connection (Redis restarted, say) drops
  // the idle ones too and tries once more on a new connection. Null, with
  // `*error`, when Redis did not answer; an error reply comes back as one.
  Reply Run(const std::vector<std::string>& args, std::string* error);

  // EVALSHA, then EVAL when Redis forgot the script (a restart). An error
  // reply becomes null with `*error`.
  Reply Eval(const Script& s, const std::vector<std::string>& args, std::string* error);

  // Several EVALSHA of `s` in one round trip (pipelined on one connection),
  // each with its own arguments (no keys, as Eval); the replies in order. Commands Redis answered NOSCRIPT
  // run again as EVAL. Empty, with `*error`, when Redis did not answer (some of the calls may have run).
  std::vector<Reply> EvalMany(const Script& s, const std::vector<std::vector<std::string>>& calls,
                              std::string* error);

  // SCRIPT LOAD of each; "" or what went wrong.
  std::string Load(std::initializer_list<Script*> scripts);

 private:
  redisContext* Acquire(std::string* error);
  void Release(redisContext* c);
  void DropIdle();

  const std::string host_;
  const int port_;
  const int timeout_ms_;
  std::mutex mu_;
  std::vector<redisContext*> idle_;
};

}  // namespace parley::presence::redis
