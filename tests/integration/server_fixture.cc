#include "server_fixture.h"

#include <iostream>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include <boost/json/serialize.hpp>

#ifndef PARLEYD_PATH
#error "PARLEYD_PATH must name the parleyd binary"
#endif

namespace parley::testing {

namespace json = boost::json;
namespace fs = std::filesystem;
using client::Session;
using client::WsClient;

std::string ParleydBinary() {
  // PARLEYD_UNDER_TEST (not PARLEY_*: parleyd refuses unknown PARLEY_*
  // variables, and the child inherits the environment) runs the suites
  // against another parleyd binary than the one built with them.
  const char* under_test = std::getenv("PARLEYD_UNDER_TEST");
  return under_test && *under_test ? under_test : PARLEYD_PATH;
}

ParleydProcess::ParleydProcess(std::vector<std::string> extra_flags) : extra_flags_(std::move(extra_flags)) {
  std::string pattern = (fs::temp_directory_path() / "parley-it-XXXXXX").string();
  if (char* dir = mkdtemp(pattern.data())) data_dir_ = dir;
}

ParleydProcess::~ParleydProcess() {
  if (pid_ > 0) Kill();
  if (!keep_data_dir_ && !data_dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(data_dir_, ignored);
  }
}

bool ParleydProcess::Start() {
  error_.clear();
  if (data_dir_.empty()) {
    error_ = "no temp dir";
    return false;
  }
  if (pid_ > 0) {
    error_ = "already running";
    return false;
  }
  std::string port_file = data_dir_ + "/port";
  std::string log_file = data_dir_ + "/parleyd.log";
  fs::remove(port_file);
  std::vector<std::string> args = {ParleydBinary(), "--listen",    host_ + ":0", "--data-dir",
                                   data_dir_,       "--port-file", port_file,    "--auth.password_strength",
                                   "min",           "--threads",   "2"};
  args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
  {
    std::ofstream log(log_file, std::ios::app);
    log << "=== fixture: starting";
    for (const auto& a : args) log << ' ' << a;
    log << '\n';
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    error_ = "fork failed";
    return false;
  }
  if (pid == 0) {
    // The server must not outlive a crashed test binary.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (fd_limit_ > 0) {
      rlimit rl{static_cast<rlim_t>(fd_limit_), static_cast<rlim_t>(fd_limit_)};
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(126);
    }
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in >= 0) dup2(in, STDIN_FILENO);
    if (out >= 0) {
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;

  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "parleyd exited during start-up (status " + std::to_string(status) + ")";
      return false;
    }
    std::ifstream in(port_file);
    std::string text;
    if (in && std::getline(in, text)) {
      char* end = nullptr;
      long port = std::strtol(text.c_str(), &end, 10);
      if (end != text.c_str() && port > 0 && port < 65536) {
        port_ = static_cast<uint16_t>(port);
        return true;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  error_ = "no port file after 10 s";
  Kill();
  return false;
}

int ParleydProcess::Stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << "parleyd did not stop within " << timeout.count() << " ms of SIGTERM";
  Kill();
  return -1;
}

void ParleydProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool ParleydProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string ParleydProcess::LogTail(int lines) const {
  std::ifstream in(data_dir_ + "/parleyd.log");
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(std::move(line));
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::ostringstream out;
  out << "---- tail of " << data_dir_ << "/parleyd.log ----\n";
  for (const auto& l : tail) out << l << '\n';
  return out.str();
}

ProcStats ReadProcStats(pid_t pid) {
  ProcStats out;
  if (pid <= 0) return out;
  std::string base = "/proc/" + std::to_string(pid);
  {
    std::ifstream in(base + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0) out.rss_kb = std::strtoll(line.c_str() + 6, nullptr, 10);
      if (line.rfind("Threads:", 0) == 0)
        out.threads = static_cast<int>(std::strtol(line.c_str() + 8, nullptr, 10));
    }
  }
  {
    std::error_code ec;
    int n = 0;
    for (fs::directory_iterator it(base + "/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
    if (!ec) out.fds = n;
  }
  {
    // Fields after the command (which may hold spaces) start behind the last ')'.
    std::ifstream in(base + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    if (close != std::string::npos) {
      std::istringstream rest(text.substr(close + 2));
      std::string field;
      double ticks = 0;
      for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14 || i == 15) ticks += std::strtod(field.c_str(), nullptr);
      }
      out.cpu_s = ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return out;
}

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  std::string name =
      prefix + "_" + std::to_string(getpid() % 100000) + "_" + std::to_string(counter.fetch_add(1));
  if (name.size() > 32) name = name.substr(name.size() - 32);
  return name;
}

void ServerTest::SetUp() {
  server_ = std::make_unique<ParleydProcess>(ExtraFlags());
  ASSERT_TRUE(server_->Start()) << server_->error() << "\n" << server_->LogTail();
  Reconnect();
}

void ServerTest::TearDown() {
  if (!server_) return;
  if (HasFailure()) {
    server_->set_keep_data_dir(true);
    std::cerr << server_->LogTail() << std::flush;
  }
  http_.reset();
  if (server_->running()) server_->Kill();
}

void ServerTest::Reconnect() {
  http_ = std::make_unique<client::HttpClient>(server_->host(), server_->port());
}

Session ServerTest::NewUser(const std::string& prefix) {
  std::string name = UniqueName(prefix);
  auto s = client::Register(*http_, name, kPassword);
  if (!s.ok()) {
    ADD_FAILURE() << "register " << name << ": " << s.error().message;
    return Session{};
  }
  return *s;
}

client::Response ServerTest::Get(const std::string& target, const std::string& token) {
  return http_->Get(target, token);
}

client::Response ServerTest::Post(const std::string& target, const json::object& body,
                                  const std::string& token) {
  return http_->Post(target, body, token);
}

client::Response ServerTest::Delete(const std::string& target, const std::string& token) {
  return http_->Delete(target, token);
}

std::string ServerTest::CreateGroup(const Session& owner, const std::string& title,
                                    const std::vector<std::string>& member_usernames) {
  json::array members;
  for (const auto& m : member_usernames) members.emplace_back(m);
  auto r = Post("/v1/conversations", {{"kind", "group"}, {"title", title}, {"members", members}},
                owner.access_token);
  if (r.status != 201) {
    ADD_FAILURE() << "create group: " << r.Describe();
    return "";
  }
  return GetString(r.json, "id");
}

std::string ServerTest::Dm(const Session& a, const std::string& b_username) {
  auto r = Post("/v1/conversations/dm", {{"username", b_username}}, a.access_token);
  if (r.status != 200) {
    ADD_FAILURE() << "dm: " << r.Describe();
    return "";
  }
  return GetString(r.json, "id");
}

json::array ServerTest::History(const Session& s, const std::string& conv, const std::string& query) {
  std::string target = "/v1/conversations/" + conv + "/messages";
  if (!query.empty()) target += "?" + query;
  auto r = Get(target, s.access_token);
  if (r.status != 200 || !r.Object().contains("messages") || !r.Object().at("messages").is_array()) {
    ADD_FAILURE() << "history " << target << ": " << r.Describe();
    return {};
  }
  return r.Object().at("messages").as_array();
}

std::unique_ptr<WsClient> ServerTest::RawSocket() {
  auto ws = std::make_unique<WsClient>();
  auto r = ws->Connect(server_->host(), server_->port());
  if (!r.ok()) {
    ADD_FAILURE() << "ws connect: " << r.error().message;
    return nullptr;
  }
  return ws;
}

std::unique_ptr<WsClient> ServerTest::Open(const Session& s, json::object* welcome, json::value last_seq) {
  auto ws = RawSocket();
  if (!ws) return nullptr;
  auto answer = ws->Hello(s.access_token, std::move(last_seq));
  if (!answer || !protocol::FieldIs(*answer, "type", "welcome")) {
    ADD_FAILURE() << "hello: " << Dump(answer) << " close=" << ws->close_code().value_or(-1) << " "
                  << ws->last_error();
    return nullptr;
  }
  if (welcome) *welcome = std::move(*answer);
  return ws;
}

json::object ServerTest::Ask(WsClient& ws, int64_t id, json::object request) {
  request["id"] = id;
  auto answer = ws.Request(request);
  if (!answer) {
    ADD_FAILURE() << "no answer to " << Dump(request);
    return {};
  }
  return std::move(*answer);
}

json::object ServerTest::SendMessage(WsClient& ws, const std::string& conv, const std::string& body,
                                     const std::string& client_msg_id) {
  static std::atomic<int> counter{0};
  std::string cmid = client_msg_id.empty()
                         ? "cm-" + std::to_string(getpid()) + "-" + std::to_string(counter++)
                         : client_msg_id;
  auto answer = ws.Request({{"type", "send"}, {"conv", conv}, {"client_msg_id", cmid}, {"body", body}});
  if (!answer) {
    ADD_FAILURE() << "send: no answer (" << ws.last_error() << ")";
    return {};
  }
  return std::move(*answer);
}

json::array ServerTest::AllMessages(const Session& s, const std::string& conv) {
  json::array all;
  int64_t after = 0;
  for (int page = 0; page < 100; ++page) {
    auto batch = History(s, conv, "after=" + std::to_string(after) + "&limit=500");
    if (batch.empty()) break;
    after = GetInt(batch.back(), "seq").value_or(after + 1);
    for (auto& m : batch) all.push_back(std::move(m));
  }
  return all;
}

std::vector<json::object> ServerTest::SendMany(WsClient& ws, const std::string& conv, int n,
                                               const std::string& prefix, std::chrono::milliseconds timeout,
                                               const std::string& body) {
  // Atomic: suites call SendMany from several threads at once (TSan found the race).
  static std::atomic<int64_t> next_id{1'000'000};
  const int64_t first = next_id.fetch_add(n);
  std::vector<json::object> answers(n);
  for (int i = 0; i < n; ++i) {
    json::object frame{{"id", first + i},
                       {"type", "send"},
                       {"conv", conv},
                       {"client_msg_id", prefix + "-" + std::to_string(i)},
                       {"body", body.empty() ? prefix + " " + std::to_string(i) : body}};
    if (!ws.SendJson(frame)) {
      ADD_FAILURE() << "send " << i << " failed: " << ws.last_error();
      return answers;
    }
  }
  int got = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got < n && std::chrono::steady_clock::now() < deadline) {
    auto answer = ws.WaitFor(
        [&](const json::object& o) {
          auto re = GetInt(o, "re");
          return re && *re >= first && *re < first + n;
        },
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (!answer) break;
    answers[*GetInt(*answer, "re") - first] = std::move(*answer);
    ++got;
  }
  if (got < n) ADD_FAILURE() << "SendMany: " << got << " of " << n << " answered";
  return answers;
}

client::WsClient::Predicate IsType(std::string type) {
  return [type](const json::object& o) { return protocol::FieldIs(o, "type", type); };
}

client::WsClient::Predicate IsEvent(std::string type, std::string conv) {
  return [type, conv](const json::object& o) {
    return protocol::FieldIs(o, "type", type) && protocol::FieldIs(o, "conv", conv) && !o.contains("re");
  };
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

client::WsClient::Predicate IsPresence(std::string user_id, bool online) {
  return [user_id, online](const json::object& o) {
    if (!protocol::FieldIs(o, "type", "presence") || !protocol::FieldIs(o, "user", user_id)) return false;
    auto it = o.find("online");
    return it != o.end() && it->value().is_bool() && it->value().as_bool() == online;
  };
}

::testing::AssertionResult IsHttpError(const client::Response& r, int status, const std::string& code) {
  if (r.status != status) {
    return ::testing::AssertionFailure() << "expected status " << status << ", got " << r.Describe();
  }
  const auto& obj = r.Object();
  auto it = obj.find("error");
  if (it == obj.end() || !it->value().is_object()) {
    return ::testing::AssertionFailure() << "no error object: " << r.body;
  }
  const auto& err = it->value().as_object();
  if (!protocol::FieldIs(err, "code", code)) {
    return ::testing::AssertionFailure() << "expected code " << code << ": " << r.body;
  }
  auto msg = err.find("message");
  if (msg == err.end() || !msg->value().is_string()) {
    return ::testing::AssertionFailure() << "error without a message string: " << r.body;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult IsWsError(const std::optional<json::object>& frame, const std::string& code,
                                     std::optional<int64_t> re) {
  if (!frame) return ::testing::AssertionFailure() << "no frame (expected error " << code << ")";
  if (!protocol::FieldIs(*frame, "type", "error") || !protocol::FieldIs(*frame, "code", code)) {
    return ::testing::AssertionFailure() << "expected error " << code << ": " << Dump(frame);
  }
  auto msg = frame->find("message");
  if (msg == frame->end() || !msg->value().is_string()) {
    return ::testing::AssertionFailure() << "error without message: " << Dump(frame);
  }
  if (re && GetInt(*frame, "re") != re) {
    return ::testing::AssertionFailure() << "expected re " << *re << ": " << Dump(frame);
  }
  return ::testing::AssertionSuccess();
}

std::string Dump(const json::value& v) { return json::serialize(v); }

std::string Dump(const json::object& v) { return json::serialize(v); }

std::string Dump(const std::optional<json::object>& v) {
  return v ? json::serialize(*v) : std::string("<none>");
}

}  // namespace parley::testing
