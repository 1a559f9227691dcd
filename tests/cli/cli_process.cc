#include "cli_process.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

extern char** environ;

namespace parley::testing {

using Clock = std::chrono::steady_clock;

CliProcess::CliProcess(const std::string& binary, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env, Io io) {
  ::signal(SIGPIPE, SIG_IGN);
  int in[2], out[2], err[2];
  if (pipe2(err, O_CLOEXEC) != 0) return;
  if (io == Io::kTerminal) {
    // One terminal for stdin and stdout: the master side is both our ends.
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return;
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) return;
    winsize size{};
    size.ws_row = 24;
    size.ws_col = 80;
    ioctl(master, TIOCSWINSZ, &size);
    in[0] = slave;
    in[1] = master;
    out[0] = fcntl(master, F_DUPFD_CLOEXEC, 0);
    out[1] = fcntl(slave, F_DUPFD_CLOEXEC, 0);
  } else if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    return;
  }

  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::map<std::string, std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) envs[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) envs[k] = v;
  std::vector<std::string> env_s;
  for (const auto& [k, v] : envs) env_s.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (io == Io::kTerminal) {
      setsid();
      ioctl(in[0], TIOCSCTTY, 0);
    }
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  pid_ = pid;
  in_ = in[1];
  out_fd_ = out[0];
  err_fd_ = err[0];
  fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

CliProcess::~CliProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  for (int fd : {in_, out_fd_, err_fd_}) {
    if (fd >= 0) close(fd);
  }
}

bool CliProcess::Write(const std::string& text) {
  if (in_ < 0) return false;
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(in_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void CliProcess::CloseStdin() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

bool CliProcess::Pump(std::chrono::milliseconds timeout) {
  std::vector<pollfd> fds;
  if (out_fd_ >= 0) fds.push_back({out_fd_, POLLIN, 0});
  if (err_fd_ >= 0) fds.push_back({err_fd_, POLLIN, 0});
  if (fds.empty()) return false;
  if (poll(fds.data(), fds.size(), static_cast<int>(timeout.count())) <= 0) return true;
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    char buffer[8192];
    ssize_t n = read(p.fd, buffer, sizeof buffer);
    if (n > 0) {
      (p.fd == out_fd_ ? out_ : err_).append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      close(p.fd);
      (p.fd == out_fd_ ? out_fd_ : err_fd_) = -1;
    }
  }
  return true;
}

bool CliProcess::WaitFor(const std::string& text, const std::string& which,
                         std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  const std::string& buffer = which == "out" ? out_ : err_;
  while (buffer.find(text) == std::string::npos) {
    auto now = Clock::now();
    if (now >= deadline) return false;
    if (!Pump(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now))) {
      return buffer.find(text) != std::string::npos;
    }
  }
  return true;
}

bool CliProcess::WaitForOut(const std::string& text, std::chrono::milliseconds timeout) {
  return WaitFor(text, "out", timeout);
}

bool CliProcess::WaitForErr(const std::string& text, std::chrono::milliseconds timeout) {
  return WaitFor(text, "err", timeout);
}

int CliProcess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      status_ = status;
      break;
    }
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      status_ = -1;
      break;
    }
    Pump(std::chrono::milliseconds(20));
  }
  while (Pump(std::chrono::milliseconds(200))) {
    if (out_fd_ < 0 && err_fd_ < 0) break;
  }
  if (status_ >= 0 && WIFEXITED(status_)) return WEXITSTATUS(status_);
  return -1;
}

void CliProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

CliResult RunCli(const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::string& stdin_text,
                 std::chrono::milliseconds timeout) {
  CliProcess p(binary, args, env);
  p.Write(stdin_text);
  p.CloseStdin();
  CliResult r;
  r.exit_code = p.Wait(timeout);
  r.out = p.out();
  r.err = p.err();
  return r;
}

}  // namespace parley::testing
