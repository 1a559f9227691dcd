// parley tail: stream events, resuming after a dropped connection.
#include <iostream>
#include <map>
#include <thread>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/live.h"
#include "cli/resolve.h"
#include "client/json_util.h"

namespace parley::cli {

namespace json = boost::json;
using client::GetInt;
using client::GetString;

namespace {

constexpr auto kPingEvery = std::chrono::seconds(25);
constexpr auto kPongWithin = std::chrono::seconds(10);

class Tail {
 public:
  Tail(Api& api, const TailOptions& options) : api_(api), options_(options), dir_(api) {}

  int Run() {
    dir_.Load();
    if (options_.conv) {
      filter_ = ResolveConvId(dir_, *options_.conv);
      // Not one of ours: let the server say why (forbidden / not found).
      if (dir_.Find(filter_) == nullptr) {
        FetchMessages(api_, filter_, 0, 0, 1, "tailing '" + *options_.conv + "'");
      }
    }
    for (const json::value& c : dir_.conversations()) Note(c.as_object());
    json::object welcome;
    ws_ = OpenSocket(api_, nullptr, &welcome);
    OnWelcome(welcome);
    std::cerr << "parley: tailing " << (filter_.empty() ? "all conversations" : dir_.Name(filter_)) << " as "
              << api_.config().username << " (Ctrl-C to stop)" << std::endl;
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
  void OnWelcome(const json::object& welcome) {
    if (auto it = welcome.find("conversations"); it != welcome.end() && it->value().is_array()) {
      for (const json::value& c : it->value().as_array()) {
        if (!c.is_object()) continue;
        dir_.Learn(c.as_object());
        Note(c.as_object());
      }
    }
    if (auto it = welcome.find("user"); it != welcome.end() && it->value().is_object()) {
      dir_.SetUsername(GetString(it->value(), "id"), GetString(it->value(), "username"));
    }
    last_frame_ = std::chrono::steady_clock::now();
    ping_id_.reset();
  }

  // Starts counting a conversation from its current last_seq (first sight only).
  void Note(const json::object& conv) {
    std::string id = GetString(conv, "id");
    if (!id.empty() && !last_seq_.count(id)) last_seq_[id] = GetInt(conv, "last_seq").value_or(0);
  }

  json::value LastSeqs() const {
    json::object out;
    for (const auto& [conv, seq] : last_seq_) out[conv] = seq;
    return out;
  }

  bool Wanted(const std::string& conv) const { return filter_.empty() || conv == filter_; }

  void KeepAlive(std::chrono::steady_clock::time_point now) {
    if (ping_id_) {
      if (now - ping_sent_ > kPongWithin) ws_->Abort();  // a dead connection; reconnect
      return;
    }
    if (now - last_frame_ > kPingEvery) {
      ping_id_ = 1'000'000 + ws_->next_id();
      ping_sent_ = now;
      ws_->SendJson({{"id", *ping_id_}, {"type", "ping"}});
    }
  }

  void PrintMessage(const json::object& m) {
    std::string conv = GetString(m, "conv");
    int64_t seq = GetInt(m, "seq").value_or(0);
    int64_t& last = last_seq_[conv];
    if (seq <= last) return;  // a duplicate (at-least-once delivery)
    if (last > 0 && seq > last + 1) FetchRange(conv, last, seq);
    last = std::max(last, seq);
    if (!Wanted(conv)) return;
    std::string sender = dir_.Username(conv, GetString(m, "sender"));
    if (options_.json) {
      std::cout << MessageJson(m, sender) << std::endl;
    } else if (filter_.empty()) {
      int64_t ts = GetInt(m, "ts").value_or(0);
      std::cout << "[" << FormatTime(ts) << "] (" << dir_.Name(conv) << ") " << sender << ": "
                << GetString(m, "body") << std::endl;
    } else {
      std::cout << FormatMessage(m, sender, /*long_form=*/true) << std::endl;
    }
  }

  // Prints the messages after `after` and below `below` (a gap).
  void FetchRange(const std::string& conv, int64_t after, int64_t below) {
    int64_t& last = last_seq_[conv];
    while (after + 1 < below) {
      json::array page;
      try {
        page = FetchMessages(api_, conv, after, below, 500, "fetching missed messages");
      } catch (const CliError& e) {
        if (e.exit_code() == kExitAuth) throw;
        std::cerr << "parley: " << e.what() << std::endl;
        return;
      }
      if (page.empty()) return;
      for (const json::value& v : page) {
        if (!v.is_object()) continue;
        int64_t seq = GetInt(v, "seq").value_or(0);
        last = std::max(last, seq - 1);
        PrintMessage(v.as_object());
        after = std::max(after, seq);
      }
    }
  }

  void Handle(const json::object& f) {
    std::string type = GetString(f, "type");
    std::string conv = GetString(f, "conv");
    if (type == "message") {
      PrintMessage(f);
      return;
    }
    if (type == "pong" || f.contains("re")) {
      if (type == "pong") ping_id_.reset();
      return;
    }
    if (type == "gap") {
      int64_t from = GetInt(f, "from_seq").value_or(0);
      int64_t to = GetInt(f, "to_seq").value_or(0);
      int64_t& last = last_seq_[conv];
      if (to > last) {
        int64_t after = std::max(last, from - 1);
        FetchRange(conv, after, to + 1);
      }
      return;
    }
    if (type == "member") {
      if (auto it = f.find("conversation"); it != f.end() && it->value().is_object()) {
        dir_.Learn(it->value().as_object());
        Note(it->value().as_object());
      }
    }
    if (!conv.empty() && !Wanted(conv)) return;
    std::string user = GetString(f, "user");
    std::string username = type == "presence" ? GetString(f, "username") : "";
    if (username.empty() && !user.empty()) username = dir_.Username(conv, user);
    if (options_.json) {
      json::object out = f;
      if (!user.empty()) out["username"] = username;
      std::cout << JsonLine(out) << std::endl;
      return;
    }
    if (type == "presence") {
      if (f.contains("online") && f.at("online").is_bool() && f.at("online").as_bool()) {
        std::cout << "* " << username << " is online" << std::endl;
      } else {
        int64_t seen = GetInt(f, "last_seen").value_or(0);
        std::cout << "* " << username << " is offline"
                  << (seen > 0 ? " (last seen " + FormatTime(seen) + ")" : "") << std::endl;
      }
    } else if (type == "member") {
      std::string action = GetString(f, "action");
      std::string verb = action == "added" ? "was added to" : action == "left" ? "left" : "was removed from";
      std::cout << "* " << username << " " << verb << " " << dir_.Name(conv) << std::endl;
    } else if (type == "typing" && !filter_.empty()) {
      std::cout << "* " << username << " is typing\xE2\x80\xA6" << std::endl;
    } else if (type == "error") {
      std::cerr << "parley: server error: " << GetString(f, "message") << " (" << GetString(f, "code") << ")"
                << std::endl;
    }
  }

  Api& api_;
  TailOptions options_;
  Directory dir_;
  std::string filter_;
  std::unique_ptr<client::WsClient> ws_;
  std::map<std::string, int64_t> last_seq_;
  std::chrono::steady_clock::time_point last_frame_{};
  std::chrono::steady_clock::time_point ping_sent_{};
  std::optional<int64_t> ping_id_;
};

}  // namespace

int RunTail(Api& api, const TailOptions& options) { return Tail(api, options).Run(); }

}  // namespace parley::cli
