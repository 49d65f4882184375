// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Process and file-system helpers for tests that start real servers on loopback:
/// `ChildProcess` (spawn, signal, wait), `run_command`, `find_executable`, `free_port`,
/// `wait_for_tcp`, `TempDir`. Header-only, POSIX. Every failure throws `std::runtime_error` with
/// a message naming what failed, so a missing server binary fails the test instead of skipping it.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace breaker::test {

/// Throws `std::runtime_error("<what>: <strerror(errno)>")`.
[[noreturn]] inline void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

/// The absolute path of an executable: `name` itself when it contains a '/', else the first
/// match in `$PATH` and then in `extra_dirs`. Throws (naming the Debian package to install, when
/// given) when there is none: tests that need a server must fail loudly without it.
inline std::string find_executable(const std::string& name,
                                   const std::vector<std::string>& extra_dirs = {},
                                   const std::string& debian_package = {}) {
  auto usable = [](const std::filesystem::path& p) {
    return ::access(p.c_str(), X_OK) == 0 && !std::filesystem::is_directory(p);
  };
  if (name.find('/') != std::string::npos) {
    if (usable(name)) return name;
  } else {
    std::vector<std::string> dirs;
    if (const char* path = std::getenv("PATH")) {
      std::stringstream in{path};
      for (std::string dir; std::getline(in, dir, ':');) {
        if (!dir.empty()) dirs.push_back(dir);
      }
    }
    dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
    for (const auto& dir : dirs) {
      const auto candidate = std::filesystem::path(dir) / name;
      if (usable(candidate)) return candidate.string();
    }
  }
  std::string message = "required executable '" + name + "' not found";
  if (!debian_package.empty()) message += " (install the Debian package " + debian_package + ")";
  throw std::runtime_error(message);
}

/// A child process started with `fork` + `execve`, killed by the kernel when the test dies. Not copyable; movable. The destructor sends
/// SIGKILL to a child still running and reaps it, so a failing test leaves no server behind.
class ChildProcess {
 public:
  struct Options {
    /// Extra environment entries "NAME=value" (added to, or replacing, the parent's).
    std::vector<std::string> env;
    /// Files that receive the child's stdout / stderr (appended); empty: inherit the test's.
    std::string stdout_path;
    std::string stderr_path;
    /// Working directory of the child; empty: the test's.
    std::string working_directory;
  };

  ChildProcess() = default;

  /// Starts `argv[0]` (looked up with `find_executable`) with `argv`.
  explicit ChildProcess(std::vector<std::string> argv, Options options = {})
      : argv_(std::move(argv)) {
    if (argv_.empty()) throw std::runtime_error("ChildProcess: empty argv");
    const std::string program = find_executable(argv_[0]);

    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    for (const auto& entry : options.env) {
      const auto name = entry.substr(0, entry.find('=') + 1);
      std::erase_if(env_strings, [&](const std::string& s) { return s.rfind(name, 0) == 0; });
      env_strings.push_back(entry);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<char*> args;
    for (auto& a : argv_) args.push_back(a.data());
    args.push_back(nullptr);

    // fork + exec rather than posix_spawn: the child must ask the kernel to kill it when the
    // test dies (PR_SET_PDEATHSIG), so a test killed by ctest's time-out (SIGKILL, no
    // destructor) leaves no server behind. Between fork and exec the child calls only
    // async-signal-safe functions, on strings prepared above (the test may have threads).
    // The signal fires when the *thread* that started the child exits: start servers from a
    // thread that outlives them (the test's own thread, as every fixture does).
    const pid_t parent = ::getpid();
    const char* out_path = options.stdout_path.empty() ? nullptr : options.stdout_path.c_str();
    const char* err_path = options.stderr_path.empty() ? nullptr : options.stderr_path.c_str();
    const char* work_dir =
        options.working_directory.empty() ? nullptr : options.working_directory.c_str();
    // Signals stay blocked across fork until the child has put every handler back to its
    // default: a signal sent right after the constructor (stop()) must not run the test
    // framework's handler in the child before exec (Catch's handler is not async-signal-safe,
    // and under TSan the child would report it instead of dying of the signal).
    sigset_t all_signals;
    sigset_t old_mask;
    ::sigfillset(&all_signals);
    ::pthread_sigmask(SIG_SETMASK, &all_signals, &old_mask);
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int saved = errno;
      ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
      errno = saved;
      throw_errno("fork " + program);
    }
    if (pid == 0) {
      struct sigaction default_action {};
      default_action.sa_handler = SIG_DFL;
      ::sigemptyset(&default_action.sa_mask);
      for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &default_action, nullptr);
      ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
      // The child gets its own process group so stop() reaches anything it forks.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the test died before prctl took effect
      auto redirect = [](const char* path, int target) {
        const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || ::dup2(fd, target) < 0) ::_exit(127);
        ::close(fd);
      };
      if (out_path != nullptr) redirect(out_path, STDOUT_FILENO);
      if (err_path != nullptr) redirect(err_path, STDERR_FILENO);
      if (work_dir != nullptr && ::chdir(work_dir) != 0) ::_exit(127);
      ::execve(program.c_str(), args.data(), envp.data());
      ::_exit(127);
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    pid_ = pid;
    // Also from the parent, so that a signal sent right after the constructor reaches the
    // group even if the child has not run yet (one of the two calls wins; both are harmless).
    ::setpgid(pid_, pid_);
  }

  ChildProcess(ChildProcess&& other) noexcept
      : argv_(std::move(other.argv_)), pid_(std::exchange(other.pid_, -1)),
        status_(other.status_) {}
  ChildProcess& operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
      kill_and_reap();
      argv_ = std::move(other.argv_);
      pid_ = std::exchange(other.pid_, -1);
      status_ = other.status_;
    }
    return *this;
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { kill_and_reap(); }

  pid_t pid() const noexcept { return pid_; }

  /// True while the child has not exited (reaps it when it has).
  bool running() {
    if (pid_ < 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }

  /// Sends `signal` to the child's process group.
  void signal(int sig) {
    if (pid_ > 0) ::kill(-pid_, sig);
  }

  /// Waits up to `timeout` for the child to exit; returns its exit code (128 + signal number
  /// when killed by a signal), or nothing on time-out.
  std::optional<int> wait_for(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exit_code();
  }

  /// Sends `sig` (default SIGTERM), waits up to `grace`, then SIGKILL. Returns the exit code.
  int stop(int sig = SIGTERM, std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    if (pid_ < 0) return exit_code();
    signal(sig);
    if (auto code = wait_for(grace)) return *code;
    signal(SIGKILL);
    if (auto code = wait_for(std::chrono::seconds(10))) return *code;
    throw std::runtime_error("ChildProcess: '" + argv_[0] + "' did not die after SIGKILL");
  }

  /// The exit code of a child that has exited (see wait_for).
  int exit_code() const noexcept {
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
    return -1;
  }

 private:
  void kill_and_reap() noexcept {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int status_ = 0;
};

/// Runs `argv` to completion and returns its exit code; its stdout and stderr go to `output`
/// when given (merged). Throws when the program cannot be started or runs longer than `timeout`.
inline int run_command(const std::vector<std::string>& argv, std::string* output = nullptr,
                       std::chrono::milliseconds timeout = std::chrono::seconds(120),
                       std::vector<std::string> env = {}) {
  ChildProcess::Options options;
  options.env = std::move(env);
  std::string log;
  if (output != nullptr) {
    char pattern[] = "/tmp/breaker-cmd-XXXXXX";
    const int fd = ::mkstemp(pattern);
    if (fd < 0) throw_errno("mkstemp");
    ::close(fd);
    log = pattern;
    options.stdout_path = log;
    options.stderr_path = log;
  }
  ChildProcess child(argv, options);
  const auto code = child.wait_for(timeout);
  if (!code) {
    child.stop(SIGKILL);
    throw std::runtime_error("command timed out: " + argv[0]);
  }
  if (output != nullptr) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    *output = text.str();
    std::filesystem::remove(log);
  }
  return *code;
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). For
/// servers that must be told their port on the command line; servers we run in-process should
/// bind port 0 themselves instead.
inline unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw_errno("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    throw_errno("bind 127.0.0.1:0");
  }
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw_errno("getsockname");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
inline bool tcp_port_open(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw_errno("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

/// Waits until 127.0.0.1:`port` accepts connections; throws after `timeout`. When `child` is
/// given and exits first, throws at once with its exit code.
inline void wait_for_tcp(unsigned short port,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20),
                         ChildProcess* child = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!tcp_port_open(port)) {
    if (child != nullptr && !child->running()) {
      throw std::runtime_error("server exited (code " + std::to_string(child->exit_code()) +
                               ") before listening on port " + std::to_string(port));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("nothing listens on 127.0.0.1:" + std::to_string(port) +
                               " after " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  /// `prefix` names the test; `mode` is applied to the directory (e.g. 0755 so that another
  /// user, such as `postgres`, can enter it).
  explicit TempDir(const std::string& prefix = "breaker-test", mode_t mode = 0700) {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw_errno("mkdtemp " + pattern);
    path_ = pattern;
    if (::chmod(path_.c_str(), mode) != 0) throw_errno("chmod " + path_.string());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::filesystem::path& path() const noexcept { return path_; }
  std::string str() const { return path_.string(); }
  /// `path() / name` as a string.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// The whole content of a text file (empty when it does not exist).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace breaker::test
