// parley chat: an interactive, line-based chat in one conversation.
//
// One thread polls stdin (briefly) and the socket in turn. On a terminal,
// input goes through LineEditor (libedit: editing keys, history) so incoming
// lines can be printed above the prompt and the prompt and the partial input
// redrawn; otherwise (pipes) lines are read and printed plainly, which is
// what scripts and tests use. Either way a line may be a command (/help,
// /members, /leave, /quit; chat_input.h).
#include <poll.h>
#include <unistd.h>

#include <deque>
#include <iostream>
#include <map>

#include "cli/api.h"
#include "cli/chat_input.h"
#include "cli/commands.h"
#include "cli/entries.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/line_editor.h"
#include "cli/live.h"
#include "cli/membership.h"
#include "cli/resolve.h"
#include "cli/terminal.h"

namespace parley::cli {

using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTypingEvery = std::chrono::seconds(3);  // the server's own limit
constexpr auto kTypingShownFor = std::chrono::seconds(5);
constexpr auto kPingEvery = std::chrono::seconds(25);
constexpr auto kPongWithin = std::chrono::seconds(10);
constexpr auto kGiveUpAfterEof = std::chrono::seconds(30);
constexpr const char* kEllipsis = "\xE2\x80\xA6";
// Before a line typed while offline, until the server has it.
const std::string kQueuedMark = "[queued] ";
// How much of an unsent message a "not sent" notice quotes.
constexpr size_t kQuotedBytes = 40;

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

class Chat {
 public:
  Chat(Api& api, const ChatOptions& options)
      : api_(api),
        options_(options),
        dir_(api),
        held_(api.me(), [this](std::string_view body) { return MentionsIn(dir_, conv_)(body); }),
        tty_(IsTty(STDIN_FILENO) && IsTty(STDOUT_FILENO)) {}

  int Run() {
    dir_.Load();
    conv_ = ResolveConvId(dir_, options_.conv);
    name_ = dir_.Name(conv_);
    if (const Conversation* c = dir_.Find(conv_)) last_seq_ = c->last_seq;

    // Recent history first (this also checks membership), then the socket
    // resumes from the last seq shown, so nothing falls in between.
    const std::string what = "opening '" + options_.conv + "'";
    std::vector<Message> recent =
        api_.Messages(conv_, std::nullopt, std::nullopt, std::max(options_.history, 1), what);
    if (options_.history == 0) recent.clear();
    if (!recent.empty()) last_seq_ = 0;
    // Text entries come folded: the page's change entries are already in them.
    for (const Message& m : recent) ShowMessage(m, /*live=*/false);

    protocol::Welcome welcome;
    ws_ = OpenSocket(api_, {{conv_, last_seq_}}, &welcome);
    OnConnected(welcome);

    std::optional<LineEditor> editor;
    if (tty_) {
      editor.emplace(Prompt(), [this](std::optional<std::string> line) { OnEntered(std::move(line)); });
      editor_ = &*editor;
    }
    Status("connected to " + name_ + " as " + api_.login().username +
           (tty_ ? "; type and press Enter to send, /help for commands, Ctrl-D to quit" : ""));

    while (!left_) {
      auto now = Clock::now();
      if (!stdin_eof_) PollStdin(connected() ? 20 : 100);
      if (left_) break;
      if (ws_) {
        while (auto frame =
                   ws_->Receive(stdin_eof_ ? std::chrono::milliseconds(50) : std::chrono::milliseconds(0))) {
          Handle(*frame);
          last_frame_ = Clock::now();
          if (stdin_eof_) break;
        }
        if (!ws_->is_open())
          OnDropped();
        else
          KeepAlive(now);
      } else if (now >= reconnect_at_) {
        TryReconnect();
      }
      ExpireTyping(now);
      if (stdin_eof_ && pending_.empty()) break;
      if (stdin_eof_ && now - eof_at_ > kGiveUpAfterEof) {
        ClearPromptLine();
        throw Unreachable(api_.login().server,
                          std::to_string(pending_.size()) + " message(s) could not be confirmed as sent");
      }
    }
    ClearPromptLine();
    editor_ = nullptr;
    return kExitOk;
  }

 private:
  struct Pending {
    std::string client_msg_id;
    std::string body;
    int64_t request_id = 0;  // 0: not sent on the current connection
    Clock::time_point not_before{};
  };

  bool connected() const { return ws_ && ws_->is_open(); }

  // ---- output ----

  std::string Prompt() const {
    std::string typing;
    for (const auto& [user, until] : typing_until_) {
      typing += (typing.empty() ? "" : ", ") + user;
    }
    std::string p = name_;
    if (!typing.empty()) {
      p += " (" + typing + (typing_until_.size() == 1 ? " is" : " are") + " typing" + kEllipsis + ")";
    }
    if (!connected()) p += " [offline]";
    return p + "> ";
  }

  void ClearPromptLine() {
    if (editor_) editor_->Clear();
  }

  void RedrawPrompt() {
    if (editor_) editor_->SetPrompt(Prompt());
  }

  // A line above the prompt (which it brings up to date: typing, offline).
  void PrintLine(const std::string& line) {
    if (editor_) {
      editor_->PrintAbove(line, Prompt());
    } else {
      std::cout << line << std::endl;
    }
  }

  // Connection news: on the terminal above the prompt, else on stderr.
  void Status(const std::string& text) {
    if (tty_) {
      PrintLine("-- " + text);
    } else {
      std::cerr << "parley: " << text << std::endl;
    }
  }

  // An entry of the conversation, once: a text entry is held and printed
  // (with the quote of the entry it answers); a change is folded into its
  // target by the state_seq rule and, when `live`, said in one line.
  void ShowMessage(const Message& m, bool live = true) {
    if (m.seq <= last_seq_) return;  // seen already
    std::string sender = dir_.Username(conv_, m.sender);
    typing_until_.erase(sender);
    last_seq_ = m.seq;
    if (m.kind == EntryKind::kText) {
      held_.Hold(m);
      if (m.reply_to && held_.Find(*m.reply_to) == nullptr) {
        if (auto target = FetchEntry(api_, conv_, *m.reply_to)) held_.Hold(*target);
      }
      PrintLine(FormatEntry(m, Style()));
      return;
    }
    // What a deletion took away, quoted, since the chat cannot unprint it.
    std::string gone;
    if (const Message* before = held_.Find(m.target);
        before && m.kind == EntryKind::kDelete && !before->deleted) {
      gone = " (\"" + Excerpt(before->body.substr(0, before->body.find('\n')), kQuotedBytes) + "\")";
    }
    if (held_.Apply(m) == FoldedEntries::Outcome::kNotHeld && live) {
      // Older than what the chat showed: its current state, this change in.
      if (auto target = FetchEntry(api_, conv_, m.target)) held_.Hold(*target);
    }
    if (!live) return;
    std::string line = "[" + FormatTime(m.ts, "%H:%M") + "] * " + DescribeChange(m, sender) + gone;
    const Message* target = held_.Find(m.target);
    if (m.kind == EntryKind::kReaction && target != nullptr) {
      std::string reactions = FormatReactions(target->reactions);
      line += reactions.empty() ? " (no reactions left)" : ": " + reactions;
    }
    PrintLine(line);
  }

  EntryStyle Style() { return StyleFor(dir_, conv_, held_, /*long_form=*/false); }

  // ---- socket ----

  void OnConnected(const protocol::Welcome& welcome) {
    dir_.LearnAll(welcome.conversations);
    last_frame_ = Clock::now();
    ping_id_.reset();
    backoff_.Reset();
    for (Pending& p : pending_) p.request_id = 0;
    FlushPending();
  }

  void OnDropped() {
    std::string why = DescribeClose(*ws_);
    ws_.reset();
    auto wait = backoff_.Next();
    reconnect_at_ = Clock::now() + wait;
    Status("connection lost (" + why + "); reconnecting in " + std::to_string((wait.count() + 500) / 1000) +
           " s");
  }

  void TryReconnect() {
    protocol::Welcome welcome;
    try {
      ws_ = OpenSocket(api_, {{conv_, last_seq_}}, &welcome);
    } catch (const CliError& e) {
      if (e.exit_code() != kExitUnreachable) throw;
      ws_.reset();
      auto wait = backoff_.Next();
      reconnect_at_ = Clock::now() + wait;
      Status("still offline; retrying in " + std::to_string((wait.count() + 500) / 1000) + " s");
      return;
    }
    Status("reconnected");
    OnConnected(welcome);
    RedrawPrompt();
  }

  void KeepAlive(Clock::time_point now) {
    if (ping_id_) {
      if (now - ping_sent_ > kPongWithin) ws_->Abort();
      return;
    }
    if (now - last_frame_ > kPingEvery) {
      ping_id_ = next_request_id_++;
      ping_sent_ = now;
      ws_->SendRequest(protocol::PingReq{}, *ping_id_);
    }
  }

  void FlushPending() {
    if (!connected()) return;
    auto now = Clock::now();
    for (Pending& p : pending_) {
      if (p.request_id != 0 || now < p.not_before) continue;
      p.request_id = next_request_id_++;
      ws_->SendRequest(protocol::SendReq{conv_, p.client_msg_id, p.body}, p.request_id);
    }
  }

  void Handle(const boost::json::object& raw) {
    auto parsed = protocol::ParseServerFrame(raw);
    if (!parsed) {
      Status("ignoring a frame the server should not send: " + parsed.error().message);
      return;
    }
    if (auto re = protocol::ReOf(*parsed)) return OnAnswer(*re, *parsed);
    std::visit(Overloaded{
                   [&](const Message& m) {
                     if (m.conv == conv_) ShowMessage(m);
                   },
                   [&](const protocol::TypingNotice& t) {
                     if (t.conv == conv_) OnTyping(t.user);
                   },
                   [&](const protocol::Gap& g) {
                     if (g.conv == conv_) FetchGap(g.from_seq, g.to_seq);
                   },
                   [&](const protocol::MemberNotice& m) {
                     if (m.conv == conv_) OnMember(m);
                   },
                   // Presence is left to `parley tail`: every one-shot command
                   // comes online and goes offline again, which would only
                   // clutter the chat.
                   [](const auto&) {},
               },
               *parsed);
  }

  void OnAnswer(int64_t re, const protocol::ServerFrame& frame) {
    if (ping_id_ && re == *ping_id_) {
      ping_id_.reset();
      return;
    }
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->request_id != re) continue;
      if (std::holds_alternative<protocol::Sent>(frame)) {
        pending_.erase(it);
      } else if (const auto* error = std::get_if<protocol::ErrorAnswer>(&frame)) {
        OnSendError(it, error->error);
      }
      return;
    }
  }

  void OnTyping(UserId user) {
    if (user == api_.me()) return;
    std::string name = dir_.Username(conv_, user);
    bool shown = typing_until_.count(name) > 0;
    typing_until_[name] = Clock::now() + kTypingShownFor;
    if (tty_) {
      if (!shown) RedrawPrompt();
    } else {
      PrintLine("* " + name + " is typing" + kEllipsis);
    }
  }

  void OnMember(const protocol::MemberNotice& m) {
    if (left_) return;  // our own /leave coming back
    if (m.conversation) dir_.Learn(*m.conversation);
    std::string name = dir_.Username(conv_, m.user);
    if (m.action == "added") {
      PrintLine("* " + name + " joined");
      return;
    }
    PrintLine("* " + name + (m.action == "left" ? " left" : " was removed"));
    if (m.user == api_.me()) {
      ClearPromptLine();
      throw CliError(kExitNotFound, "you are no longer a member of " + name_);
    }
  }

  void OnSendError(std::deque<Pending>::iterator it, const protocol::ServerError& e) {
    if (e.code == Errc::kRateLimited || e.code == Errc::kUnavailable) {
      int64_t wait = std::clamp<int64_t>(e.retry_after_ms > 0 ? e.retry_after_ms : 1000, 50, 10'000);
      it->request_id = 0;
      it->not_before = Clock::now() + std::chrono::milliseconds(wait);
      return;
    }
    if (e.code == Errc::kForbidden || e.code == Errc::kNotFound) {
      ClearPromptLine();
      throw CliError(kExitNotFound, "cannot send to " + name_ + ": " + e.message + " (" + e.code_name + ")");
    }
    Status("not sent: \"" + Excerpt(it->body, kQuotedBytes) + "\": " + e.message + " (" + e.code_name + ")");
    pending_.erase(it);
  }

  void FetchGap(int64_t from, int64_t to) {
    int64_t after = std::max(last_seq_, from - 1);
    while (after < to) {
      std::vector<Message> page;
      try {
        page = api_.Messages(conv_, after > 0 ? std::optional<int64_t>(after) : std::nullopt, to + 1, 500,
                             "fetching missed messages");
      } catch (const CliError& e) {
        if (e.exit_code() == kExitAuth) throw;
        Status(e.what());
        return;
      }
      if (page.empty()) return;
      for (const Message& m : page) {
        last_seq_ = std::max(last_seq_, m.seq - 1);
        ShowMessage(m);
        after = std::max(after, m.seq);
      }
    }
  }

  void ExpireTyping(Clock::time_point now) {
    bool changed = false;
    for (auto it = typing_until_.begin(); it != typing_until_.end();) {
      if (now >= it->second) {
        it = typing_until_.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
    if (changed) RedrawPrompt();
    if (connected() && !pending_.empty()) FlushPending();
  }

  // ---- input ----

  void PollStdin(int timeout_ms) {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    int n = ::poll(&p, 1, timeout_ms);
    if (n <= 0) return;
    if (editor_) {
      editor_->ReadAvailable();
      if (editor_ && editor_->HasInput()) Typing();
      return;
    }
    char buffer[4096];
    ssize_t got = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) return;
      got = 0;
    }
    if (got == 0) {
      if (!line_.empty()) Submit(std::exchange(line_, ""));
      OnEof();
      return;
    }
    line_.append(buffer, static_cast<size_t>(got));
    size_t start = 0;
    for (size_t nl; (nl = line_.find('\n', start)) != std::string::npos && !stdin_eof_; start = nl + 1) {
      std::string line = line_.substr(start, nl - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      Submit(line);
    }
    line_.erase(0, start);
    if (!line_.empty()) Typing();
  }

  void OnEof() {
    stdin_eof_ = true;
    eof_at_ = Clock::now();
    ClearPromptLine();
  }

  // A line entered on the terminal (nullopt: Ctrl-D on an empty line).
  void OnEntered(std::optional<std::string> line) {
    if (!line) return OnEof();
    ChatLine parsed = ParseChatLine(*line);
    // A message leaves the screen to the server's echo (or to its queued
    // mark); a command stays, as in a shell, above what it prints.
    if (parsed.kind == ChatLine::Kind::kMessage || parsed.kind == ChatLine::Kind::kNothing) {
      editor_->EraseEnteredLine();
    }
    Do(parsed);
  }

  void Typing() {
    auto now = Clock::now();
    if (!connected() || now - last_typing_sent_ < kTypingEvery) return;
    last_typing_sent_ = now;
    ws_->SendRequest(protocol::TypingReq{conv_});
  }

  // A line read from a pipe.
  void Submit(const std::string& line) { Do(ParseChatLine(line)); }

  void Do(const ChatLine& line) {
    using Kind = ChatLine::Kind;
    switch (line.kind) {
      case Kind::kNothing:
        return;
      case Kind::kMessage:
        pending_.push_back(Pending{NewClientMsgId(), line.text, 0, {}});
        last_typing_sent_ = {};  // the next keystroke is a new message
        // Offline, the line stays in sight until it can be sent; its echo
        // prints it again, with its seq, once the server has it.
        if (!connected()) {
          if (editor_) {
            PrintLine(kQueuedMark + line.text);
          } else {
            Status("offline; queued: \"" + Excerpt(line.text, kQuotedBytes) + "\"");
          }
        }
        FlushPending();
        return;
      case Kind::kHelp:
        for (std::string_view rest = kChatHelp; !rest.empty();) {
          size_t nl = rest.find('\n');
          PrintLine(std::string(rest.substr(0, nl)));
          rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        }
        return;
      case Kind::kMembers:
        ShowMembers();
        return;
      case Kind::kLeave:
        Leave();
        return;
      case Kind::kQuit:
        OnEof();
        return;
      case Kind::kBadCommand:
        Status(line.text);
        return;
    }
  }

  void ShowMembers() {
    try {
      std::vector<Member> members = AllMembers(api_, conv_);
      PrintLine("* " + std::to_string(members.size()) + " in " + name_ + ": " + MemberSummary(members));
    } catch (const CliError& e) {
      if (e.exit_code() == kExitAuth) throw;
      Status(e.what());
    }
  }

  void Leave() {
    try {
      LeaveConversation(api_, conv_, name_);
    } catch (const CliError& e) {
      if (e.exit_code() == kExitAuth) throw;
      Status(e.what());
      return;
    }
    if (!pending_.empty()) {
      Status(std::to_string(pending_.size()) + " queued message(s) not sent: you left");
      pending_.clear();
    }
    Status("you left " + name_);
    left_ = true;
  }

  Api& api_;
  ChatOptions options_;
  Directory dir_;
  FoldedEntries held_;  // the text entries shown, folded as changes arrive
  bool tty_;
  ConversationId conv_;
  std::string name_;
  int64_t last_seq_ = 0;
  std::unique_ptr<client::WsClient> ws_;
  Backoff backoff_{std::chrono::seconds(5)};
  Clock::time_point reconnect_at_{};
  Clock::time_point last_frame_{};
  Clock::time_point ping_sent_{};
  std::optional<int64_t> ping_id_;
  int64_t next_request_id_ = 1;
  std::deque<Pending> pending_;
  std::map<std::string, Clock::time_point> typing_until_;
  Clock::time_point last_typing_sent_{};
  LineEditor* editor_ = nullptr;  // terminal: the input; owned by Run
  std::string line_;              // pipe: bytes after the last newline
  bool stdin_eof_ = false;
  bool left_ = false;  // /leave: the chat ends at once
  Clock::time_point eof_at_{};
};

}  // namespace

int RunChat(Api& api, const ChatOptions& options) { return Chat(api, options).Run(); }

}  // namespace parley::cli
