#pragma once
// ClientSession: one client's conversation with the server over a WebSocket,
// without the socket. It turns text frames into chat::Service calls and
// answers, and holds what PROTOCOL.md asks of a connection:
// - the opening: `hello` first (else 4001), then `welcome`, then the resume
//   (missed messages per conversation, paced by how fast the client reads,
//   then who is online), with live events held back until it is out;
// - per-conversation floors, so that no live event repeats what the client
//   already has (exactly once per (conv, seq));
// - request dispatch, store work on the Worker, answers in any order;
// - the flood policy (4008) and the bad-frame policy (1008).
//
// Thread: one io thread for life (its Hub's). Lifetime: held by the
// connection that carries it (Link), which outlives every call into it;
// continuations of blocking work keep the connection alive
// (Link::KeepAlive) and find the session closed when it ended meanwhile.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/service.h"
#include "fanout/fanout.h"
#include "session/link.h"

namespace parley::metrics {
class Metrics;
}

namespace parley::session {

class Hub;

struct SessionOptions {
  int64_t node_id = 1;
  uint32_t io_thread = 0;  // the index of the io thread, for log::Origin
  int heartbeat_ms = 25000;
  double send_rate_per_s = 50;
  double abuse_factor = 10;
  // The slow-reader bound: also bounds live events held during a resume.
  int64_t max_queue_bytes = 4 * 1024 * 1024;
  // The resume reads at most this many messages per store read, and reads
  // the next page only once the connection's queue is below
  // resume_low_water_bytes: a prompt reader gets its whole resume, in
  // bounded memory, however much it missed.
  int resume_page = 100;
  int64_t resume_low_water_bytes = 256 * 1024;
  // The clock of the flood policy's one-second windows (steady, in ms).
  std::function<int64_t()> now_ms;
};

// What every session of one io thread shares.
struct SessionEnv {
  chat::Service& service;
  Hub& hub;
  Worker& worker;
  metrics::Metrics& metrics;
  const SessionOptions& options;
};

// Sends counted in one-second windows. A client that keeps sending at
// abuse_factor times the rate (two windows in a row over it, with sends
// refused) is not listening to its rate_limited answers.
class FloodPolicy {
 public:
  // Counts one send at `now_ms` (refused or not); true when the connection
  // should be closed with 4008.
  bool PastTolerance(int64_t now_ms, bool refused, double tolerance);

 private:
  int64_t window_start_ = 0;
  int sends_in_window_ = 0;
  bool previous_window_over_ = false;
  bool refused_in_window_ = false;
};

// Per conversation, the newest seq a connection already has (it named it in
// hello, or the resume sent it). A live message event at or below it is
// stale: its delivery to this io thread can lag behind the commit that the
// resume read. A floor goes away with the first newer event, so the list
// stays short.
class SeqFloors {
 public:
  void Raise(ConversationId conv, int64_t seq);
  // True when `seq` is at or below the floor of `conv` (drop the event);
  // a newer seq removes the floor.
  bool Stale(ConversationId conv, int64_t seq);
  bool empty() const { return floors_.empty(); }

 private:
  std::vector<std::pair<ConversationId, int64_t>> floors_;  // sorted by conv
};

class ClientSession {
 public:
  ClientSession(SessionEnv& env, Link& link, uint64_t id);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  uint64_t id() const { return id_; }
  UserId user() const { return user_; }
  bool admitted() const { return registered_; }
  // The `session` of welcome: "<node>-<id>".
  std::string name() const;

  // ---- from the connection ----------------------------------------------------
  // One complete message from the client (a binary one is never JSON).
  void OnMessage(std::string_view text, bool binary);
  // False while the session wants no more requests yet (admitting a hello,
  // sending the resume, or too many store requests out): the connection
  // stops parsing and reading until Link::ContinueReading.
  bool WantsInput() const;
  // The hello deadline passed: closes with 4001 unless hello came.
  void OnHelloDeadline();
  // Some queued bytes were written: the resume may go on.
  void OnWritten();
  // The connection is gone (torn down): leaves the hub and the presence
  // registry. Called once; nothing is sent afterwards. `abrupt`: it ended
  // without a closing handshake (chat::Service::Disconnect).
  void OnClosed(bool abrupt = false);

  // ---- from the hub -----------------------------------------------------------
  // A conversation this session follows, and the newest message of it this
  // connection was sent (or said it has); -1 when unknown (followed since
  // it joined, and no message came yet).
  struct Sub {
    ConversationId conv;
    int64_t seen = -1;
  };
  void DeliverEvent(const fanout::Event& event);
  // Events may have been lost on their way to this node: send what the
  // store has after what this connection has seen of each conversation (a
  // resume, paced and with live events held as at hello), then who is
  // online. Does nothing before welcome; during a resume, runs after it.
  void CatchUp();
  // The user's tokens issued under an epoch below `epoch` were revoked
  // (password change, logout everywhere, deletion; PROTOCOL.md §7): the
  // service learns it, and the session closes with 4003 when its own token
  // is one of them.
  void Revoke(int64_t epoch);
  // An answer addressed to this session (`sent` or its error).
  void Answer(const Frame& frame);
  bool Follows(ConversationId conv) const;
  bool AddSubscription(ConversationId conv);
  bool RemoveSubscription(ConversationId conv);
  const std::vector<Sub>& subscriptions() const { return subs_; }

 private:
  // The resume in progress: conversations to send, one page at a time.
  struct Resume {
    std::vector<chat::ResumePlan::Conv> convs;
    std::vector<chat::ResumePlan::Online> presence;
    size_t next = 0;        // index into convs
    bool gap_sent = false;  // of convs[next]
    bool reading = false;   // a page read is out
  };
  struct Held {
    ConversationId conv;
    int64_t seq;
    UserId subject;
    Frame frame;
  };

  static constexpr int kMaxInFlight = 8;  // store requests per connection
  // How long a resume waits for the fan-out to follow its conversations.
  static constexpr std::chrono::milliseconds kFollowWait{2000};

  void OnHello(int64_t re, protocol::HelloReq hello);
  void Admit(int64_t re, Result<auth::Claims> claims, protocol::HelloReq hello);
  void Connected(int64_t re, protocol::HelloReq hello, Result<chat::Service::Connection> result);
  template <class Work, class Then>
  void RunBlocking(Work work, Then then);
  void StartResume(Result<chat::ResumePlan> plan);
  void SendResumePage(Result<std::vector<Message>> page);
  void PumpResume();
  void FinishResume();
  void Handle(std::optional<int64_t> id, protocol::Request& request);
  // Runs `work` on the Worker and answers its frame (or error) to `id`.
  void Blocking(std::optional<int64_t> id, std::function<Result<std::string>()> work);
  void Reply(std::optional<int64_t> re, Result<std::string> frame);
  void Send(std::string text) { link_.Send(protocol::MakeFrame(std::move(text))); }
  void Close(uint16_t code, std::string_view reason, bool keep_queued = false);
  void RequestDone();
  // `seq` of `conv` was sent to the connection (raises its Sub::seen).
  void Saw(ConversationId conv, int64_t seq);
  // Closing, by either side, or gone: nothing more is sent.
  bool Gone() const;

  SessionEnv& env_;
  Link& link_;
  uint64_t id_;
  UserId user_;
  int64_t token_epoch_ = 0;  // of the token hello was admitted with
  bool hello_seen_ = false;
  bool authed_ = false;      // Connect succeeded: Disconnect is owed
  bool registered_ = false;  // in the hub
  bool resuming_ = false;    // hello admitted, resume not yet all sent
  bool paused_ = false;      // hello seen, resume not yet all sent: read nothing
  bool closed_ = false;      // this session asked the connection to close
  bool gone_ = false;        // OnClosed ran
  bool abrupt_end_ = false;  // ... for a connection that ended without a closing handshake
  int bad_frames_in_row_ = 0;
  int in_flight_requests_ = 0;
  bool catch_up_again_ = false;  // a CatchUp came during a resume
  std::vector<Sub> subs_;        // sorted by conv
  SeqFloors floors_;
  FloodPolicy flood_;
  std::unique_ptr<Resume> resume_;
  // Live events that arrive while the resume is being sent, and their bytes.
  std::vector<Held> held_;
  int64_t held_bytes_ = 0;
};

}  // namespace parley::session
