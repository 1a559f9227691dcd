#pragma once
// The real `parley` binary as a child process with pipes on stdin, stdout
// and stderr, for tests that use the client the way a user or script does.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace parley::testing {

struct CliResult {
  int exit_code = -1;  // -1: killed after the timeout, or died of a signal
  std::string out;
  std::string err;
};

class CliProcess {
 public:
  // How the child's stdin and stdout are connected: pipes, or one pseudo-
  // terminal (80x24; its controlling terminal), so the child sees a user at
  // a terminal and out() holds what the terminal would show, escapes and all.
  enum class Io { kPipes, kTerminal };

  // Starts `binary args...` with the current environment plus `env`.
  CliProcess(const std::string& binary, const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env, Io io = Io::kPipes);
  ~CliProcess();  // SIGKILLs a child still running
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  // Writes to stdin (on a terminal: types `text`, "\r" for Enter).
  bool Write(const std::string& text);
  void CloseStdin();
  // Reads until stdout (stderr) holds `text`; false on timeout or exit.
  bool WaitForOut(const std::string& text, std::chrono::milliseconds timeout);
  bool WaitForErr(const std::string& text, std::chrono::milliseconds timeout);
  // Waits for the exit (reading all output); the exit code, or -1 after
  // killing it at the timeout (or when a signal ended it).
  int Wait(std::chrono::milliseconds timeout);
  void Signal(int sig);

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  pid_t pid() const { return pid_; }

 private:
  // Reads what is available within `timeout`; false when both pipes are closed.
  bool Pump(std::chrono::milliseconds timeout);
  bool WaitFor(const std::string& text, const std::string& which, std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int in_ = -1, out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
  int status_ = -1;
};

// Runs `binary args...` to completion with `stdin_text` on stdin.
CliResult RunCli(const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::string& stdin_text = "",
                 std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace parley::testing
