// A service binary run as its own process on a free port, for tests that must crash it
// (kill -9) or watch it end: output appended to a log file, health-checked once it says
// it listens, killed with the test process if that dies first.
#ifndef SANHAK_TESTS_SUPPORT_SERVER_PROCESS_H_
#define SANHAK_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace sanhak::testing {

class ServerProcess {
 public:
  // `flags` follow --listen, --drain_ms=1000 and --log_calls=false (a flag given again in
  // `flags` wins).
  ServerProcess(std::string binary, std::vector<std::string> flags, std::string log)
      : binary_(std::move(binary)), flags_(std::move(flags)), log_(std::move(log)) {}
  ~ServerProcess() { Kill(); }

  // Starts it on a new free port (again after Kill()). False if it could not be forked.
  bool Start();
  // Until the process says it listens and health answers SERVING; false on timeout or
  // if the process died.
  bool WaitServing(std::chrono::seconds limit = std::chrono::seconds(30));
  // SIGKILL, then reaps the process.
  void Kill();
  // Sends `signal` (e.g. SIGTERM) and returns at once; WaitExit() tells the outcome.
  void Signal(int signal);
  // The exit status (128 + signal when killed by one), or -1 if the process is still
  // running after `limit`.
  int WaitExit(std::chrono::milliseconds limit);

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The running process's id, -1 when none (to read its /proc entries).
  pid_t pid() const { return pid_; }
  std::string Log() const;

 private:
  std::string binary_;
  std::vector<std::string> flags_;
  std::string log_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_SERVER_PROCESS_H_
