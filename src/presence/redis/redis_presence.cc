#include "presence/redis/redis_presence.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/logging.h"
#include "presence/redis/async_connection.h"
#include "presence/redis/codec.h"
#include "presence/redis/recent_entries.h"
#include "presence/redis/scripts.h"
#include "presence/redis/sync_pool.h"

namespace parley::presence::redis {
namespace {
namespace asio = boost::asio;
using std::chrono::milliseconds;

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("redis");
  return log;
}

constexpr size_t kMaxInflightPublishes = 100'000;  // beyond: Redis is not keeping up, drop
constexpr size_t kMaxUnsentPublishes = 100'000;    // held while Redis is unreachable; beyond: drop
constexpr size_t kSubscribeChunk = 512;            // channels per SUBSCRIBE
constexpr size_t kOnlineChunk = 1000;              // users per Online script
constexpr size_t kRegisterChunk = 1000;            // sessions per Register script
constexpr size_t kMaxPendingOffline = 100'000;     // reports kept until a listener is set
constexpr size_t kSweepNodes = 64;                 // dead nodes per sweep
constexpr int kIoTimeoutMs = 2000;                 // synchronous calls
// The shared limits' calls: one runs on the io thread for a send, so it may
// not wait long; past this the caller counts on its own node.
constexpr int kLimitTimeoutMs = 250;

std::string ConvChannel(int64_t id) { return "parley:conv:" + std::to_string(id); }
std::string UserChannel(int64_t id) { return "parley:user:" + std::to_string(id); }
std::string NodeChannel(int64_t id) { return "parley:node:" + std::to_string(id); }
std::string ChannelOf(const fanout::Interest& i) {
  return i.kind == fanout::Interest::Kind::kConversation ? ConvChannel(i.id) : UserChannel(i.id);
}

// The presence scripts share helpers (scripts::kPrelude).
Script WithPrelude(std::string_view text) {
  return Script(std::string(scripts::kPrelude) + std::string(text));
}

std::vector<UserId> ParseUsers(const redisReply* r) {
  std::vector<UserId> out;
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    std::optional<UserId> id;
    if (e->type == REDIS_REPLY_STRING) id = UserId::Parse(Str(e));
    if (e->type == REDIS_REPLY_INTEGER) id = UserId(e->integer);
    if (id && id->valid()) out.push_back(*id);
  }
  return out;
}

// One node's backend: the Redis connections, the io thread (an io_context
// driving two hiredis async connections: one publishing, one subscribed), the
// maintenance thread (lease, sweep, re-registration, offline reports; it uses
// the synchronous pool and may block), and the registry's view of this node's
// sessions. Public methods are thread-safe; members marked "io thread" are
// touched only there.
class Core {
 public:
  explicit Core(const Options& o)
      : options_(o),
        node_(std::to_string(o.node_id)),
        node_channel_(NodeChannel(o.node_id)),
        pool_(o.host, o.port, kIoTimeoutMs) {}

  ~Core() {
    {
      std::lock_guard lock(maint_mu_);
      stopping_ = true;
    }
    maint_cv_.notify_all();
    if (maint_.joinable()) maint_.join();
    asio::post(ioc_, [this] {
      sub_.reset();  // frees the contexts: pending callbacks run with null replies
      cmd_.reset();
      work_.reset();
      ioc_.stop();
    });
    if (io_.joinable()) io_.join();
  }

  Result<void> Start() {
    auto fail = [this](const std::string& what, const std::string& err) {
      return MakeError(Errc::kUnavailable, "presence.redis " + options_.host + ":" +
                                               std::to_string(options_.port) + ": " + what + ": " + err);
    };
    std::string err;
    Reply pong = pool_.Run({"PING"}, &err);
    if (!pong) return fail("cannot connect", err);
    if (pong->type == REDIS_REPLY_ERROR) return fail("PING", std::string(Str(pong.get())));
    err = pool_.Load({&add_, &remove_, &online_, &heartbeat_, &register_, &sweep_, &reset_node_});
    if (!err.empty()) return fail("SCRIPT LOAD", err);
    // A previous run of this node id left sessions: they died with it.
    Reply reset = pool_.Eval(reset_node_, {node_}, &err);
    if (!reset) return fail("reset node", err);
    pending_offline_ = ParseUsers(reset.get());
    if (!pool_.Eval(heartbeat_, {node_, std::to_string(LeaseMs())}, &err)) return fail("heartbeat", err);

    std::future<void> subscribed = subscribed_promise_.get_future();
    io_ = std::thread([this] { ioc_.run(); });
    asio::post(ioc_, [this] {
      milliseconds backoff(std::clamp(options_.heartbeat_ms, 50, 1000));
      cmd_ = std::make_unique<AsyncConnection>(
          ioc_, options_.host, options_.port, "redis publisher",
          AsyncConnection::Callbacks{.on_connect = [this](redisAsyncContext*) { OnCommandConnect(); },
                                     .on_disconnect = nullptr,
                                     .after_read = nullptr},
          backoff);
      sub_ = std::make_unique<AsyncConnection>(
          ioc_, options_.host, options_.port, "redis subscriber",
          AsyncConnection::Callbacks{.on_connect = [this](redisAsyncContext* ac) { OnSubscriberConnect(ac); },
                                     .on_disconnect =
                                         [this] {
                                           subscribed_.clear();
                                           unsubscribing_.clear();
                                           std::lock_guard lock(active_mu_);
                                           active_.clear();
                                         },
                                     .after_read = [this] { FlushDeliveries(); }},
          backoff);
      cmd_->Start();
      sub_->Start();
    });
    if (subscribed.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
      Log()->warn("presence.redis: not yet subscribed to {}; continuing", node_channel_);
    }
    maint_ = std::thread([this] { MaintenanceLoop(); });
    return Ok();
  }

  // ---- fan-out -----------------------------------------------------------

  void SetSink(fanout::DeliverySink* sink) {
    std::lock_guard lock(sink_mu_);  // after this returns, no Deliver runs on the old sink
    sink_ = sink;
  }

  // The local share of a batch goes straight to this node's sink, so that
  // connections here never depend on Redis; Redis carries copies for the
  // other nodes (each node skips its own copies when they come back).
  void Publish(fanout::EventBatch batch) {
    if (batch.empty()) return;
    const int64_t self = options_.node_id;
    std::vector<Outgoing> out;
    out.reserve(batch.size());
    bool remote_answers = false;
    for (fanout::Event& e : batch) {
      switch (e.target) {
        case fanout::Event::Target::kConversation:
          out.push_back({ConvChannel(e.conv.value), EncodeEvent(e, self)});
          break;
        case fanout::Event::Target::kSession:
          if (e.origin.node != self) {
            out.push_back({NodeChannel(e.origin.node), EncodeEvent(e, self)});
            remote_answers = true;
          }
          break;
        case fanout::Event::Target::kUsers: {
          // One copy per user channel, naming only that user: a node that
          // follows several of them must deliver each user's copy once.
          std::vector<UserId> users = std::move(e.users);
          std::unordered_set<UserId> seen;
          for (UserId u : users) {
            if (!seen.insert(u).second) continue;
            e.users.assign(1, u);
            out.push_back({UserChannel(u.value), EncodeEvent(e, self)});
          }
          e.users = std::move(users);
          break;
        }
      }
    }
    if (remote_answers) {
      // An answer to a session of another node is not for this one's
      // connections (session ids are per node).
      std::erase_if(batch, [self](const fanout::Event& e) {
        return e.target == fanout::Event::Target::kSession && e.origin.node != self;
      });
    }
    if (!batch.empty()) {
      std::lock_guard lock(sink_mu_);
      if (sink_ != nullptr) sink_->Deliver(std::make_shared<const fanout::EventBatch>(std::move(batch)));
    }
    if (out.empty()) return;
    bool post = false;
    {
      std::lock_guard lock(pub_mu_);
      if (pending_.empty()) {
        pending_ = std::move(out);
      } else {
        std::move(out.begin(), out.end(), std::back_inserter(pending_));
      }
      post = !flush_posted_;
      flush_posted_ = true;
    }
    if (post) asio::post(ioc_, [this] { FlushPublishes(); });
  }

  void Follow(const fanout::Interest& i) { ChangeInterest(ChannelOf(i), true); }
  void Unfollow(const fanout::Interest& i) { ChangeInterest(ChannelOf(i), false); }

  bool AwaitFollowing(std::span<const fanout::Interest> interests, std::chrono::milliseconds timeout) {
    std::vector<std::string> channels;
    channels.reserve(interests.size());
    for (const fanout::Interest& i : interests) channels.push_back(ChannelOf(i));
    std::unique_lock lock(active_mu_);
    return active_cv_.wait_for(lock, timeout, [&] {
      return std::all_of(channels.begin(), channels.end(),
                         [&](const std::string& c) { return active_.contains(c); });
    });
  }

  // ---- registry ----------------------------------------------------------

  bool AddSession(UserId user, SessionKey key) {
    if (!user.valid() || key.node <= 0) return false;
    Stripe& s = StripeOf(user);
    std::lock_guard lock(s.mu);  // orders this against a re-registration of the stripe
    if (key.node == options_.node_id) s.local.emplace(user.value, key.session);
    std::string err;
    Reply r =
        pool_.Eval(add_, {user.ToString(), std::to_string(key.node), std::to_string(key.session)}, &err);
    if (!r) {
      need_register_ = true;  // registered when Redis answers again
      Log()->warn("presence.redis: AddSession({}): {}", user.value, err);
      return false;
    }
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  }

  bool RemoveSession(UserId user, SessionKey key) {
    if (!user.valid() || key.node <= 0) return false;
    Stripe& s = StripeOf(user);
    std::lock_guard lock(s.mu);
    if (key.node == options_.node_id) s.local.erase({user.value, key.session});
    std::string err;
    Reply r =
        pool_.Eval(remove_, {user.ToString(), std::to_string(key.node), std::to_string(key.session)}, &err);
    if (!r) {
      // Retried by the maintenance thread; an `offline` then goes to the listener.
      s.failed_removals.emplace_back(user, key);
      need_register_ = true;
      Log()->warn("presence.redis: RemoveSession({}): {}", user.value, err);
      return false;
    }
    return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  }

  std::vector<bool> Online(std::span<const UserId> users) {
    std::vector<bool> out(users.size(), false);
    for (size_t begin = 0; begin < users.size(); begin += kOnlineChunk) {
      size_t end = std::min(users.size(), begin + kOnlineChunk);
      std::vector<std::string> args;
      args.reserve(end - begin);
      for (size_t i = begin; i < end; ++i) args.push_back(users[i].ToString());
      std::string err;
      Reply r = pool_.Eval(online_, args, &err);
      if (!r || r->type != REDIS_REPLY_ARRAY) {
        Log()->warn("presence.redis: Online: {}", r ? "unexpected reply" : err);
        continue;  // unknown counts as offline
      }
      for (size_t i = 0; i < r->elements && begin + i < end; ++i) {
        out[begin + i] = r->element[i]->type == REDIS_REPLY_INTEGER && r->element[i]->integer == 1;
      }
    }
    return out;
  }

  Result<void> Ping() {
    std::string err;
    Reply r = pool_.Run({"PING"}, &err);
    if (!r) return MakeError(Errc::kUnavailable, "presence.redis: " + err);
    if (r->type == REDIS_REPLY_ERROR)
      return MakeError(Errc::kUnavailable, "presence.redis: " + std::string(Str(r.get())));
    return Ok();
  }

  void SetOfflineListener(std::function<void(std::vector<UserId>)> listener) {
    {
      std::lock_guard lock(listener_mu_);
      listener_ = std::move(listener);
    }
    Wake();  // hands over what was reported before
  }

 private:
  struct Outgoing {
    std::string channel;
    std::string payload;
  };

  // This node's sessions, to register again after Redis lost them; and the
  // removals Redis did not take. `mu` is held across the Redis call of an
  // add or remove, so a re-registration never resurrects a removed session.
  struct Stripe {
    std::mutex mu;
    std::set<std::pair<int64_t, uint64_t>> local;  // (user, session) on this node
    std::vector<std::pair<UserId, SessionKey>> failed_removals;
  };
  Stripe& StripeOf(UserId u) { return stripes_[static_cast<uint64_t>(u.value) % stripes_.size()]; }

  int64_t LeaseMs() const { return 2 * int64_t{options_.heartbeat_ms}; }

  // ---- io thread ---------------------------------------------------------

  void OnCommandConnect() {
    if (!first_command_connect_) {
      // Back after an outage: Redis may have restarted empty.
      need_register_ = true;
      Wake();
      // What could not be published meanwhile goes out now.
      if (!unsent_.empty()) FlushPublishes();
    }
    first_command_connect_ = false;
  }

  // Runs on the io thread. While the command connection is down, events
  // wait in unsent_ (bounded) and go out when it is back, oldest first;
  // only what is past that bound, or past what a slow Redis has in flight,
  // is dropped (connections elsewhere then catch up from the store when
  // their node resubscribes, or see the gap).
  void FlushPublishes() {
    std::vector<Outgoing> out;
    {
      std::lock_guard lock(pub_mu_);
      out.swap(pending_);
      flush_posted_ = false;
    }
    redisAsyncContext* ac = cmd_ ? cmd_->context() : nullptr;
    if (ac == nullptr) {
      size_t room = kMaxUnsentPublishes - std::min(kMaxUnsentPublishes, unsent_.size());
      size_t kept = std::min(room, out.size());
      std::move(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(kept), std::back_inserter(unsent_));
      CountDropped(out.size() - kept);
      return;
    }
    if (!unsent_.empty()) {
      std::move(out.begin(), out.end(), std::back_inserter(unsent_));
      out = std::move(unsent_);
      unsent_.clear();
      Log()->info("presence.redis: publishing {} events held while Redis was unreachable", out.size());
    }
    size_t dropped = 0;
    for (const Outgoing& o : out) {
      // hiredis buffers them all; they go out in one write below.
      if (inflight_ >= kMaxInflightPublishes ||
          redisAsyncCommand(ac, &Core::OnPublishReply, this, "PUBLISH %b %b", o.channel.data(),
                            o.channel.size(), o.payload.data(), o.payload.size()) != REDIS_OK) {
        ++dropped;
        continue;
      }
      ++inflight_;
    }
    // Write now rather than after another trip through the reactor (saves a
    // wake-up per flush); what the socket does not take waits for writability.
    if (dropped < out.size()) redisAsyncHandleWrite(ac);
    CountDropped(dropped);
  }

  void CountDropped(size_t dropped) {
    if (dropped == 0) return;
    if (dropped_total_ == 0 || (dropped_total_ + dropped) / 10'000 != dropped_total_ / 10'000) {
      Log()->warn("presence.redis: dropped {} events (Redis unavailable or slow); {} in all", dropped,
                  dropped_total_ + dropped);
    }
    dropped_total_ += dropped;
  }

  static void OnPublishReply(redisAsyncContext*, void*, void* privdata) {
    --static_cast<Core*>(privdata)->inflight_;
  }

  void ChangeInterest(std::string channel, bool follow) {
    bool post = false;
    {
      std::lock_guard lock(follow_mu_);
      if (follow) {
        if (++refs_[channel] != 1) return;
      } else {
        auto it = refs_.find(channel);
        if (it == refs_.end() || --it->second > 0) return;
        refs_.erase(it);
      }
      dirty_.insert(std::move(channel));
      post = !reconcile_posted_;
      reconcile_posted_ = true;
    }
    if (post) asio::post(ioc_, [this] { Reconcile(); });
  }

  // Brings the subscriptions in line with what changed in `refs_`. Only the
  // latest state of a channel matters, so follow/unfollow races between io
  // threads cannot leave a wrong subscription behind.
  void Reconcile() {
    std::vector<std::pair<std::string, bool>> changed;
    {
      std::lock_guard lock(follow_mu_);
      reconcile_posted_ = false;
      for (const auto& ch : dirty_) changed.emplace_back(ch, refs_.contains(ch));
      dirty_.clear();
    }
    redisAsyncContext* ac = sub_ ? sub_->context() : nullptr;
    if (ac == nullptr) return;  // the connect handler subscribes to everything
    std::vector<std::string> subscribe, unsubscribe;
    for (auto& [ch, want] : changed) {
      if (unsubscribing_.contains(ch)) continue;  // decided when its unsubscribe reply arrives
      if (want && !subscribed_.contains(ch)) subscribe.push_back(ch);
      if (!want && subscribed_.contains(ch) && ch != node_channel_) unsubscribe.push_back(ch);
    }
    Send(ac, "SUBSCRIBE", subscribe);
    Send(ac, "UNSUBSCRIBE", unsubscribe);
  }

  void OnSubscriberConnect(redisAsyncContext* ac) {
    subscribed_.clear();
    unsubscribing_.clear();
    std::vector<std::string> channels;
    {
      std::lock_guard lock(follow_mu_);
      dirty_.clear();
      for (const auto& [ch, n] : refs_) channels.push_back(ch);
    }
    // The node's own channel last: Redis confirms in order, so its
    // confirmation says every channel is subscribed again.
    channels.push_back(node_channel_);
    Send(ac, "SUBSCRIBE", channels);
  }

  // (UN)SUBSCRIBE in chunks. Every subscribe callback is OnSubscriberReply;
  // hiredis routes an unsubscribe's reply to the channel's callback.
  void Send(redisAsyncContext* ac, const char* verb, const std::vector<std::string>& channels) {
    bool sub = verb[0] == 'S';
    for (size_t begin = 0; begin < channels.size(); begin += kSubscribeChunk) {
      size_t end = std::min(channels.size(), begin + kSubscribeChunk);
      std::vector<const char*> argv{verb};
      std::vector<size_t> lens{std::strlen(verb)};
      for (size_t i = begin; i < end; ++i) {
        argv.push_back(channels[i].data());
        lens.push_back(channels[i].size());
        if (sub) {
          subscribed_.insert(channels[i]);
        } else {
          subscribed_.erase(channels[i]);
          unsubscribing_.insert(channels[i]);
        }
      }
      redisAsyncCommandArgv(ac, sub ? &Core::OnSubscriberReply : nullptr, this, static_cast<int>(argv.size()),
                            argv.data(), lens.data());
    }
  }

  static void OnSubscriberReply(redisAsyncContext* ac, void* r, void* privdata) {
    auto* self = static_cast<Core*>(privdata);
    auto* reply = static_cast<redisReply*>(r);
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    const redisReply* kind = reply->element[0];
    const redisReply* channel = reply->element[1];
    if (kind->type != REDIS_REPLY_STRING || channel->type != REDIS_REPLY_STRING) return;
    std::string_view k = Str(kind);
    if (k == "message") {
      const redisReply* payload = reply->element[2];
      if (payload->type != REDIS_REPLY_STRING) return;
      if (auto env = DecodeEvent(Str(payload))) {
        // This node's own events were delivered here when published.
        if (env->publisher != self->options_.node_id) self->arrived_.push_back(std::move(env->event));
      } else if (self->bad_payloads_++ % 1000 == 0) {
        Log()->warn("presence.redis: ignored {} undecodable payload(s) on {}", self->bad_payloads_,
                    Str(channel));
      }
    } else if (k == "unsubscribe") {
      std::string ch(Str(channel));
      {
        std::lock_guard lock(self->active_mu_);
        self->active_.erase(ch);
      }
      self->unsubscribing_.erase(ch);
      bool want;
      {
        std::lock_guard lock(self->follow_mu_);
        want = self->refs_.contains(ch);
      }
      if (want) self->Send(ac, "SUBSCRIBE", {ch});  // followed again meanwhile
    } else if (k == "subscribe") {
      {
        std::lock_guard lock(self->active_mu_);
        self->active_.emplace(Str(channel));
      }
      self->active_cv_.notify_all();
      if (Str(channel) != self->node_channel_) return;
      if (!self->subscribed_once_) {
        self->subscribed_once_ = true;
        self->subscribed_promise_.set_value();
      } else {
        // Subscribed again after losing the connection: events published
        // meanwhile never came. Every local connection catches up.
        Log()->info("presence.redis: subscribed again; local connections catch up from the store");
        std::lock_guard lock(self->sink_mu_);
        if (self->sink_ != nullptr) self->sink_->Resync();
      }
    }
  }

  // Hands what one read brought to the sink, as one batch.
  void FlushDeliveries() {
    if (arrived_.empty()) return;
    auto batch = std::make_shared<const fanout::EventBatch>(std::move(arrived_));
    arrived_.clear();
    std::lock_guard lock(sink_mu_);
    if (sink_ != nullptr) sink_->Deliver(std::move(batch));
  }

  // ---- maintenance thread -----------------------------------------------

  void Wake() {
    {
      std::lock_guard lock(maint_mu_);
      wake_ = true;
    }
    maint_cv_.notify_all();
  }

  void MaintenanceLoop() {
    const milliseconds tick(std::max(10, options_.heartbeat_ms / 2));
    std::unique_lock lock(maint_mu_);
    while (!stopping_) {
      wake_ = false;
      lock.unlock();
      Maintain();
      lock.lock();
      maint_cv_.wait_for(lock, tick, [this] { return stopping_ || wake_; });
    }
  }

  // Renews the lease, registers again what Redis lost, sweeps dead nodes and
  // reports who they left offline.
  void Maintain() {
    std::string err;
    Reply hb = pool_.Eval(heartbeat_, {node_, std::to_string(LeaseMs())}, &err);
    if (!hb) {
      need_register_ = true;
      if (healthy_) Log()->warn("presence.redis: heartbeat failed: {}", err);
      healthy_ = false;
      return;
    }
    if (!healthy_) Log()->info("presence.redis: heartbeat renewed again");
    healthy_ = true;
    bool lapsed = hb->type == REDIS_REPLY_INTEGER && hb->integer == 1;
    bool flagged = need_register_.exchange(false);
    if (lapsed || flagged) {
      if (lapsed)
        Log()->warn("presence.redis: lease of node {} had lapsed; registering its sessions again", node_);
      if (!ReRegister()) need_register_ = true;
    }
    Reply swept = pool_.Eval(sweep_, {std::to_string(kSweepNodes)}, &err);
    if (swept) Report(ParseUsers(swept.get()));
    Report({});
  }

  bool ReRegister() {
    std::vector<UserId> offline;
    bool ok = true;
    std::string err;
    for (Stripe& s : stripes_) {
      std::lock_guard lock(s.mu);
      while (ok && !s.failed_removals.empty()) {
        auto [user, key] = s.failed_removals.back();
        Reply r = pool_.Eval(remove_,
                             {user.ToString(), std::to_string(key.node), std::to_string(key.session)}, &err);
        if (!r) {
          ok = false;
          break;
        }
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) offline.push_back(user);
        s.failed_removals.pop_back();
      }
      std::vector<std::string> args{node_};
      auto flush = [&] {
        if (ok && args.size() > 1 && !pool_.Eval(register_, args, &err)) ok = false;
        args.resize(1);
      };
      for (const auto& [user, session] : s.local) {
        args.push_back(std::to_string(user));
        args.push_back(std::to_string(session));
        if (args.size() > 2 * kRegisterChunk) flush();
      }
      flush();
      if (!ok) break;
    }
    if (!ok) Log()->warn("presence.redis: registering sessions again failed: {}", err);
    Report(std::move(offline));
    return ok;
  }

  // Hands users to the listener, with what waited for one.
  void Report(std::vector<UserId> users) {
    std::function<void(std::vector<UserId>)> listener;
    {
      std::lock_guard lock(listener_mu_);
      if (!pending_offline_.empty()) {
        users.insert(users.begin(), pending_offline_.begin(), pending_offline_.end());
        pending_offline_.clear();
      }
      if (users.empty()) return;
      if (!listener_) {
        if (users.size() > kMaxPendingOffline) users.resize(kMaxPendingOffline);
        pending_offline_ = std::move(users);
        return;
      }
      listener = listener_;
    }
    listener(std::move(users));
  }

  const Options options_;
  const std::string node_;          // decimal node id
  const std::string node_channel_;  // parley:node:<id>, always subscribed
  SyncPool pool_;
  Script add_ = WithPrelude(scripts::kAddSession), remove_ = WithPrelude(scripts::kRemoveSession),
         online_ = WithPrelude(scripts::kOnline), heartbeat_ = WithPrelude(scripts::kHeartbeat),
         register_ = WithPrelude(scripts::kRegister), sweep_ = WithPrelude(scripts::kSweep),
         reset_node_ = WithPrelude(scripts::kResetNode);

  // io thread: the io_context and what only its thread touches.
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::thread io_;
  std::unique_ptr<AsyncConnection> cmd_, sub_;
  std::unordered_set<std::string> subscribed_;  // SUBSCRIBE sent on the current connection
  // Channels Redis confirmed on the current connection (AwaitFollowing).
  std::mutex active_mu_;
  std::condition_variable active_cv_;
  std::unordered_set<std::string> active_;
  std::unordered_set<std::string> unsubscribing_;  // UNSUBSCRIBE sent, reply not yet in
  fanout::EventBatch arrived_;                     // decoded during the current read
  size_t inflight_ = 0;
  size_t dropped_total_ = 0;
  size_t bad_payloads_ = 0;
  bool first_command_connect_ = true;
  bool subscribed_once_ = false;
  std::promise<void> subscribed_promise_;

  std::mutex pub_mu_;  // Publish (any thread) -> io thread
  std::vector<Outgoing> pending_;
  std::vector<Outgoing> unsent_;  // io thread: held while the command connection is down
  bool flush_posted_ = false;

  std::mutex follow_mu_;  // Follow/Unfollow (io threads) -> io thread
  std::unordered_map<std::string, int> refs_;
  std::unordered_set<std::string> dirty_;
  bool reconcile_posted_ = false;

  std::mutex sink_mu_;
  fanout::DeliverySink* sink_ = nullptr;

  std::array<Stripe, 64> stripes_;
  std::atomic<bool> need_register_{false};

  std::mutex listener_mu_;
  std::function<void(std::vector<UserId>)> listener_;
  std::vector<UserId> pending_offline_;

  // maintenance thread
  std::mutex maint_mu_;
  std::condition_variable maint_cv_;
  bool stopping_ = false;
  bool wake_ = false;
  bool healthy_ = true;
  std::thread maint_;
};

// The registry half of a Backend: forwards to the shared Core.
class RegistryHandle final : public PresenceRegistry {
 public:
  explicit RegistryHandle(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  bool AddSession(UserId user, SessionKey session) override { return core_->AddSession(user, session); }
  bool RemoveSession(UserId user, SessionKey session) override { return core_->RemoveSession(user, session); }
  std::vector<bool> Online(std::span<const UserId> users) override { return core_->Online(users); }
  Result<void> Ping() override { return core_->Ping(); }
  void SetOfflineListener(std::function<void(std::vector<UserId>)> listener) override {
    core_->SetOfflineListener(std::move(listener));
  }

 private:
  std::shared_ptr<Core> core_;
};

// The fan-out half of a Backend: forwards to the shared Core.
class FanOutHandle final : public fanout::FanOut {
 public:
  explicit FanOutHandle(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~FanOutHandle() override { core_->SetSink(nullptr); }
  void SetSink(fanout::DeliverySink* sink) override { core_->SetSink(sink); }
  void Publish(fanout::EventBatch batch) override { core_->Publish(std::move(batch)); }
  void Follow(fanout::Interest i) override { core_->Follow(i); }
  void Unfollow(fanout::Interest i) override { core_->Unfollow(i); }
  bool AwaitFollowing(std::span<const fanout::Interest> interests,
                      std::chrono::milliseconds timeout) override {
    return core_->AwaitFollowing(interests, timeout);
  }

 private:
  std::shared_ptr<Core> core_;
};

// SharedLimits on Redis: each call one script on its own pool of
// synchronous connections, with a short timeout (a send waits for it).
class RedisLimits final : public SharedLimits {
 public:
  explicit RedisLimits(const Options& o) : pool_(o.host, o.port, kLimitTimeoutMs) {}

  Result<void> Start() {
    if (std::string err = pool_.Load({&take_, &failures_}); !err.empty()) {
      return MakeError(Errc::kUnavailable, "presence.redis: SCRIPT LOAD (limits): " + err);
    }
    return Ok();
  }

  Result<Tokens> TakeTokens(std::string_view key, double rate_per_s, int64_t burst, int64_t want,
                            TimeMs now) override {
    std::string err;
    Reply r = pool_.Eval(take_,
                         {std::string(key), std::to_string(rate_per_s), std::to_string(burst),
                          std::to_string(want), std::to_string(now)},
                         &err);
    if (!r) return MakeError(Errc::kUnavailable, "redis: " + err);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
      return MakeError(Errc::kUnavailable, "redis: unexpected answer to the token bucket");
    }
    return Tokens{r->element[0]->integer, r->element[1]->integer};
  }

  Result<int64_t> Failures(std::span<const Window> keys, int64_t window_ms, TimeMs now, bool add) override {
    std::vector<std::string> args{std::to_string(now), std::to_string(window_ms), add ? "1" : "0"};
    for (const Window& w : keys) {
      if (w.max <= 0) continue;
      args.push_back(w.key);
      args.push_back(std::to_string(w.max));
    }
    std::string err;
    Reply r = pool_.Eval(failures_, args, &err);
    if (!r) return MakeError(Errc::kUnavailable, "redis: " + err);
    if (r->type != REDIS_REPLY_INTEGER) return MakeError(Errc::kUnavailable, "redis: unexpected answer");
    return r->integer;
  }

  Result<void> ClearFailures(std::string_view key) override {
    std::string err;
    Reply r = pool_.Run({"DEL", "parley:limit:" + std::string(key)}, &err);
    if (!r || r->type == REDIS_REPLY_ERROR) return MakeError(Errc::kUnavailable, "redis: " + err);
    return Ok();
  }

 private:
  SyncPool pool_;
  Script take_ = WithPrelude(scripts::kTakeTokens), failures_ = WithPrelude(scripts::kFailures);
};

}  // namespace

Result<Backend> Create(const Options& options) {
  if (options.node_id <= 0) return MakeError(Errc::kBadRequest, "presence.redis: node_id must be positive");
  if (options.heartbeat_ms < 20)
    return MakeError(Errc::kBadRequest, "presence.redis: heartbeat_ms must be >= 20");
  if (options.port <= 0 || options.port > 65535)
    return MakeError(Errc::kBadRequest, "presence.redis: bad port");
  auto core = std::make_shared<Core>(options);
  if (auto started = core->Start(); !started) return started.error();
  auto limits = std::make_unique<RedisLimits>(options);
  if (auto started = limits->Start(); !started) return started.error();
  Backend b;
  b.registry = std::make_unique<RegistryHandle>(core);
  b.fanout = std::make_unique<FanOutHandle>(core);
  b.limits = std::move(limits);
  if (options.recent_entries > 0) {
    auto recent = CreateRecentEntries(options);
    if (!recent) return std::move(recent).error();
    b.recent = std::move(recent).value();
  }
  return b;
}

}  // namespace parley::presence::redis
