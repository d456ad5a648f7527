// A service binary run as its own process, for tests that must crash it (kill -9) or
// watch it end: output appended to a log file, health-checked once it says it listens,
// killed with the test process if that dies first.
//
// It listens on 127.0.0.1:0, a port the kernel hands it at bind time, and the test learns
// the port from what the process prints ("registry listening on 127.0.0.1:PORT",
// services/*/main.cc): no port is picked beforehand, so none can be taken in between.
//
// It runs plaintext (--insecure_plaintext, allowed on loopback) unless the test gives it
// TLS files (--tls_cert, --tls_key, --tls_ca in `flags`) and, for the health checks,
// client credentials the server accepts (set_channel_credentials).
#ifndef SANHAK_TESTS_SUPPORT_SERVER_PROCESS_H_
#define SANHAK_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/security/credentials.h"
#include "tests/support/child_process.h"

namespace sanhak::testing {

class ServerProcess {
 public:
  // `flags` follow --listen=127.0.0.1:0, --drain_ms=1000, --log_calls=false and
  // --insecure_plaintext (a flag given again in `flags` wins; TLS files given in `flags`
  // turn TLS on whatever --insecure_plaintext says).
  ServerProcess(std::string binary, std::vector<std::string> flags, std::string log)
      : binary_(std::move(binary)), flags_(std::move(flags)), log_(std::move(log)) {}
  ~ServerProcess() { Kill(); }

  // How WaitServing dials it: plaintext unless set (mutual TLS: credentials with a
  // certificate the server's --tls_ca verifies).
  void set_channel_credentials(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    credentials_ = std::move(credentials);
  }

  // Starts it (again after Kill(), on a new port). False if it could not be started.
  bool Start();
  // Until the process says where it listens; false on timeout or if it ended.
  bool WaitListening(std::chrono::seconds limit = std::chrono::seconds(30));
  // WaitListening(), then until health answers SERVING; false on timeout or if the
  // process ended.
  bool WaitServing(std::chrono::seconds limit = std::chrono::seconds(30));
  // SIGKILL, then reaps the process.
  void Kill();
  // Sends `signal` (e.g. SIGTERM) and returns at once; WaitExit() tells the outcome.
  void Signal(int signal);
  // The exit status (128 + signal when killed by one), or -1 if the process is still
  // running after `limit`.
  int WaitExit(std::chrono::milliseconds limit);

  // "127.0.0.1:{port}" as the process printed it; known once WaitListening() (or
  // WaitServing()) returned true, empty before.
  const std::string& address() const { return address_; }
  // Where it serves /metrics ("NAME metrics on http://ADDRESS/metrics"), when it was given
  // --metrics_listen (127.0.0.1:0 works); known with address(), empty otherwise.
  const std::string& metrics_address() const { return metrics_address_; }
  // The running process's id, -1 when none (to read its /proc entries).
  pid_t pid() const { return child_.pid(); }
  // Everything in the log file (every start).
  std::string Log() const;

 private:
  std::string binary_;
  std::vector<std::string> flags_;
  std::string log_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  ChildProcess child_;
  // Where this start's output begins in the log: an earlier start's lines do not count.
  std::streamoff log_offset_ = 0;
  std::string address_;
  std::string metrics_address_;
};

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_SERVER_PROCESS_H_
