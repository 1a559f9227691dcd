#pragma once
// The integration fixture: the real parleyd binary as a child process, in a
// fresh temporary data directory, on a kernel-chosen loopback port, and
// helpers that drive it through parley_client.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include "client/http_client.h"
#include "client/session.h"
#include "client/ws_client.h"
#include "common/close_code.h"
#include "protocol/json.h"

namespace parley::testing {

using namespace std::chrono_literals;
namespace json = boost::json;
using client::Session;
using client::WsClient;
using protocol::FieldIs;
using protocol::GetInt;
using protocol::GetString;

// The parleyd binary under test: $PARLEYD_UNDER_TEST, else the one built
// with the suites.
std::string ParleydBinary();

// One parleyd process. Owns its data directory (kept on disk after a failed
// test for inspection; removed otherwise). Used from the test thread only.
class ParleydProcess {
 public:
  explicit ParleydProcess(std::vector<std::string> extra_flags = {});
  ~ParleydProcess();  // SIGKILLs a still-running child
  ParleydProcess(const ParleydProcess&) = delete;
  ParleydProcess& operator=(const ParleydProcess&) = delete;

  // fork/exec and wait (up to ~10 s) for the port file. False with the
  // reason in `error()` when the child exits or never writes it.
  bool Start();
  // SIGTERM then wait up to `timeout` (SIGKILL after); returns the exit
  // status as from waitpid, or -1.
  int Stop(std::chrono::milliseconds timeout = 10s);
  // SIGKILL, no grace.
  void Kill();
  // Start again on the same data directory (after Stop or Kill).
  bool Restart() { return Start(); }
  bool running();

  uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }
  void set_keep_data_dir(bool keep) { keep_data_dir_ = keep; }
  // RLIMIT_NOFILE (soft and hard) for the child from the next Start(); 0
  // keeps the test's own limit. For tests that run the server out of files.
  void set_fd_limit(uint64_t limit) { fd_limit_ = limit; }

  // The last `lines` lines of DIR/parleyd.log.
  std::string LogTail(int lines = 60) const;

 private:
  std::vector<std::string> extra_flags_;
  std::string host_ = "127.0.0.1";
  std::string data_dir_;
  std::string error_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  bool keep_data_dir_ = false;
  uint64_t fd_limit_ = 0;
};

// What /proc says about a process: resident memory (VmRSS), open file
// descriptors (entries of /proc/PID/fd), threads, and CPU time (utime +
// stime). -1 where it could not be read (the process is gone).
struct ProcStats {
  int64_t rss_kb = -1;
  int fds = -1;
  int threads = -1;
  double cpu_s = -1;
};
ProcStats ReadProcStats(pid_t pid);

// A unique, valid username: `prefix` plus a per-process counter and the pid.
std::string UniqueName(const std::string& prefix = "u");

inline const std::string kPassword = "correct-horse-1";

// Base of every suite: a fresh server per test (ctest runs each test in its
// own process anyway), HTTP helpers and WebSocket helpers.
class ServerTest : public ::testing::Test {
 protected:
  // Flags added to the defaults for this suite.
  virtual std::vector<std::string> ExtraFlags() const { return {}; }

  void SetUp() override;
  void TearDown() override;

  ParleydProcess& server() { return *server_; }
  client::HttpClient& http() { return *http_; }
  // Rebuilds the HTTP client (after a restart the port changes).
  void Reconnect();

  // Registers a fresh user (records a failure and returns an empty Session
  // on error).
  client::Session NewUser(const std::string& prefix = "u");

  client::Response Get(const std::string& target, const std::string& token);
  client::Response Post(const std::string& target, const boost::json::object& body, const std::string& token);
  client::Response Delete(const std::string& target, const std::string& token);

  // POST /v1/conversations; the conversation id or "" (failure recorded).
  std::string CreateGroup(const client::Session& owner, const std::string& title,
                          const std::vector<std::string>& member_usernames);
  // POST /v1/conversations/dm; the conversation id or "".
  std::string Dm(const client::Session& a, const std::string& b_username);
  // GET history; the messages array (failure recorded on a non-200).
  boost::json::array History(const client::Session& s, const std::string& conv,
                             const std::string& query = "");
  // Every message of `conv`, paging forward with after= (up to 50,000).
  boost::json::array AllMessages(const client::Session& s, const std::string& conv);

  // A connected WebSocket that has said hello; nullptr (failure recorded)
  // otherwise. The welcome frame goes to `welcome` when given.
  std::unique_ptr<client::WsClient> Open(const client::Session& s, boost::json::object* welcome = nullptr,
                                         boost::json::value last_seq = nullptr);
  // A connected WebSocket that has sent nothing yet.
  std::unique_ptr<client::WsClient> RawSocket();

  // Sends one message over `ws` and returns the answer (a `sent` frame, or
  // whatever came back; failure recorded on no answer).
  boost::json::object SendMessage(client::WsClient& ws, const std::string& conv, const std::string& body,
                                  const std::string& client_msg_id = "");

  // Sends `request` over `ws` with `id` and returns the answer (failure
  // recorded, and an empty object, when none came).
  boost::json::object Ask(client::WsClient& ws, int64_t id, boost::json::object request);

  // Pipelines `n` sends (bodies "<prefix> i", client_msg_ids "<prefix>-i")
  // and returns the answers in send order (empty objects where none came).
  // A non-empty `body` replaces the generated bodies.
  std::vector<boost::json::object> SendMany(client::WsClient& ws, const std::string& conv, int n,
                                            const std::string& prefix,
                                            std::chrono::milliseconds timeout = 20s,
                                            const std::string& body = "");

  std::unique_ptr<ParleydProcess> server_;
  std::unique_ptr<client::HttpClient> http_;
};

// Frame predicates for WaitFor.
client::WsClient::Predicate IsType(std::string type);
client::WsClient::Predicate IsEvent(std::string type, std::string conv);
client::WsClient::Predicate IsPresence(std::string user_id, bool online);

// Wall-clock milliseconds since the epoch, as the server stamps ts and last_seen.
int64_t NowMs();

// Asserts the `{"error":{"code","message"}}` body and returns the code.
::testing::AssertionResult IsHttpError(const client::Response& r, int status, const std::string& code);
// Asserts a WebSocket error frame with `code` (and `re` when given).
::testing::AssertionResult IsWsError(const std::optional<boost::json::object>& frame, const std::string& code,
                                     std::optional<int64_t> re = std::nullopt);

std::string Dump(const boost::json::value& v);
std::string Dump(const boost::json::object& v);
std::string Dump(const std::optional<boost::json::object>& v);

}  // namespace parley::testing
