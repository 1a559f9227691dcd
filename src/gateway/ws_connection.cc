// The WebSocket half of the gateway: sessions and the per-shard hub.
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>

#include "common/logging.h"
#include "gateway/internal.h"
#include "gateway/ws_frame.h"

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
  if (!s->AddSubscription(conv)) return;
  auto& sessions = by_conv_[conv];
  if (sessions.empty()) fanout_.Follow({presence::Interest::Kind::kConversation, conv.value});
  sessions.push_back(s);
}

void Hub::Unsubscribe(WsSession* s, ConversationId conv) {
  if (!s->RemoveSubscription(conv)) return;
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

// ---- Shard: flushes and the sweep ---------------------------------------------

void Shard::ScheduleFlush(std::shared_ptr<WsSession> s) {
  to_flush.push_back(std::move(s));
  if (flush_posted) return;
  flush_posted = true;
  asio::post(ioc, [this] {
    flush_posted = false;
    // Flush() may queue more (a close after a failed write): swap first.
    std::vector<std::shared_ptr<WsSession>> batch;
    batch.swap(to_flush);
    for (auto& session : batch) session->Flush();
    if (to_flush.empty() && to_flush.capacity() < batch.capacity()) {
      batch.clear();
      to_flush.swap(batch);  // keep the grown capacity for the next batch
    }
  });
}

void Shard::Sweep(std::chrono::milliseconds period) {
  sweep.expires_after(period);
  sweep.async_wait([this, period](beast::error_code ec) {
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    // Tick may tear a session down, which unlinks it: hold the due ones
    // (few; a busy shard's 10,000 others are only looked at).
    std::vector<std::shared_ptr<WsSession>> due;
    for (WsSession* s = sessions; s != nullptr; s = s->next_in_shard) {
      if (!s->Due(now)) continue;
      if (auto p = s->weak_from_this().lock()) due.push_back(std::move(p));
    }
    for (auto& s : due) s->Tick(now);
    Sweep(period);
  });
}

// ---- WsSession: transport ------------------------------------------------------------

void StartWebSocket(Gateway::Impl& gw, Shard& shard, Transport transport,
                    http::request<http::string_body> request, std::string leftover) {
  std::make_shared<WsSession>(gw, shard, std::move(transport))
      ->Start(std::move(request), std::move(leftover));
}

WsSession::WsSession(Gateway::Impl& gw, Shard& shard, Transport transport)
    : gw_(gw),
      shard_(shard),
      transport_(std::move(transport)),
      id_(gw.next_session++),
      last_rx_(std::chrono::steady_clock::now()) {  // the sweep must not see a silent peer before the upgrade
  ++gw_.open_connections;
  ++gw_.ws_connections;
  gw_.metrics.connections.Increment();
  gw_.metrics.connections_total.Increment();
  next_in_shard = shard_.sessions;
  if (next_in_shard != nullptr) next_in_shard->prev_in_shard = this;
  shard_.sessions = this;
}

WsSession::~WsSession() {
  Teardown();
  if (prev_in_shard != nullptr) {
    prev_in_shard->next_in_shard = next_in_shard;
  } else {
    shard_.sessions = next_in_shard;
  }
  if (next_in_shard != nullptr) next_in_shard->prev_in_shard = prev_in_shard;
  --gw_.open_connections;
  --gw_.ws_connections;
  gw_.metrics.connections.Decrement();
}

tcp::socket& WsSession::socket() {
  if (auto* plain = std::get_if<tcp::socket>(&transport_)) return *plain;
  return std::get<1>(transport_)->next_layer();
}

bool WsSession::Follows(ConversationId conv) const {
  return std::binary_search(subs_.begin(), subs_.end(), conv);
}

bool WsSession::AddSubscription(ConversationId conv) {
  auto it = std::lower_bound(subs_.begin(), subs_.end(), conv);
  if (it != subs_.end() && *it == conv) return false;
  subs_.insert(it, conv);
  return true;
}

bool WsSession::RemoveSubscription(ConversationId conv) {
  auto it = std::lower_bound(subs_.begin(), subs_.end(), conv);
  if (it == subs_.end() || *it != conv) return false;
  subs_.erase(it);
  return true;
}

void WsSession::Start(http::request<http::string_body> request, std::string leftover) {
  // The opening handshake (RFC 6455 section 4.2): version 13 and a key.
  auto key = request[http::field::sec_websocket_key];
  auto version = request[http::field::sec_websocket_version];
  auto res = std::make_shared<http::response<http::empty_body>>();
  res->version(11);
  res->set(http::field::server, "parley");
  bool ok = version == "13" && !key.empty() && key.size() <= 64;
  if (!ok) {
    res->result(http::status::bad_request);
    res->set(http::field::sec_websocket_version, "13");
    res->prepare_payload();
  } else {
    res->result(http::status::switching_protocols);
    res->set(http::field::upgrade, "websocket");
    res->set(http::field::connection, "Upgrade");
    res->set(http::field::sec_websocket_accept, ws::AcceptKey(std::string(key)));
    rx_ = std::move(leftover);  // frames the client sent right behind its request
  }
  auto done = [self = shared_from_this(), res, ok](beast::error_code ec, size_t) {
    if (ec || !ok) return self->Teardown();
    self->last_rx_ = std::chrono::steady_clock::now();
    self->deadline_ = Deadline::kHello;
    self->deadline_at_ = self->last_rx_ + std::chrono::milliseconds(self->gw_.options.hello_timeout_ms);
    beast::error_code ignored;
    self->socket().non_blocking(true, ignored);
    self->ContinueReading();
  };
  std::visit(
      [&](auto& stream) {
        if constexpr (std::is_same_v<std::decay_t<decltype(stream)>, tcp::socket>) {
          http::async_write(stream, *res, std::move(done));
        } else {
          http::async_write(*stream, *res, std::move(done));
        }
      },
      transport_);
}

// The shard's sweep calls this every quarter heartbeat (at most 250 ms).
// Server pings keep a quiet connection alive through proxies: a ping after a
// heartbeat of silence, which a live peer answers at once. A peer silent for
// 1.75 heartbeats is dropped, so a dead connection is gone (and its user
// offline) within two heartbeats.
bool WsSession::Due(std::chrono::steady_clock::time_point now) const {
  if (deadline_ != Deadline::kNone && now >= deadline_at_) return true;
  return !torn_down_ && now - last_rx_ >= std::chrono::milliseconds(gw_.options.heartbeat_ms);
}

void WsSession::Tick(std::chrono::steady_clock::time_point now) {
  if (torn_down_) {
    if (deadline_ == Deadline::kTlsShutdown && now >= deadline_at_) CloseSocket();
    return;
  }
  if (deadline_ != Deadline::kNone && now >= deadline_at_) {
    Deadline d = deadline_;
    deadline_ = Deadline::kNone;
    if (d == Deadline::kHello && !hello_seen_) return Close(4001, "no hello in time");
    if (d == Deadline::kClose) return Teardown();
  }
  auto idle = now - last_rx_;
  auto beat = std::chrono::milliseconds(gw_.options.heartbeat_ms);
  if (idle >= beat * 7 / 4) {
    Log()->info("session {} silent for two heartbeats: dropped", id_);
    return Teardown();
  }
  // Silent for a heartbeat: ping, again every quarter heartbeat.
  if (idle >= beat && !closing_ && now - last_ping_ >= beat / 4) {
    last_ping_ = now;
    EnqueueControl(ws::kPing, "");
  }
}

// Handles every complete message already buffered, then waits for more.
// Paused while a hello is being admitted (the client must wait for welcome).
// A connection with kMaxInFlight requests waiting for the store is not read
// further until one is answered: its own TCP window then holds it back, and
// one client cannot queue unbounded work ahead of everyone else's.
void WsSession::RequestDone() {
  bool was_blocked = Blocked();
  --in_flight_requests_;
  if (was_blocked && !Blocked()) ContinueReading();
}

void WsSession::ContinueReading() {
  if (parsing_) return;  // called from a frame's handler: the parse loop goes on
  if (!rx_.empty()) {
    size_t used = ParseFrames(rx_);
    if (torn_down_) return;
    rx_.erase(0, used);
  }
  if (rx_.empty() && rx_.capacity() > 1024) std::string().swap(rx_);  // idle: give it back
  if (torn_down_ || Blocked() || reading_) return;
  reading_ = true;
  if (auto* plain = std::get_if<tcp::socket>(&transport_)) {
    // Wait for bytes, then read them into the shard's buffer: no buffer is
    // held by a connection while it is quiet.
    plain->async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->reading_ = false;
      if (ec) return self->Teardown();
      self->OnReadable();
    });
    return;
  }
  // TLS decrypts into the buffer as the read completes: a buffer of its own.
  constexpr size_t kTlsRead = 16 * 1024;
  if (!tls_read_buffer_) tls_read_buffer_ = std::make_unique<char[]>(kTlsRead);
  std::get<1>(transport_)
      ->async_read_some(asio::buffer(tls_read_buffer_.get(), kTlsRead),
                        [self = shared_from_this()](beast::error_code ec, size_t n) {
                          self->reading_ = false;
                          if (ec) return self->Teardown();
                          self->OnBytes(self->tls_read_buffer_.get(), n);
                        });
}

void WsSession::OnReadable() {
  if (torn_down_) return;
  beast::error_code ec;
  size_t n = std::get<tcp::socket>(transport_).read_some(asio::buffer(shard_.read_buffer), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return ContinueReading();
  if (ec) return Teardown();
  OnBytes(shard_.read_buffer.data(), n);
}

void WsSession::OnBytes(const char* data, size_t n) {
  last_rx_ = std::chrono::steady_clock::now();
  if (rx_.empty() && !Blocked()) {
    // The common case: parse straight from the read buffer, keep the tail.
    size_t used = ParseFrames(std::string_view(data, n));
    if (torn_down_) return;
    rx_.assign(data + used, n - used);
  } else {
    rx_.append(data, n);
  }
  ContinueReading();
}

// Parses and handles frames from the front of `data` until one is
// incomplete, the session pauses or ends; returns the bytes used.
size_t WsSession::ParseFrames(std::string_view data) {
  size_t pos = 0;
  parsing_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{parsing_};
  while (!Blocked() && !torn_down_) {
    if (skip_ > 0) {  // the rest of a frame too big to keep
      size_t n = std::min(skip_, data.size() - pos);
      pos += n;
      skip_ -= n;
      if (skip_ > 0) break;
    }
    ws::ParsedFrame f =
        ws::ParseClientFrame(data.substr(pos), static_cast<uint64_t>(gw_.options.max_frame_bytes));
    if (f.status == ws::ParsedFrame::Status::kIncomplete) break;
    if (f.status == ws::ParsedFrame::Status::kError) {
      Log()->debug("session {}: {}", id_, f.error);
      if (f.error_close == ws::kCloseTooBig) {
        skip_ = f.consumed;
        Close(f.error_close, f.error);
        continue;
      }
      // Out of step with the peer: say why, then hang up.
      hang_up_after_close_ = true;
      Close(f.error_close, f.error);
      return data.size();
    }
    pos += f.consumed;
    OnFrame(f);
  }
  return pos;
}

void WsSession::OnFrame(ws::ParsedFrame& f) {
  switch (f.opcode) {
    case ws::kPing:
      return EnqueueControl(ws::kPong, std::move(f.payload));
    case ws::kPong:
      return;
    case ws::kClose:
      if (closing_) return Teardown();  // the answer to our close: done
      // The peer closes: echo its code, then hang up once it is written.
      closing_ = true;
      close_code_ = f.payload.size() >= 2
                        ? static_cast<uint16_t>((uint8_t(f.payload[0]) << 8) | uint8_t(f.payload[1]))
                        : ws::kCloseNormal;
      hang_up_after_close_ = true;
      DropQueued();
      return EnqueueControl(ws::kClose, ws::ClosePayload(close_code_, ""));
    default:
      break;
  }
  if (closing_) return;  // after our close, data is read and dropped
  if (f.opcode == ws::kContinuation) {
    if (message_opcode_ == 0) return Close(ws::kCloseProtocolError, "continuation without a start");
    if (message_.size() + f.payload.size() > static_cast<size_t>(gw_.options.max_frame_bytes)) {
      return Close(ws::kCloseTooBig, "message too big");
    }
    message_ += f.payload;
  } else {
    if (message_opcode_ != 0) return Close(ws::kCloseProtocolError, "new message inside a fragmented one");
    message_opcode_ = f.opcode;
    message_ = std::move(f.payload);
  }
  if (!f.fin) return;
  uint8_t opcode = message_opcode_;
  message_opcode_ = 0;
  std::string text = std::move(message_);
  message_.clear();
  if (opcode == ws::kBinary) text.insert(0, 1, '\x01');  // a binary frame is never JSON
  HandleText(text);
}

void WsSession::HandleText(std::string_view text) {
  protocol::Parsed p = protocol::ParseClientFrame(text);
  if (!authed_) {
    if (!hello_seen_ && p.request && std::holds_alternative<protocol::HelloReq>(*p.request)) {
      hello_seen_ = true;
      paused_ = true;  // nothing else is read until welcome and the resume are out
      return OnHello(p.id.value_or(0), std::get<protocol::HelloReq>(std::move(*p.request)));
    }
    return Close(4001, "the first frame must be hello");
  }
  if (p.not_json) {
    gw_.metrics.CountError("bad_request");
    if (++bad_frames_in_row_ >= 3) return Close(1008, "three frames in a row were not JSON");
    return Enqueue(presence::MakeFrame(protocol::ErrorFrame(std::nullopt, p.error)));
  }
  bad_frames_in_row_ = 0;
  if (!p.request) {
    gw_.metrics.CountError("bad_request");
    return Enqueue(presence::MakeFrame(protocol::ErrorFrame(p.id, p.error)));
  }
  bool typing = std::holds_alternative<protocol::TypingReq>(*p.request);
  if (!p.id && !typing) {
    return Enqueue(presence::MakeFrame(
        protocol::ErrorFrame(std::nullopt, MakeError(Errc::kBadRequest, "missing field 'id'"))));
  }
  Handle(p.id, *p.request);
}

void WsSession::OnHello(int64_t re, protocol::HelloReq hello) {
  if (auto claims = gw_.service.TryAuthenticate(hello.token))
    return Admit(re, std::move(*claims), std::move(hello));
  // An outside user seen for the first time: provisioning writes to the store.
  chat::Service& svc = gw_.service;
  std::string token = hello.token;
  gw_.Blocking(
      shard_, [&svc, token = std::move(token)] { return svc.Authenticate(token); },
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
        // What the client says it has, up to what exists (a bogus last_seq
        // must not hide future messages).
        for (const auto& c : convs) {
          self->shard_.hub.Subscribe(self.get(), c.id);
          for (const auto& [conv, seq] : hello.last_seq) {
            if (conv == c.id && seq > 0) self->RaiseFloor(conv, std::min(seq, c.last_seq));
          }
        }
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
  if (!plan) {
    Enqueue(presence::MakeFrame(protocol::ErrorFrame(std::nullopt, plan.error())));
  } else {
    for (const auto& c : plan->conversations) {
      if (c.gap) Enqueue(presence::MakeFrame(protocol::GapEvent(c.conv, c.gap->first, c.gap->second)));
      for (const auto& m : c.messages) Enqueue(presence::MakeFrame(protocol::MessageEvent(m)));
      int64_t covered = c.messages.empty() ? (c.gap ? c.gap->second : 0) : c.messages.back().seq;
      if (covered > 0) RaiseFloor(c.conv, covered);
    }
    for (auto& f : plan->presence_frames) Enqueue(presence::MakeFrame(std::move(f)));
  }
  resuming_ = false;
  // Live events that came in meanwhile, minus what the resume already sent.
  auto held = std::move(held_);
  auto held_conv = std::move(held_conv_);
  for (size_t i = 0; i < held.size(); ++i) {
    if (!Stale(held_conv[i], held[i].first)) Enqueue(std::move(held[i].second));
  }
  paused_ = false;
  ContinueReading();
}

// A conversation's floor is the newest seq this connection already has (it
// named it in hello, or the resume sent it). The live event of a message at
// or below it is stale: its delivery to this node's shard can lag behind the
// commit that the resume read (the sequencer posts to each shard in turn),
// and exactly once per (conv, seq) must hold anyway. A floor goes away with
// the first newer event, so the list stays short.
void WsSession::RaiseFloor(ConversationId conv, int64_t seq) {
  auto it = std::lower_bound(floors_.begin(), floors_.end(), conv,
                             [](const auto& f, ConversationId c) { return f.first < c; });
  if (it != floors_.end() && it->first == conv) {
    it->second = std::max(it->second, seq);
  } else {
    floors_.insert(it, {conv, seq});
  }
}

bool WsSession::Stale(ConversationId conv, int64_t seq) {
  if (seq <= 0 || floors_.empty()) return false;
  auto it = std::lower_bound(floors_.begin(), floors_.end(), conv,
                             [](const auto& f, ConversationId c) { return f.first < c; });
  if (it == floors_.end() || it->first != conv) return false;
  if (seq <= it->second) return true;
  floors_.erase(it);
  if (floors_.empty()) floors_.shrink_to_fit();
  return false;
}

void WsSession::Handle(std::optional<int64_t> id, protocol::Request& request) {
  using namespace protocol;
  chat::Service& svc = gw_.service;
  UserId me = user_;
  int64_t re = id.value_or(0);  // present for every request but typing
  // Requests that touch the store run on a blocking worker; the answer frame
  // comes back to this io thread.
  auto blocking = [&](auto work) {
    ++in_flight_requests_;
    gw_.Blocking(shard_, std::move(work), [self = shared_from_this(), id](Result<std::string> frame) {
      self->Answer(id, std::move(frame));
      self->RequestDone();
    });
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
          if (Follows(r.conv)) return svc.Typing(me, r.conv);
          // Not followed here: ask the store why (not_found or forbidden), or
          // pass it on when membership changed under this connection.
          ++in_flight_requests_;
          gw_.Blocking(
              shard_, [&svc, me, conv = r.conv] { return svc.CheckMember(me, conv); },
              [self = shared_from_this(), id, me, conv = r.conv](Result<void> ok) {
                if (ok) {
                  self->gw_.service.Typing(me, conv);
                } else {
                  self->Answer(id, ok.error());
                }
                self->RequestDone();
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
  // The account was deleted (or its tokens revoked) under this connection:
  // say so, then close as a refused hello would.
  if (frame.error().code == Errc::kUnauthorized) Close(4003, "token revoked", /*keep_queued=*/true);
}

void WsSession::DeliverEvent(const presence::Event& event) {
  if (!registered_ || closing_) return;
  if (resuming_) {
    held_.emplace_back(event.seq, event.frame);
    held_conv_.push_back(event.conv);
    return;
  }
  if (Stale(event.conv, event.seq)) return;
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
  queue_.push_back(Outgoing{ws::kText, std::move(frame)});
  RequestFlush();
}

void WsSession::EnqueueControl(uint8_t opcode, std::string payload) {
  if (torn_down_) return;
  queue_.push_back(Outgoing{opcode, presence::MakeFrame(std::move(payload))});
  RequestFlush();
}

// Frames queued by one handler (a batch of events, a resume) leave together:
// the write starts once the handler is done, from the shard's flush.
void WsSession::RequestFlush() {
  if (writing_ || flush_requested_) return;
  flush_requested_ = true;
  shard_.ScheduleFlush(shared_from_this());
}

void WsSession::Flush() {
  flush_requested_ = false;
  if (!writing_ && !torn_down_) DoWrite();
}

// One gathered write of everything queued (bounded per call): the frames'
// headers and the shared payloads go out in one writev. TLS encrypts one
// buffer per record, so there the frames are copied into one buffer first.
void WsSession::DoWrite() {
  constexpr size_t kMaxFrames = 256;
  constexpr size_t kMaxBytes = 512 * 1024;
  in_flight_.clear();
  buffers_.clear();
  size_t bytes = 0;
  while (queue_head_ < queue_.size() && in_flight_.size() < kMaxFrames && (bytes == 0 || bytes < kMaxBytes)) {
    in_flight_.push_back(std::move(queue_[queue_head_++]));
    bytes += in_flight_.back().payload->size();
  }
  if (queue_head_ == queue_.size()) {
    queue_.clear();
    queue_head_ = 0;
  } else if (queue_head_ >= 1024 && queue_head_ * 2 >= queue_.size()) {
    queue_.erase(queue_.begin(),
                 queue_.begin() + static_cast<ptrdiff_t>(queue_head_));  // a slow reader's backlog
    queue_head_ = 0;
  }
  if (in_flight_.empty()) return;
  // Metrics per gathered write, not per frame: shared atomics are costly on
  // the fan-out path.
  gw_.metrics.messages_out.Increment(static_cast<double>(in_flight_.size()));
  SyncQueueGauge();
  headers_.resize(in_flight_.size());
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    const Outgoing& o = in_flight_[i];
    size_t n = ws::EncodeHeader(o.opcode, o.payload->size(), headers_[i]);
    buffers_.emplace_back(headers_[i].data(), n);
    if (!o.payload->empty()) buffers_.emplace_back(o.payload->data(), o.payload->size());
  }
  writing_ = true;
  auto done = [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); };
  if (auto* plain = std::get_if<tcp::socket>(&transport_)) {
    asio::async_write(*plain, buffers_, std::move(done));
    return;
  }
  tls_out_.clear();
  for (const auto& b : buffers_) tls_out_.append(static_cast<const char*>(b.data()), b.size());
  asio::async_write(*std::get<1>(transport_), asio::buffer(tls_out_), std::move(done));
}

void WsSession::OnWrite(beast::error_code ec) {
  writing_ = false;
  bool sent_close = false;
  for (const Outgoing& o : in_flight_) {
    if (o.opcode == ws::kText) queued_bytes_ -= static_cast<int64_t>(o.payload->size());
    sent_close = sent_close || o.opcode == ws::kClose;
  }
  in_flight_.clear();
  SyncQueueGauge();
  if (ec) return Teardown();
  if (sent_close && hang_up_after_close_) return Teardown();
  if (queue_head_ < queue_.size()) return DoWrite();
  // Drained: an idle connection keeps no write buffers.
  if (in_flight_.capacity() > 16) {
    std::vector<Outgoing>().swap(in_flight_);
    std::vector<std::array<uint8_t, 10>>().swap(headers_);
    std::vector<asio::const_buffer>().swap(buffers_);
    std::vector<Outgoing>().swap(queue_);
  }
  if (tls_out_.capacity() > 4096) std::string().swap(tls_out_);
}

void WsSession::DropQueued() {
  for (size_t i = queue_head_; i < queue_.size(); ++i) {
    if (queue_[i].opcode == ws::kText) queued_bytes_ -= static_cast<int64_t>(queue_[i].payload->size());
  }
  queue_.clear();
  queue_head_ = 0;
  SyncQueueGauge();
}

void WsSession::SyncQueueGauge() {
  if (queued_bytes_ == reported_queue_bytes_) return;
  gw_.metrics.fanout_queue_bytes.Increment(static_cast<double>(queued_bytes_ - reported_queue_bytes_));
  reported_queue_bytes_ = queued_bytes_;
}

void WsSession::Close(uint16_t code, const char* reason, bool keep_queued) {
  if (closing_ || torn_down_) return;
  closing_ = true;
  close_code_ = code;
  if (!keep_queued) DropQueued();
  EnqueueControl(ws::kClose, ws::ClosePayload(code, reason));
  // Wait for the peer's close frame (reading goes on), but not forever: a
  // peer that never reads would hold the connection.
  deadline_ = Deadline::kClose;
  deadline_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  paused_ = false;
  ContinueReading();
}

void WsSession::Teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  closing_ = true;
  deadline_ = Deadline::kNone;
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
  DropQueued();
  beast::error_code ec;
  if (tls() && !writing_) {
    // TLS ends with close_notify both ways (a peer that never answers has
    // two seconds); the pending read, if any, is cancelled first.
    socket().cancel(ec);
    deadline_ = Deadline::kTlsShutdown;
    deadline_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    std::get<1>(transport_)->async_shutdown([self = shared_from_this()](beast::error_code) {
      self->CloseSocket();
    });
    return;
  }
  CloseSocket();
}

void WsSession::CloseSocket() {
  deadline_ = Deadline::kNone;
  beast::error_code ec;
  socket().shutdown(tcp::socket::shutdown_both, ec);
  socket().close(ec);
}

}  // namespace parley::gateway
