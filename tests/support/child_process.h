// A child process for tests and the benchmark: a program started by path with its
// standard streams on files, killed with this object, and by the kernel if the process
// that started it dies first. Every launcher here (redis-server, the service binaries,
// the sanhakctl binary) starts its children through this one class.
#ifndef SANHAK_TESTS_SUPPORT_CHILD_PROCESS_H_
#define SANHAK_TESTS_SUPPORT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sanhak::testing {

// Where a child's standard streams go. An empty stdout_path is /dev/null; an empty
// stderr_path is the same file as stdout.
struct ChildStreams {
  std::string stdin_path = "/dev/null";
  std::string stdout_path;
  std::string stderr_path;
  // True: the output files start empty; false: output is appended (a log kept across
  // restarts).
  bool truncate = false;
};

class ChildProcess {
 public:
  ChildProcess() = default;
  // Kill().
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Runs argv[0] (a path) with `argv`. Fails when it runs already, when a stream file
  // cannot be opened, or when the program cannot be executed (the error says why).
  absl::Status Start(const std::vector<std::string>& argv, const ChildStreams& streams = {});

  // True from Start() until the exit is seen (Poll, WaitExit) or Kill().
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Sends `signal` if it runs.
  void Signal(int signal) const;
  // SIGKILL, then reaps it. No-op when not running.
  void Kill();
  // The exit status (128 + the signal when a signal ended it) once it has ended, reaping
  // it; nullopt while it runs or when it was never started.
  std::optional<int> Poll();
  // Poll() until it ends or `limit` passes; -1 when it still runs.
  int WaitExit(absl::Duration limit);
  // The status Poll() or WaitExit() last saw; -1 before.
  int exit_status() const { return exit_status_; }

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

// What a program run to its end wrote, and how it ended.
struct ProgramRun {
  // The exit status (as WaitExit's); -1 when it could not start or outlived `limit`.
  int code = -1;
  std::string out;
  std::string err;
};

// Runs `argv` with stdin from /dev/null and stdout and stderr into `out_path` and
// `err_path` (truncated first), waits at most `limit` (then kills it) and reads back
// what it wrote.
ProgramRun RunToEnd(const std::vector<std::string>& argv, const std::string& out_path,
                    const std::string& err_path, absl::Duration limit = absl::Seconds(60));

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_CHILD_PROCESS_H_
