// parley tail: stream events, resuming after a dropped connection.
#include <iostream>
#include <map>
#include <thread>

#include <boost/json/object.hpp>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/entries.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/live.h"
#include "cli/resolve.h"
#include "protocol/json.h"

namespace parley::cli {

namespace json = boost::json;

namespace {

constexpr auto kPingEvery = std::chrono::seconds(25);
constexpr auto kPongWithin = std::chrono::seconds(10);

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

class Tail {
 public:
  Tail(Api& api, const TailOptions& options)
      : api_(api), options_(options), dir_(api), held_(api.me(), nullptr) {}

  int Run() {
    dir_.Load();
    if (options_.conv) {
      filter_ = ResolveConvId(dir_, *options_.conv);
      // Not one of ours: let the server say why (forbidden / not found).
      if (dir_.Find(filter_) == nullptr) {
        api_.Messages(filter_, std::nullopt, std::nullopt, 1, "tailing '" + *options_.conv + "'");
      }
    }
    for (const Conversation& c : dir_.conversations()) Note(c);
    protocol::Welcome welcome;
    ws_ = OpenSocket(api_, {}, &welcome);
    OnWelcome(welcome);
    std::cerr << "parley: tailing " << (filter_.valid() ? dir_.Name(filter_) : "all conversations") << " as "
              << api_.login().username << " (Ctrl-C to stop)" << std::endl;
    Backoff backoff;
    while (true) {
      if (!ws_ || !ws_->is_open()) {
        std::string why = ws_ ? DescribeClose(*ws_) : "not connected";
        auto wait = backoff.Next();
        std::cerr << "parley: connection lost (" << why << "); reconnecting in "
                  << (wait.count() + 500) / 1000 << " s" << std::endl;
        std::this_thread::sleep_for(wait);
        try {
          ws_.reset();
          ws_ = OpenSocket(api_, LastSeqs(), &welcome);
          OnWelcome(welcome);
          backoff.Reset();
          std::cerr << "parley: reconnected" << std::endl;
        } catch (const CliError& e) {
          if (e.exit_code() != kExitUnreachable) throw;
        }
        continue;
      }
      auto frame = ws_->Receive(std::chrono::milliseconds(500));
      auto now = std::chrono::steady_clock::now();
      if (frame) {
        Handle(*frame);
        last_frame_ = now;
      }
      KeepAlive(now);
    }
  }

 private:
  void OnWelcome(const protocol::Welcome& welcome) {
    for (const Conversation& c : welcome.conversations) {
      dir_.Learn(c);
      Note(c);
    }
    dir_.SetUsername(welcome.user.id, welcome.user.username);
    last_frame_ = std::chrono::steady_clock::now();
    ping_id_.reset();
  }

  // Starts counting a conversation from its current last_seq (first sight only).
  void Note(const Conversation& conv) { last_seq_.try_emplace(conv.id, conv.last_seq); }

  std::vector<std::pair<ConversationId, int64_t>> LastSeqs() const {
    return {last_seq_.begin(), last_seq_.end()};
  }

  // "(proj) " when tailing every conversation.
  std::string Where(ConversationId conv) const { return filter_.valid() ? "" : "(" + dir_.Name(conv) + ") "; }

  bool Wanted(ConversationId conv) const { return !filter_.valid() || conv == filter_; }

  void KeepAlive(std::chrono::steady_clock::time_point now) {
    if (ping_id_) {
      if (now - ping_sent_ > kPongWithin) ws_->Abort();  // a dead connection; reconnect
      return;
    }
    if (now - last_frame_ > kPingEvery) {
      ping_id_ = 1'000'000 + ws_->next_id();
      ping_sent_ = now;
      ws_->SendRequest(protocol::PingReq{}, *ping_id_);
    }
  }

  // Prints a message once (delivery is at least once), fetching what a jump
  // in seq skipped. `frame` is the event as received, echoed by --json.
  void PrintMessage(const Message& m, const json::object* frame) {
    int64_t& last = last_seq_[m.conv];
    if (m.seq <= last) return;  // a duplicate (at-least-once delivery)
    if (last > 0 && m.seq > last + 1) FetchRange(m.conv, last, m.seq);
    last = std::max(last, m.seq);
    if (!Wanted(m.conv)) return;
    std::string sender = dir_.Username(m.conv, m.sender);
    if (options_.json) {
      if (frame) {
        json::object out = *frame;
        out["sender_username"] = sender;
        std::cout << JsonLine(out) << std::endl;
      } else {
        std::cout << MessageJson(m, sender) << std::endl;
      }
    } else if (m.kind != EntryKind::kText) {
      if (filter_.valid()) held_.Apply(m);
      std::cout << "[" << FormatTime(m.ts) << "] " << Where(m.conv) << DescribeChange(m, sender) << std::endl;
    } else if (!filter_.valid()) {
      std::cout << "[" << FormatTime(m.ts) << "] " << Where(m.conv) << sender << ": "
                << (m.deleted ? "(message deleted)" : m.body) << (m.edited_ts ? " (edited)" : "")
                << std::endl;
    } else {
      held_.Hold(m);
      std::cout << FormatEntry(m, StyleFor(dir_, m.conv, held_, /*long_form=*/true)) << std::endl;
    }
  }

  // Prints the messages after `after` and below `below` (a gap).
  void FetchRange(ConversationId conv, int64_t after, int64_t below) {
    int64_t& last = last_seq_[conv];
    while (after + 1 < below) {
      std::vector<Message> page;
      try {
        page = api_.Messages(conv, after > 0 ? std::optional<int64_t>(after) : std::nullopt, below, 500,
                             "fetching missed messages");
      } catch (const CliError& e) {
        if (e.exit_code() == kExitAuth) throw;
        std::cerr << "parley: " << e.what() << std::endl;
        return;
      }
      if (page.empty()) return;
      for (const Message& m : page) {
        last = std::max(last, m.seq - 1);
        PrintMessage(m, nullptr);
        after = std::max(after, m.seq);
      }
    }
  }

  // An event that is not a message: printed (or echoed as JSON with the
  // username of its `user`) when it concerns a wanted conversation.
  void Show(const json::object& frame, ConversationId conv, UserId user, const std::string& text) {
    if (conv.valid() && !Wanted(conv)) return;
    std::string username = user.valid() ? dir_.Username(conv, user) : "";
    if (options_.json) {
      json::object out = frame;
      if (user.valid()) out["username"] = username;
      std::cout << JsonLine(out) << std::endl;
    } else if (!text.empty()) {
      std::cout << "* " << username << text << std::endl;
    }
  }

  void Handle(const json::object& raw) {
    auto parsed = protocol::ParseServerFrame(raw);
    if (!parsed) {
      std::cerr << "parley: ignoring a frame the server should not send: " << parsed.error().message
                << std::endl;
      return;
    }
    std::visit(Overloaded{
                   [&](const Message& m) { PrintMessage(m, &raw); },
                   [&](const protocol::Pong&) { ping_id_.reset(); },
                   [&](const protocol::Gap& g) {
                     int64_t last = last_seq_[g.conv];
                     if (g.to_seq > last) FetchRange(g.conv, std::max(last, g.from_seq - 1), g.to_seq + 1);
                   },
                   [&](const protocol::MemberNotice& m) {
                     if (m.conversation) {
                       dir_.Learn(*m.conversation);
                       Note(*m.conversation);
                     }
                     std::string verb = m.action == "added"  ? " was added to "
                                        : m.action == "left" ? " left "
                                                             : " was removed from ";
                     Show(raw, m.conv, m.user, verb + dir_.Name(m.conv));
                   },
                   [&](const protocol::PresenceEntry& p) {
                     dir_.SetUsername(p.user, p.username);
                     std::string text =
                         p.online ? " is online"
                                  : " is offline" + (p.last_seen && *p.last_seen > 0
                                                         ? " (last seen " + FormatTime(*p.last_seen) + ")"
                                                         : std::string());
                     Show(raw, ConversationId(), p.user, text);
                   },
                   [&](const protocol::TypingNotice& t) {
                     Show(raw, t.conv, t.user, filter_.valid() ? " is typing\xE2\x80\xA6" : "");
                   },
                   [&](const protocol::ReadNotice& r) { Show(raw, r.conv, r.user, ""); },
                   [&](const protocol::ErrorAnswer& e) {
                     if (e.re) return;  // an answer to one of our requests
                     if (options_.json) {
                       std::cout << JsonLine(raw) << std::endl;
                     } else {
                       std::cerr << "parley: server error: " << e.error.message << " (" << e.error.code_name
                                 << ")" << std::endl;
                     }
                   },
                   [&](const protocol::UnknownFrame& u) {
                     // A newer server's event: echoed as JSON, like the others.
                     if (u.re || !options_.json) return;
                     auto field = [&](const char* key) { return raw.if_contains(key); };
                     auto conv =
                         field("conv") ? protocol::AsId<ConversationId>(*field("conv")) : std::nullopt;
                     auto user = field("user") ? protocol::AsId<UserId>(*field("user")) : std::nullopt;
                     Show(raw, conv.value_or(ConversationId()), user.value_or(UserId()), "");
                   },
                   [](const auto&) {},  // other answers
               },
               *parsed);
  }

  Api& api_;
  TailOptions options_;
  Directory dir_;
  ConversationId filter_;
  FoldedEntries held_;  // the filtered conversation's text entries, for reply quotes
  std::unique_ptr<client::WsClient> ws_;
  std::map<ConversationId, int64_t> last_seq_;
  std::chrono::steady_clock::time_point last_frame_{};
  std::chrono::steady_clock::time_point ping_sent_{};
  std::optional<int64_t> ping_id_;
};

}  // namespace

int RunTail(Api& api, const TailOptions& options) { return Tail(api, options).Run(); }

}  // namespace parley::cli
