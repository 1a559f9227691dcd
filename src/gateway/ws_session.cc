// The WebSocket half of the gateway: sessions and the per-shard hub.
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>

#include "common/logging.h"
#include "gateway/internal.h"

namespace parley::gateway {
namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("gateway");
  return log;
}

void EraseFrom(std::vector<WsSession*>& v, WsSession* s) {
  auto it = std::find(v.begin(), v.end(), s);
  if (it != v.end()) {
    *it = v.back();
    v.pop_back();
  }
}

}  // namespace

// ---- Hub ------------------------------------------------------------------------

void Hub::Add(WsSession* s) {
  by_id_[s->id()] = s;
  auto& sessions = by_user_[s->user()];
  if (sessions.empty()) fanout_.Follow({presence::Interest::Kind::kUser, s->user().value});
  sessions.push_back(s);
}

void Hub::Remove(WsSession* s) {
  by_id_.erase(s->id());
  if (auto it = by_user_.find(s->user()); it != by_user_.end()) {
    EraseFrom(it->second, s);
    if (it->second.empty()) {
      by_user_.erase(it);
      fanout_.Unfollow({presence::Interest::Kind::kUser, s->user().value});
    }
  }
  for (ConversationId c : s->subscriptions()) DropFromConversation(s, c);
}

void Hub::Subscribe(WsSession* s, ConversationId conv) {
  if (!s->subscriptions().insert(conv).second) return;
  auto& sessions = by_conv_[conv];
  if (sessions.empty()) fanout_.Follow({presence::Interest::Kind::kConversation, conv.value});
  sessions.push_back(s);
}

void Hub::Unsubscribe(WsSession* s, ConversationId conv) {
  if (s->subscriptions().erase(conv) == 0) return;
  DropFromConversation(s, conv);
}

void Hub::DropFromConversation(WsSession* s, ConversationId conv) {
  if (auto it = by_conv_.find(conv); it != by_conv_.end()) {
    EraseFrom(it->second, s);
    if (it->second.empty()) {
      by_conv_.erase(it);
      fanout_.Unfollow({presence::Interest::Kind::kConversation, conv.value});
    }
  }
}

std::vector<WsSession*> Hub::All() const {
  std::vector<WsSession*> out;
  out.reserve(by_id_.size());
  for (auto& [id, s] : by_id_) out.push_back(s);
  return out;
}

void Hub::Dispatch(const presence::EventBatch& batch) {
  using presence::Event;
  for (const Event& e : batch) {
    switch (e.target) {
      case Event::Target::kConversation: {
        auto it = by_conv_.find(e.conv);
        if (it == by_conv_.end()) break;
        for (WsSession* s : it->second) {
          if (s->user() != e.exclude) s->DeliverEvent(e);
        }
        break;
      }
      case Event::Target::kUsers:
        for (UserId u : e.users) {
          auto it = by_user_.find(u);
          if (it == by_user_.end()) continue;
          for (WsSession* s : it->second) {
            if (e.subscription == Event::Subscription::kSubscribe) Subscribe(s, e.conv);
            if (e.subscription == Event::Subscription::kUnsubscribe) Unsubscribe(s, e.conv);
            if (e.frame) s->DeliverEvent(e);
          }
        }
        break;
      case Event::Target::kSession:
        if (auto it = by_id_.find(e.origin.session); it != by_id_.end()) it->second->Enqueue(e.frame);
        break;
    }
  }
}

// ---- WsSession ----------------------------------------------------------------------

void StartWebSocket(Gateway::Impl& gw, Shard& shard, beast::tcp_stream stream,
                    http::request<http::string_body> request) {
  std::make_shared<WsSession>(gw, shard, std::move(stream))->Start(std::move(request));
}

WsSession::WsSession(Gateway::Impl& gw, Shard& shard, beast::tcp_stream stream)
    : gw_(gw), shard_(shard), ws_(std::move(stream)), timer_(shard.ioc), id_(gw.next_session++) {
  ++gw_.open_connections;
  ++gw_.ws_connections;
  gw_.metrics.connections.Increment();
  gw_.metrics.connections_total.Increment();
}

WsSession::~WsSession() {
  Teardown();
  --gw_.open_connections;
  --gw_.ws_connections;
  gw_.metrics.connections.Decrement();
}

void WsSession::Start(http::request<http::string_body> request) {
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout t;
  t.handshake_timeout = std::chrono::seconds(10);
  t.idle_timeout = std::chrono::milliseconds(2 * int64_t{gw_.options.heartbeat_ms});
  t.keep_alive_pings = true;
  ws_.set_option(t);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "parley"); }));
  ws_.read_message_max(static_cast<size_t>(gw_.options.max_frame_bytes));
  ws_.auto_fragment(false);
  ws_.async_accept(request, [self = shared_from_this()](beast::error_code ec) { self->OnAccept(ec); });
}

void WsSession::OnAccept(beast::error_code ec) {
  if (ec) {
    Log()->debug("websocket handshake failed: {}", ec.message());
    return Teardown();
  }
  timer_.expires_after(std::chrono::milliseconds(gw_.options.hello_timeout_ms));
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec && !self->hello_seen_) self->Close(4001, "no hello in time");
  });
  DoRead();
}

void WsSession::DoRead() {
  if (closing_) return;
  ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnRead(ec, n); });
}

void WsSession::OnRead(beast::error_code ec, size_t) {
  if (ec) {
    if (ec != websocket::error::closed && ec != asio::error::operation_aborted) {
      Log()->debug("session {} read ended: {}", id_, ec.message());
    }
    return Teardown();
  }
  if (closing_) return;
  std::string text = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  if (!ws_.got_text()) text.insert(0, 1, '\x01');  // a binary frame is never JSON
  HandleText(text);
}

void WsSession::HandleText(std::string_view text) {
  protocol::Parsed p = protocol::ParseClientFrame(text);
  if (!authed_) {
    if (!hello_seen_ && p.request && std::holds_alternative<protocol::HelloReq>(*p.request)) {
      hello_seen_ = true;
      return OnHello(p.id.value_or(0), std::get<protocol::HelloReq>(std::move(*p.request)));
    }
    return Close(4001, "the first frame must be hello");
  }
  if (p.not_json) {
    gw_.metrics.CountError("bad_request");
    if (++bad_frames_in_row_ >= 3) return Close(1008, "three frames in a row were not JSON");
    Enqueue(presence::MakeFrame(protocol::ErrorFrame(std::nullopt, p.error)));
    return DoRead();
  }
  bad_frames_in_row_ = 0;
  if (!p.request) {
    gw_.metrics.CountError("bad_request");
    Enqueue(presence::MakeFrame(protocol::ErrorFrame(p.id, p.error)));
    return DoRead();
  }
  bool typing = std::holds_alternative<protocol::TypingReq>(*p.request);
  if (!p.id && !typing) {
    Enqueue(presence::MakeFrame(protocol::ErrorFrame(std::nullopt, MakeError(Errc::kBadRequest, "missing field 'id'"))));
    return DoRead();
  }
  Handle(p.id, *p.request);
  DoRead();
}

void WsSession::OnHello(int64_t re, protocol::HelloReq hello) {
  timer_.cancel();
  if (auto claims = gw_.service.TryAuthenticate(hello.token)) return Admit(re, std::move(*claims), std::move(hello));
  // An outside user seen for the first time: provisioning writes to the store.
  chat::Service& svc = gw_.service;
  std::string token = hello.token;
  gw_.Blocking(shard_, [&svc, token = std::move(token)] { return svc.Authenticate(token); },
               [self = shared_from_this(), re, hello = std::move(hello)](Result<auth::Claims> claims) mutable {
                 if (self->torn_down_) return;
                 self->Admit(re, std::move(claims), std::move(hello));
               });
}

void WsSession::Admit(int64_t re, Result<auth::Claims> claims, protocol::HelloReq hello) {
  if (!claims) {
    Log()->warn("hello refused: {}", claims.error().message);
    return Close(claims.error().code == Errc::kUnauthorized ? 4003 : 1011,
                 claims.error().code == Errc::kUnauthorized ? "bad or expired token" : "backend unavailable");
  }
  user_ = claims->user;
  // Join the hub before reading the conversation list, holding live events
  // (resuming_) until the resume is sent: a membership change or message in
  // between then reaches this connection instead of falling in a gap.
  shard_.hub.Add(this);
  registered_ = true;
  resuming_ = true;
  presence::SessionKey key{gw_.options.node_id, id_};
  chat::Service& svc = gw_.service;
  UserId user = user_;
  gw_.Blocking(
      shard_, [&svc, user, key] { return svc.Connect(user, key); },
      [self = shared_from_this(), re, key, hello = std::move(hello)](auto result) mutable {
        if (!result) {
          if (result.error().code == Errc::kNotFound) return self->Close(4003, "user no longer exists");
          self->resuming_ = false;
          self->Enqueue(presence::MakeFrame(protocol::ErrorFrame(re, result.error())));
          return self->Close(1011, "backend unavailable");
        }
        if (self->torn_down_) {
          // The connection ended while the session was being registered.
          chat::Service& svc = self->gw_.service;
          UserId user = self->user_;
          asio::post(self->gw_.blocking, [&svc, user, key] { svc.Disconnect(user, key); });
          return;
        }
        self->authed_ = true;
        auto& [user, convs] = *result;
        for (const auto& c : convs) self->shard_.hub.Subscribe(self.get(), c.id);
        std::string session = std::to_string(self->gw_.options.node_id) + "-" + std::to_string(self->id_);
        self->Enqueue(presence::MakeFrame(
            protocol::WelcomeFrame(re, user, session, self->gw_.options.heartbeat_ms, convs)));
        chat::Service& svc = self->gw_.service;
        UserId uid = self->user_;
        self->gw_.Blocking(
            self->shard_, [&svc, uid, hello = std::move(hello)] { return svc.Resume(uid, hello); },
            [self](Result<chat::ResumePlan> plan) { self->FinishResume(std::move(plan)); });
      });
}

void WsSession::FinishResume(Result<chat::ResumePlan> plan) {
  std::unordered_map<ConversationId, int64_t> resumed_to;
  if (!plan) {
    Enqueue(presence::MakeFrame(protocol::ErrorFrame(std::nullopt, plan.error())));
  } else {
    for (const auto& c : plan->conversations) {
      if (c.gap) Enqueue(presence::MakeFrame(protocol::GapEvent(c.conv, c.gap->first, c.gap->second)));
      for (const auto& m : c.messages) Enqueue(presence::MakeFrame(protocol::MessageEvent(m)));
      if (!c.messages.empty()) resumed_to[c.conv] = c.messages.back().seq;
    }
    for (auto& f : plan->presence_frames) Enqueue(presence::MakeFrame(std::move(f)));
  }
  // Live events that came in meanwhile, minus what the resume already sent.
  for (size_t i = 0; i < held_.size(); ++i) {
    auto [seq, frame] = held_[i];
    if (seq > 0) {
      auto it = resumed_to.find(held_conv_[i]);
      if (it != resumed_to.end() && seq <= it->second) continue;
    }
    Enqueue(std::move(frame));
  }
  held_.clear();
  held_conv_.clear();
  resuming_ = false;
  DoRead();
}

void WsSession::Handle(std::optional<int64_t> id, protocol::Request& request) {
  using namespace protocol;
  chat::Service& svc = gw_.service;
  UserId me = user_;
  int64_t re = id.value_or(0);  // present for every request but typing
  // Requests that touch the store run on a blocking worker; the answer frame
  // comes back to this io thread.
  auto blocking = [&](auto work) {
    gw_.Blocking(shard_, std::move(work),
                 [self = shared_from_this(), id](Result<std::string> frame) { self->Answer(id, std::move(frame)); });
  };
  auto ok_or = [re](Result<void> r) -> Result<std::string> {
    if (!r) return r.error();
    return OkFrame(re);
  };
  std::visit(
      [&](auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, HelloReq>) {
          Answer(id, MakeError(Errc::kBadRequest, "hello was already said"));
        } else if constexpr (std::is_same_v<T, SendReq>) {
          log::Origin origin{gw_.options.node_id, shard_.index, id_, re};
          auto sent = svc.Send(me, std::move(r), origin);
          if (FloodingPastTolerance(!sent && sent.error().code == Errc::kRateLimited)) {
            return Close(4008, "rate limited beyond tolerance");
          }
          if (sent) {
            gw_.metrics.messages_in.Increment();
            return;
          }
          Answer(id, sent.error());
        } else if constexpr (std::is_same_v<T, TypingReq>) {
          if (subs_.contains(r.conv)) return svc.Typing(me, r.conv);
          // Not followed here: ask the store why (not_found or forbidden), or
          // pass it on when membership changed under this connection.
          gw_.Blocking(shard_, [&svc, me, conv = r.conv] { return svc.CheckMember(me, conv); },
                       [self = shared_from_this(), id, me, conv = r.conv](Result<void> ok) {
                         if (ok) return self->gw_.service.Typing(me, conv);
                         self->Answer(id, ok.error());
                       });
        } else if constexpr (std::is_same_v<T, PingReq>) {
          Answer(id, PongFrame(re, SystemClock::Instance().NowMs()));
        } else if constexpr (std::is_same_v<T, HistoryReq>) {
          blocking([&svc, me, r, re]() -> Result<std::string> {
            auto msgs = svc.History(me, r.conv, r.before, r.after, r.limit);
            if (!msgs) return msgs.error();
            return HistoryFrame(re, r.conv, *msgs);
          });
        } else if constexpr (std::is_same_v<T, ReadReq>) {
          blocking([&svc, me, r, ok_or] { return ok_or(svc.MarkRead(me, r.conv, r.seq)); });
        } else if constexpr (std::is_same_v<T, CreateGroupReq>) {
          blocking([&svc, me, r = std::move(r), re]() -> Result<std::string> {
            auto c = svc.CreateGroup(me, r.title, r.members);
            if (!c) return c.error();
            return ConversationFrame(re, *c);
          });
        } else if constexpr (std::is_same_v<T, DmReq>) {
          blocking([&svc, me, r = std::move(r), re]() -> Result<std::string> {
            auto c = svc.OpenDm(me, r.username);
            if (!c) return c.error();
            return ConversationFrame(re, *c);
          });
        } else if constexpr (std::is_same_v<T, MemberReq>) {
          blocking([&svc, me, r = std::move(r), ok_or]() -> Result<std::string> {
            if (r.add) {
              auto c = svc.AddMember(me, r.conv, r.username);
              if (!c) return c.error();
              return ok_or(Ok());
            }
            return ok_or(svc.RemoveMember(me, r.conv, r.username));
          });
        } else if constexpr (std::is_same_v<T, LeaveReq>) {
          blocking([&svc, me, r, ok_or] { return ok_or(svc.Leave(me, r.conv)); });
        } else if constexpr (std::is_same_v<T, PresenceReq>) {
          blocking([&svc, r = std::move(r), re]() -> Result<std::string> {
            auto users = svc.QueryPresence(r.users);
            if (!users) return users.error();
            return PresenceAnswer(re, *users);
          });
        }
      },
      request);
}

bool WsSession::FloodingPastTolerance(bool refused) {
  // Sends counted in one-second windows. A client that keeps going at
  // abuse_factor times the rate (two windows in a row over it, with sends
  // refused) is not listening to its rate_limited answers.
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  double tolerance = gw_.options.send_rate_per_s * gw_.options.abuse_factor;
  if (now - rate_window_start_ >= 1000) {
    bool consecutive = now - rate_window_start_ < 2000;
    previous_window_over_ = consecutive && sends_in_window_ > tolerance;
    rate_window_start_ = now;
    sends_in_window_ = 0;
    refused_in_window_ = false;
  }
  ++sends_in_window_;
  refused_in_window_ = refused_in_window_ || refused;
  return refused_in_window_ && previous_window_over_ && sends_in_window_ > tolerance;
}

void WsSession::Answer(std::optional<int64_t> re, Result<std::string> frame) {
  if (frame) return Enqueue(presence::MakeFrame(std::move(frame).value()));
  gw_.metrics.CountError(ErrcName(frame.error().code));
  Enqueue(presence::MakeFrame(protocol::ErrorFrame(re, frame.error())));
}

void WsSession::DeliverEvent(const presence::Event& event) {
  if (!registered_ || closing_) return;
  if (resuming_) {
    held_.emplace_back(event.seq, event.frame);
    held_conv_.push_back(event.conv);
    return;
  }
  Enqueue(event.frame);
}

void WsSession::Enqueue(presence::Frame frame) {
  if (closing_ || !frame) return;
  int64_t size = static_cast<int64_t>(frame->size());
  if (queued_bytes_ + size > gw_.options.max_queue_bytes) {
    gw_.metrics.slow_consumers.Increment();
    Log()->info("session {} of user {} closed: outbound queue over {} bytes", id_, user_.value,
                gw_.options.max_queue_bytes);
    return Close(4009, "too slow a reader");
  }
  queued_bytes_ += size;
  gw_.metrics.fanout_queue_bytes.Increment(static_cast<double>(size));
  gw_.metrics.messages_out.Increment();
  queue_.push_back(std::move(frame));
  if (!writing_) DoWrite();
}

void WsSession::DoWrite() {
  writing_ = true;
  ws_.text(true);
  ws_.async_write(asio::buffer(*queue_.front()),
                  [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnWrite(ec, n); });
}

void WsSession::OnWrite(beast::error_code ec, size_t) {
  writing_ = false;
  int64_t size = static_cast<int64_t>(queue_.front()->size());
  queue_.pop_front();
  queued_bytes_ -= size;
  gw_.metrics.fanout_queue_bytes.Decrement(static_cast<double>(size));
  if (ec) return Teardown();
  if (closing_) {
    if (!close_sent_) DoClose();
    return;
  }
  if (!queue_.empty()) DoWrite();
}

void WsSession::Close(uint16_t code, const char* reason) {
  if (closing_) return;
  closing_ = true;
  close_code_ = code;
  close_reason_ = reason;
  // Drop what is queued (keep the frame being written: Beast owns it now).
  while (queue_.size() > (writing_ ? 1u : 0u)) {
    gw_.metrics.fanout_queue_bytes.Decrement(static_cast<double>(queue_.back()->size()));
    queued_bytes_ -= static_cast<int64_t>(queue_.back()->size());
    queue_.pop_back();
  }
  // A peer that never reads would hold the close handshake forever.
  timer_.expires_after(std::chrono::seconds(5));
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->Teardown();
  });
  if (!writing_) DoClose();
}

void WsSession::DoClose() {
  close_sent_ = true;
  ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
                  [self = shared_from_this()](beast::error_code) { self->Teardown(); });
}

void WsSession::Teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  closing_ = true;
  timer_.cancel();
  if (registered_) {
    shard_.hub.Remove(this);
    registered_ = false;
  }
  if (authed_) {
    chat::Service& svc = gw_.service;
    UserId user = user_;
    presence::SessionKey key{gw_.options.node_id, id_};
    asio::post(gw_.blocking, [&svc, user, key] { svc.Disconnect(user, key); });
  }
  beast::error_code ec;
  beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(ws_).socket().close(ec);
}

}  // namespace parley::gateway
