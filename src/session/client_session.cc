#include "session/client_session.h"

#include <algorithm>
#include <unordered_map>

#include <prometheus/counter.h>

#include "common/close_code.h"
#include "common/logging.h"
#include "metrics/metrics.h"
#include "session/hub.h"

namespace parley::session {
namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("session");
  return log;
}

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- FloodPolicy ------------------------------------------------------------

bool FloodPolicy::PastTolerance(int64_t now_ms, bool refused, double tolerance) {
  if (now_ms - window_start_ >= 1000) {
    bool consecutive = now_ms - window_start_ < 2000;
    previous_window_over_ = consecutive && sends_in_window_ > tolerance;
    window_start_ = now_ms;
    sends_in_window_ = 0;
    refused_in_window_ = false;
  }
  ++sends_in_window_;
  refused_in_window_ = refused_in_window_ || refused;
  return refused_in_window_ && previous_window_over_ && sends_in_window_ > tolerance;
}

// ---- SeqFloors --------------------------------------------------------------

void SeqFloors::Raise(ConversationId conv, int64_t seq) {
  auto it = std::lower_bound(floors_.begin(), floors_.end(), conv,
                             [](const auto& f, ConversationId c) { return f.first < c; });
  if (it != floors_.end() && it->first == conv) {
    it->second = std::max(it->second, seq);
  } else {
    floors_.insert(it, {conv, seq});
  }
}

bool SeqFloors::Stale(ConversationId conv, int64_t seq) {
  if (seq <= 0 || floors_.empty()) return false;
  auto it = std::lower_bound(floors_.begin(), floors_.end(), conv,
                             [](const auto& f, ConversationId c) { return f.first < c; });
  if (it == floors_.end() || it->first != conv) return false;
  if (seq <= it->second) return true;
  floors_.erase(it);
  if (floors_.empty()) floors_.shrink_to_fit();
  return false;
}

// ---- ClientSession: lifetime --------------------------------------------------

ClientSession::ClientSession(SessionEnv& env, Link& link, uint64_t id) : env_(env), link_(link), id_(id) {}

ClientSession::~ClientSession() { OnClosed(); }

std::string ClientSession::name() const {
  return std::to_string(env_.options.node_id) + "-" + std::to_string(id_);
}

bool ClientSession::Gone() const { return closed_ || link_.Closing(); }

void ClientSession::Close(uint16_t code, std::string_view reason, bool keep_queued) {
  closed_ = true;
  link_.Close(code, reason, keep_queued);
}

void ClientSession::OnClosed(bool abrupt) {
  if (gone_) return;
  gone_ = true;
  closed_ = true;
  abrupt_end_ = abrupt;
  if (registered_) {
    env_.hub.Remove(this);
    registered_ = false;
  }
  if (authed_) {
    authed_ = false;
    chat::Service& svc = env_.service;
    UserId user = user_;
    presence::SessionKey key{env_.options.node_id, id_};
    env_.worker.Detach([&svc, user, key, abrupt] { svc.Disconnect(user, key, abrupt); });
  }
  resume_.reset();
  held_.clear();
  held_bytes_ = 0;
}

// Runs `work` on the Worker; `then` gets its result back on this thread,
// with the connection kept alive until then. Only the continuation holds
// the keep-alive, so the last reference never drops on a worker thread.
template <class Work, class Then>
void ClientSession::RunBlocking(Work work, Then then) {
  env_.worker.Run([work = std::move(work), then = std::move(then),
                   alive = link_.KeepAlive()]() mutable -> Worker::Continuation {
    auto result = work();
    return [then = std::move(then), alive = std::move(alive), result = std::move(result)]() mutable {
      then(std::move(result));
    };
  });
}

// ---- subscriptions ----------------------------------------------------------

namespace {
auto FindSub(auto& subs, ConversationId conv) {
  return std::lower_bound(subs.begin(), subs.end(), conv,
                          [](const ClientSession::Sub& s, ConversationId c) { return s.conv < c; });
}
}  // namespace

bool ClientSession::Follows(ConversationId conv) const {
  auto it = FindSub(subs_, conv);
  return it != subs_.end() && it->conv == conv;
}

bool ClientSession::AddSubscription(ConversationId conv) {
  auto it = FindSub(subs_, conv);
  if (it != subs_.end() && it->conv == conv) return false;
  subs_.insert(it, Sub{conv, -1});
  return true;
}

bool ClientSession::RemoveSubscription(ConversationId conv) {
  auto it = FindSub(subs_, conv);
  if (it == subs_.end() || it->conv != conv) return false;
  subs_.erase(it);
  return true;
}

void ClientSession::Saw(ConversationId conv, int64_t seq) {
  auto it = FindSub(subs_, conv);
  if (it != subs_.end() && it->conv == conv && it->seen < seq) it->seen = seq;
}

// ---- input ------------------------------------------------------------------

bool ClientSession::WantsInput() const { return !paused_ && in_flight_requests_ < kMaxInFlight; }

void ClientSession::OnHelloDeadline() {
  if (!hello_seen_) Close(kCloseNoHello, "no hello in time");
}

void ClientSession::RequestDone() {
  bool was_blocked = !WantsInput();
  --in_flight_requests_;
  if (was_blocked && WantsInput() && !Gone()) link_.ContinueReading();
}

void ClientSession::OnMessage(std::string_view text, bool binary) {
  if (Gone()) return;
  std::string prefixed;
  if (binary) {  // a binary frame is never JSON
    prefixed.reserve(text.size() + 1);
    prefixed.push_back('\x01');
    prefixed.append(text);
    text = prefixed;
  }
  protocol::Parsed p = protocol::ParseClientFrame(text);
  if (!authed_) {
    if (!hello_seen_ && p.request && std::holds_alternative<protocol::HelloReq>(*p.request)) {
      return OnHello(p.id.value_or(0), std::get<protocol::HelloReq>(std::move(*p.request)));
    }
    return Close(kCloseNoHello, "the first frame must be hello");
  }
  if (p.not_json) {
    env_.metrics.CountError(ErrcName(Errc::kBadRequest));
    if (++bad_frames_in_row_ >= 3) return Close(kCloseNotJson, "three frames in a row were not JSON");
    return Send(protocol::ErrorFrame(std::nullopt, p.error));
  }
  bad_frames_in_row_ = 0;
  if (!p.request) {
    env_.metrics.CountError(ErrcName(Errc::kBadRequest));
    return Send(protocol::ErrorFrame(p.id, p.error));
  }
  bool typing = std::holds_alternative<protocol::TypingReq>(*p.request);
  if (!p.id && !typing) {
    return Send(protocol::ErrorFrame(std::nullopt, MakeError(Errc::kBadRequest, "missing field 'id'")));
  }
  Handle(p.id, *p.request);
}

// ---- the opening: hello, welcome, resume --------------------------------------

void ClientSession::OnHello(int64_t re, protocol::HelloReq hello) {
  hello_seen_ = true;
  paused_ = true;  // nothing else is read until welcome and the resume are out
  if (auto claims = env_.service.TryAuthenticate(hello.token)) {
    return Admit(re, std::move(*claims), std::move(hello));
  }
  // An outside user seen for the first time: provisioning writes to the store.
  chat::Service& svc = env_.service;
  std::string token = hello.token;  // not in the capture: `hello` moves into the other lambda
  RunBlocking([&svc, token = std::move(token)] { return svc.Authenticate(token); },
              [this, re, hello = std::move(hello)](Result<auth::Claims> claims) mutable {
                if (Gone()) return;
                Admit(re, std::move(claims), std::move(hello));
              });
}

void ClientSession::Admit(int64_t re, Result<auth::Claims> claims, protocol::HelloReq hello) {
  if (!claims) {
    Log()->warn("hello refused: {}", claims.error().message);
    bool unauthorized = claims.error().code == Errc::kUnauthorized;
    return Close(unauthorized ? kCloseBadToken : kCloseInternal,
                 unauthorized ? "bad or expired token" : "backend unavailable");
  }
  user_ = claims->user;
  token_epoch_ = claims->epoch;
  // Join the hub before reading the conversation list, holding live events
  // (resuming_) until the resume is sent: a membership change or message in
  // between then reaches this connection instead of falling in a gap.
  env_.hub.Add(this);
  registered_ = true;
  resuming_ = true;
  chat::Service& svc = env_.service;
  UserId user = user_;
  presence::SessionKey key{env_.options.node_id, id_};
  RunBlocking([&svc, user, key] { return svc.Connect(user, key); },
              [this, re, hello = std::move(hello)](auto result) mutable {
                Connected(re, std::move(hello), std::move(result));
              });
}

void ClientSession::Connected(int64_t re, protocol::HelloReq hello,
                              Result<chat::Service::Connection> result) {
  if (gone_) {
    // The connection ended while the session was being registered.
    if (result) {
      chat::Service& svc = env_.service;
      UserId user = user_;
      presence::SessionKey key{env_.options.node_id, id_};
      env_.worker.Detach([&svc, user, key, abrupt = abrupt_end_] { svc.Disconnect(user, key, abrupt); });
    }
    return;
  }
  if (!result) {
    if (result.error().code == Errc::kNotFound) return Close(kCloseBadToken, "user no longer exists");
    Send(protocol::ErrorFrame(re, result.error()));
    return Close(kCloseInternal, "backend unavailable", /*keep_queued=*/true);
  }
  authed_ = true;
  if (Gone()) return;  // closing: OnClosed will say Disconnect
  const User& user = result->user;
  const std::vector<Conversation>& convs = result->conversations;
  // What the client says it has, up to what exists (a bogus last_seq must
  // not hide future messages).
  std::unordered_map<ConversationId, int64_t> has(hello.last_seq.begin(), hello.last_seq.end());
  for (const auto& c : convs) {
    env_.hub.Subscribe(this, c.id);
    auto it = has.find(c.id);
    if (it != has.end() && it->second > 0) floors_.Raise(c.id, std::min(it->second, c.last_seq));
    // What the client has: what it named, or nothing with "all", or else
    // the summary only (the newest seq is where it starts).
    int64_t has_seq = it != has.end() ? std::clamp<int64_t>(it->second, 0, c.last_seq)
                      : hello.all     ? 0
                                      : c.last_seq;
    Saw(c.id, has_seq);
  }
  Send(protocol::WelcomeFrame(re, user, name(), env_.options.heartbeat_ms, convs));
  // The resume reads the store only once this node receives the live
  // events of the user and of every conversation (with Redis, a node that
  // did not follow one yet subscribes now): nothing committed in between
  // falls in a gap. Should Redis not confirm in time, the catch-up after it
  // resubscribes covers the difference.
  std::vector<fanout::Interest> interests{{fanout::Interest::Kind::kUser, user_.value}};
  for (const auto& c : convs) interests.push_back({fanout::Interest::Kind::kConversation, c.id.value});
  chat::Service& svc = env_.service;
  fanout::FanOut& fan = env_.hub.fanout();
  UserId uid = user_;
  RunBlocking(
      [&svc, &fan, uid, hello = std::move(hello), interests = std::move(interests),
       contacts = std::move(result->contacts), limit = env_.options.resume_page] {
        if (!fan.AwaitFollowing(interests, kFollowWait)) {
          Log()->debug("user {}: fan-out not following every conversation yet; resuming anyway", uid.value);
        }
        Result<chat::ResumePlan> plan = svc.Resume(uid, hello, contacts);
        if (plan) svc.ReadAhead(uid, *plan, limit);
        return plan;
      },
      [this](Result<chat::ResumePlan> plan) {
        if (Gone()) return;
        StartResume(std::move(plan));
      });
}

void ClientSession::StartResume(Result<chat::ResumePlan> plan) {
  resume_ = std::make_unique<Resume>();
  if (!plan) {
    Send(protocol::ErrorFrame(std::nullopt, plan.error()));
  } else {
    resume_->convs = std::move(plan->conversations);
    resume_->presence = std::move(plan->online);
  }
  PumpResume();
}

// Sends the resume a page at a time: the next page is read from the store
// only once the connection's queue is below the low-water mark, so a prompt
// reader gets all of it in bounded memory, and a reader that stops reading
// stops the resume (its held live events then reach the slow-reader bound).
void ClientSession::PumpResume() {
  const SessionOptions& o = env_.options;
  while (resume_ && !resume_->reading && !Gone()) {
    if (resume_->next < resume_->convs.size()) {
      const chat::ResumePlan::Conv& done = resume_->convs[resume_->next];
      if (done.after >= done.upto && (!done.gap || resume_->gap_sent)) {
        ++resume_->next;
        resume_->gap_sent = false;
        continue;
      }
    }
    if (resume_->next == resume_->convs.size()) return FinishResume();
    if (link_.QueuedBytes() > o.resume_low_water_bytes) return;  // OnWritten calls again
    chat::ResumePlan::Conv& c = resume_->convs[resume_->next];
    if (c.gap && !resume_->gap_sent) {
      link_.Send(protocol::MakeFrame(protocol::GapEvent(c.conv, c.gap->first, c.gap->second)), false);
      floors_.Raise(c.conv, c.gap->second);
      Saw(c.conv, c.gap->second);
      resume_->gap_sent = true;
      continue;
    }
    if (c.page) {  // read with the plan
      std::vector<Message> page = std::move(*c.page);
      c.page.reset();
      SendResumePage(std::move(page));
      continue;
    }
    resume_->reading = true;
    chat::Service& svc = env_.service;
    RunBlocking([&svc, me = user_, conv = c.conv, after = c.after, upto = c.upto,
                 limit = o.resume_page] { return svc.ResumePage(me, conv, after, upto, limit); },
                [this](Result<std::vector<Message>> page) {
                  if (Gone() || !resume_) return;
                  resume_->reading = false;
                  SendResumePage(std::move(page));
                  PumpResume();
                });
  }
}

// A page of the conversation being resumed (convs[next]) goes out, or,
// when it could not be read, a gap for what it would have held.
void ClientSession::SendResumePage(Result<std::vector<Message>> page) {
  chat::ResumePlan::Conv& c = resume_->convs[resume_->next];
  if (!page) {
    // Say what could not be read; the client fetches it with history.
    Log()->warn("session {}: resume of conversation {} failed: {}", id_, c.conv.value, page.error().message);
    link_.Send(protocol::MakeFrame(protocol::GapEvent(c.conv, c.after + 1, c.upto)), false);
    floors_.Raise(c.conv, c.upto);
    Saw(c.conv, c.upto);
    c.after = c.upto;
  } else if (page->empty()) {
    c.after = c.upto;
  } else {
    for (const Message& m : *page) {
      link_.Send(protocol::MakeFrame(protocol::MessageEvent(m)), false);
    }
    c.after = page->back().seq;
    floors_.Raise(c.conv, c.after);
    Saw(c.conv, c.after);
  }
}

void ClientSession::FinishResume() {
  // Who is online, except contacts with a live presence event held: that
  // event is newer than the plan's snapshot, and the contact must be told
  // once, not twice.
  for (const auto& online : resume_->presence) {
    bool newer =
        std::any_of(held_.begin(), held_.end(), [&](const Held& h) { return h.subject == online.user; });
    if (!newer) Send(online.frame);
  }
  resume_.reset();
  resuming_ = false;
  // Live events that came in meanwhile, minus what the resume already sent.
  auto held = std::move(held_);
  held_.clear();
  held_bytes_ = 0;
  for (Held& h : held) {
    if (floors_.Stale(h.conv, h.seq)) continue;
    if (h.seq > 0) Saw(h.conv, h.seq);
    link_.Send(std::move(h.frame));
  }
  if (paused_) {  // the resume after hello: requests may come now
    paused_ = false;
    link_.ContinueReading();
  }
  if (catch_up_again_) {
    catch_up_again_ = false;
    CatchUp();
  }
}

void ClientSession::CatchUp() {
  if (!authed_ || Gone()) return;
  if (resuming_) {
    catch_up_again_ = true;
    return;
  }
  // As a hello naming what this connection has: conversations followed
  // since it joined one and with no message yet are left out.
  protocol::HelloReq since;
  for (const Sub& s : subs_) {
    if (s.seen >= 0) since.last_seq.emplace_back(s.conv, s.seen);
  }
  resuming_ = true;  // live events wait until the catch-up is out
  chat::Service& svc = env_.service;
  // A revocation may have been among the lost events: the token is checked
  // against the store before anything more is sent on it.
  RunBlocking(
      [&svc, uid = user_, epoch = token_epoch_, since = std::move(since),
       limit = env_.options.resume_page]() -> Result<chat::ResumePlan> {
        if (auto ok = svc.RecheckRevocation(uid, epoch); !ok) return ok.error();
        Result<chat::ResumePlan> plan = svc.Resume(uid, since);
        if (plan) svc.ReadAhead(uid, *plan, limit);
        return plan;
      },
      [this](Result<chat::ResumePlan> plan) {
        if (Gone()) return;
        if (!plan && plan.error().code == Errc::kUnauthorized) {
          Log()->info("session {} of user {} closed: its token was revoked while fan-out was lost", id_,
                      user_.value);
          Close(kCloseBadToken, "token revoked");
          return;
        }
        StartResume(std::move(plan));
      });
}

void ClientSession::OnWritten() {
  if (resume_ && !resume_->reading) PumpResume();
}

// ---- events and answers ---------------------------------------------------------

void ClientSession::DeliverEvent(const fanout::Event& event) {
  if (!registered_ || Gone() || !event.frame) return;
  if (resuming_) {
    held_bytes_ += static_cast<int64_t>(event.frame->size());
    if (held_bytes_ > env_.options.max_queue_bytes) {
      env_.metrics.slow_consumers.Increment();
      Log()->info("session {} of user {} closed: {} bytes of live events held during its resume", id_,
                  user_.value, held_bytes_);
      return Close(kCloseSlowReader, "too slow a reader");
    }
    held_.push_back(Held{event.conv, event.seq, event.subject, event.frame});
    return;
  }
  if (floors_.Stale(event.conv, event.seq)) return;
  if (event.seq > 0) Saw(event.conv, event.seq);
  link_.Send(event.frame);
}

void ClientSession::Revoke(int64_t epoch) {
  env_.service.NoteRevocation(user_, epoch);
  if (token_epoch_ >= epoch || Gone()) return;
  Log()->info("session {} of user {} closed: its token was revoked", id_, user_.value);
  Close(kCloseBadToken, "token revoked");
}

void ClientSession::Answer(const Frame& frame) {
  if (!Gone()) link_.Send(frame);
}

void ClientSession::Reply(std::optional<int64_t> re, Result<std::string> frame) {
  if (Gone()) return;
  if (frame) return Send(std::move(frame).value());
  env_.metrics.CountError(ErrcName(frame.error().code));
  Send(protocol::ErrorFrame(re, frame.error()));
  // The account was deleted (or its tokens revoked) under this connection:
  // say so, then close as a refused hello would.
  if (frame.error().code == Errc::kUnauthorized) Close(kCloseBadToken, "token revoked", /*keep_queued=*/true);
}

// ---- requests -----------------------------------------------------------------------

void ClientSession::Blocking(std::optional<int64_t> id, std::function<Result<std::string>()> work) {
  ++in_flight_requests_;
  RunBlocking(std::move(work), [this, id](Result<std::string> frame) {
    Reply(id, std::move(frame));
    RequestDone();
  });
}

void ClientSession::Handle(std::optional<int64_t> id, protocol::Request& request) {
  using namespace protocol;
  chat::Service& svc = env_.service;
  UserId me = user_;
  int64_t re = id.value_or(0);  // present for every request but typing
  auto ok_or = [re](Result<void> r) -> Result<std::string> {
    if (!r) return r.error();
    return OkFrame(re);
  };
  std::visit(
      [&](auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, HelloReq>) {
          Reply(id, MakeError(Errc::kBadRequest, "hello was already said"));
        } else if constexpr (std::is_same_v<T, SendReq> || std::is_same_v<T, EditReq> ||
                             std::is_same_v<T, DeleteReq> || std::is_same_v<T, ReactReq>) {
          // Every entry of §5 takes the path of a send: rate, log, commit,
          // then `sent` (or an error) from the sequencer to this origin.
          log::Origin origin{env_.options.node_id, env_.options.io_thread, id_, re};
          Result<void> sent = Ok();
          if constexpr (std::is_same_v<T, SendReq>) {
            sent = svc.Send(me, std::move(r), origin);
          } else if constexpr (std::is_same_v<T, EditReq>) {
            sent = svc.Edit(me, std::move(r), origin);
          } else if constexpr (std::is_same_v<T, DeleteReq>) {
            sent = svc.Delete(me, std::move(r), origin);
          } else {
            sent = svc.React(me, std::move(r), origin);
          }
          int64_t now = env_.options.now_ms ? env_.options.now_ms() : SteadyNowMs();
          double tolerance = env_.options.send_rate_per_s * env_.options.abuse_factor;
          if (flood_.PastTolerance(now, !sent && sent.error().code == Errc::kRateLimited, tolerance)) {
            return Close(kCloseRateLimited, "rate limited beyond tolerance");
          }
          if (sent) {
            env_.metrics.messages_in.Increment();
            return;
          }
          Reply(id, sent.error());
        } else if constexpr (std::is_same_v<T, TypingReq>) {
          if (Follows(r.conv)) return svc.Typing(me, r.conv);
          // Not followed here: ask the store why (not_found or forbidden), or
          // pass it on when membership changed under this connection.
          ++in_flight_requests_;
          RunBlocking([&svc, me, conv = r.conv] { return svc.CheckMember(me, conv); },
                      [this, id, me, conv = r.conv](Result<void> ok) {
                        if (ok) {
                          if (!Gone()) env_.service.Typing(me, conv);
                        } else {
                          Reply(id, ok.error());
                        }
                        RequestDone();
                      });
        } else if constexpr (std::is_same_v<T, PingReq>) {
          Reply(id, PongFrame(re, SystemClock::Instance().NowMs()));
        } else if constexpr (std::is_same_v<T, HistoryReq>) {
          Blocking(id, [&svc, me, r, re]() -> Result<std::string> {
            auto msgs = svc.History(me, r.conv, r.before, r.after, r.limit);
            if (!msgs) return msgs.error();
            return HistoryFrame(re, r.conv, *msgs);
          });
        } else if constexpr (std::is_same_v<T, ReadReq>) {
          Blocking(id, [&svc, me, r, ok_or] { return ok_or(svc.MarkRead(me, r.conv, r.seq)); });
        } else if constexpr (std::is_same_v<T, CreateGroupReq>) {
          Blocking(id, [&svc, me, r = std::move(r), re]() -> Result<std::string> {
            auto c = svc.CreateGroup(me, r.title, r.members);
            if (!c) return c.error();
            return ConversationFrame(re, *c);
          });
        } else if constexpr (std::is_same_v<T, DmReq>) {
          Blocking(id, [&svc, me, r = std::move(r), re]() -> Result<std::string> {
            auto c = svc.OpenDm(me, r.username);
            if (!c) return c.error();
            return ConversationFrame(re, *c);
          });
        } else if constexpr (std::is_same_v<T, MemberReq>) {
          Blocking(id, [&svc, me, r = std::move(r), ok_or]() -> Result<std::string> {
            if (r.add) {
              auto c = svc.AddMember(me, r.conv, r.username);
              if (!c) return c.error();
              return ok_or(Ok());
            }
            return ok_or(svc.RemoveMember(me, r.conv, r.username));
          });
        } else if constexpr (std::is_same_v<T, LeaveReq>) {
          Blocking(id, [&svc, me, r, ok_or] { return ok_or(svc.Leave(me, r.conv)); });
        } else if constexpr (std::is_same_v<T, PresenceReq>) {
          Blocking(id, [&svc, me, r = std::move(r), re]() -> Result<std::string> {
            auto users = svc.QueryPresence(me, r.users);
            if (!users) return users.error();
            return PresenceAnswer(re, *users);
          });
        } else if constexpr (std::is_same_v<T, SetRoleReq>) {
          Blocking(id, [&svc, me, r = std::move(r), ok_or] {
            return ok_or(svc.SetRole(me, r.conv, r.username, r.role));
          });
        } else if constexpr (std::is_same_v<T, TransferReq>) {
          Blocking(id, [&svc, me, r = std::move(r), ok_or] {
            return ok_or(svc.Transfer(me, r.conv, r.username));
          });
        } else if constexpr (std::is_same_v<T, BanReq>) {
          Blocking(id, [&svc, me, r = std::move(r), ok_or] {
            return ok_or(r.ban ? svc.Ban(me, r.conv, r.username) : svc.Unban(me, r.conv, r.username));
          });
        } else if constexpr (std::is_same_v<T, UpdateGroupReq>) {
          Blocking(id, [&svc, me, r = std::move(r), ok_or] {
            return ok_or(svc.UpdateGroup(me, r.conv, r.title, r.topic));
          });
        } else if constexpr (std::is_same_v<T, NotifyReq>) {
          Blocking(id, [&svc, me, r, ok_or] { return ok_or(svc.SetNotifyLevel(me, r.conv, r.level)); });
        } else {
          static_assert(sizeof(T) == 0, "a request type is not handled");
        }
      },
      request);
}

}  // namespace parley::session
