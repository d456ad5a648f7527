#include "tests/support/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace sanhak::testing {
namespace {

// Everything the child needs, prepared before fork: after it, the child only calls
// async-signal-safe functions, then exec.
struct ForkRequest {
  char* const* argv = nullptr;
  int in = -1;
  int out = -1;
  int err = -1;
  // Write end of a close-on-exec pipe: the child writes errno to it when exec fails, so
  // an exec that worked closes it unwritten.
  int report = -1;
  int max_fd = 1024;
  pid_t parent = -1;
  pid_t pid = -1;
  int fork_errno = 0;
  bool done = false;
};

int StatusOf(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

[[noreturn]] void RunChild(const ForkRequest& r) {
  // Dies with the process that started it, even on a crash.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != r.parent) _exit(127);
  int error = 0;
  // The streams on 0..2, the report pipe on 3, nothing else: a descriptor inherited by
  // accident (a listening socket of the test's own server) would outlive its owner in
  // the child and keep its port taken.
  if (dup2(r.in, STDIN_FILENO) < 0 || dup2(r.out, STDOUT_FILENO) < 0 ||
      dup2(r.err, STDERR_FILENO) < 0 || dup2(r.report, 3) < 0 ||
      fcntl(3, F_SETFD, FD_CLOEXEC) < 0) {
    error = errno;
  }
  if (error == 0) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0)
#endif
    {
      for (int fd = 4; fd < r.max_fd; ++fd) close(fd);
    }
    // The test process may block or ignore signals; the program starts with defaults.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execv(r.argv[0], r.argv);
    error = errno;
  }
  ssize_t ignored = write(3, &error, sizeof(error));
  (void)ignored;
  _exit(127);
}

// PR_SET_PDEATHSIG fires when the *thread* that forked ends, not the process: a child
// forked on a test's short-lived thread would be killed as that thread returns. So every
// fork happens on one thread per process, which lives as long as the process.
class Forker {
 public:
  // This process's forker. A fork of the test process (a death test) inherits none of
  // its parent's threads and maybe a held mutex: it gets a forker of its own.
  static Forker& Get() {
    static std::atomic<Forker*> current{nullptr};
    const pid_t self = getpid();
    Forker* forker = current.load();
    while (forker == nullptr || forker->owner_ != self) {
      auto* fresh = new Forker(self);
      if (current.compare_exchange_strong(forker, fresh)) {
        // The one it replaces belongs to the parent's memory image: left alone.
        std::thread([fresh] { fresh->Loop(); }).detach();
        return *fresh;
      }
      delete fresh;  // another thread installed one first: `forker` now holds it
    }
    return *forker;
  }

  void Fork(ForkRequest* request) {
    std::unique_lock<std::mutex> lock(mu_);
    queue_.push_back(request);
    wake_.notify_all();
    done_.wait(lock, [request] { return request->done; });
  }

 private:
  explicit Forker(pid_t owner) : owner_(owner) {}

  [[noreturn]] void Loop() {
    while (true) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return !queue_.empty(); });
      ForkRequest* r = queue_.front();
      queue_.pop_front();
      r->pid = fork();
      if (r->pid == 0) RunChild(*r);
      if (r->pid < 0) r->fork_errno = errno;
      r->done = true;
      done_.notify_all();
    }
  }

  const pid_t owner_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<ForkRequest*> queue_;
};

}  // namespace

ChildProcess::~ChildProcess() { Kill(); }

absl::Status ChildProcess::Start(const std::vector<std::string>& argv,
                                 const ChildStreams& streams) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to start");
  if (pid_ > 0) return absl::FailedPreconditionError(absl::StrCat(argv[0], " runs already"));
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  for (std::string& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);

  const int write_flags =
      O_WRONLY | O_CREAT | O_CLOEXEC | (streams.truncate ? O_TRUNC : O_APPEND);
  const std::string out_path = streams.stdout_path.empty() ? "/dev/null" : streams.stdout_path;
  const int in = open(streams.stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int out = open(out_path.c_str(), write_flags, 0644);
  const int err = streams.stderr_path.empty()
                      ? out
                      : open(streams.stderr_path.c_str(), write_flags, 0644);
  int report[2] = {-1, -1};
  const bool piped = pipe2(report, O_CLOEXEC) == 0;
  auto close_all = [&] {
    for (int fd : {in, out, report[1]}) {
      if (fd >= 0) close(fd);
    }
    if (err >= 0 && err != out) close(err);
  };
  if (in < 0 || out < 0 || err < 0 || !piped) {
    const std::string why = std::strerror(errno);
    close_all();
    if (report[0] >= 0) close(report[0]);
    return absl::InternalError(absl::StrCat("cannot prepare the streams of ", argv[0], ": ", why));
  }

  ForkRequest request;
  request.argv = raw.data();
  request.in = in;
  request.out = out;
  request.err = err;
  request.report = report[1];
  request.max_fd = static_cast<int>(sysconf(_SC_OPEN_MAX));
  request.parent = getpid();
  Forker::Get().Fork(&request);
  close_all();
  if (request.pid < 0) {
    close(report[0]);
    return absl::InternalError(
        absl::StrCat("fork for ", argv[0], ": ", std::strerror(request.fork_errno)));
  }
  // Returns at exec (the pipe closes unwritten) or with the errno of a failed exec.
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    waitpid(request.pid, nullptr, 0);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot execute ", argv[0], ": ", std::strerror(child_errno)));
  }
  pid_ = request.pid;
  exit_status_ = -1;
  return absl::OkStatus();
}

void ChildProcess::Signal(int signal) const {
  if (pid_ > 0) kill(pid_, signal);
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  exit_status_ = r == pid_ ? StatusOf(status) : -1;
  pid_ = -1;
}

std::optional<int> ChildProcess::Poll() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return std::nullopt;
  // r < 0 otherwise: no such child (reaped elsewhere); its status is unknown.
  exit_status_ = r == pid_ ? StatusOf(status) : -1;
  pid_ = -1;
  return exit_status_;
}

int ChildProcess::WaitExit(absl::Duration limit) {
  const absl::Time until = absl::Now() + limit;
  while (true) {
    if (std::optional<int> status = Poll(); status.has_value()) return *status;
    if (pid_ <= 0 || absl::Now() >= until) return pid_ <= 0 ? exit_status_ : -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

namespace {

std::string ReadWhole(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

}  // namespace

ProgramRun RunToEnd(const std::vector<std::string>& argv, const std::string& out_path,
                    const std::string& err_path, absl::Duration limit) {
  ChildStreams streams;
  streams.stdout_path = out_path;
  streams.stderr_path = err_path;
  streams.truncate = true;
  ChildProcess child;
  ProgramRun run;
  if (absl::Status started = child.Start(argv, streams); !started.ok()) {
    run.err = std::string(started.message());
    return run;
  }
  run.code = child.WaitExit(limit);
  child.Kill();
  run.out = ReadWhole(out_path);
  run.err = ReadWhole(err_path);
  return run;
}

}  // namespace sanhak::testing
