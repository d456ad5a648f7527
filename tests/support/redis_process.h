// A real redis-server as a child process on 127.0.0.1, persisting nothing (--save ""
// --appendonly no: a restart comes back empty), for tests and the benchmark. No
// GoogleTest here: tests/support/redis_server.h adds the client calls tests need.
//
// Redis cannot bind port 0 and report the port, so it is told one (a ReservedPort).
// Should another process bind that port first, redis-server exits with "Address already
// in use": the first start then retries on a fresh port, a bounded number of times.
// Once it has answered, its clients know its address, so a restart (after Kill(), a
// crash) keeps the port, waiting a bounded time for it to be free.
#ifndef SANHAK_TESTS_SUPPORT_REDIS_PROCESS_H_
#define SANHAK_TESTS_SUPPORT_REDIS_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/support/child_process.h"
#include "tests/support/ports.h"

namespace sanhak::testing {

struct RedisOptions {
  std::string binary = "/usr/bin/redis-server";
  // Its working directory, holding its log (redis.log); must exist.
  std::string dir;
  // How long one launch may take to answer.
  absl::Duration start_limit = absl::Seconds(10);
  // How long a restart waits for its port to be free again.
  absl::Duration same_port_limit = absl::Seconds(10);
  // A Redis ACL file (redis-server --aclfile); empty: none, everyone is the default
  // user. With one, the start check signs in as `admin_user` (any command and key).
  std::string aclfile;
  std::string admin_user;
  std::string admin_password;
  // Called with the port just before each launch (a test occupies it here to play the
  // other process that binds it first).
  std::function<void(int port)> before_launch;
};

class RedisProcess {
 public:
  // The first start launches this many times at most, each on a fresh port.
  static constexpr int kMaxLaunches = 8;

  explicit RedisProcess(RedisOptions options) : options_(std::move(options)) {}
  // Kill().
  ~RedisProcess() { Kill(); }
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  // Picks the port now (Start() does when none is), so port() is known before the start.
  absl::Status Reserve();
  // Starts redis-server and waits until it answers, as itself (INFO's process_id), not a
  // stranger on the same port. OK at once when it runs.
  absl::Status Start();
  // SIGKILL, then reaps it.
  void Kill();
  // Kill(), then Start() on the same port.
  absl::Status Restart();

  bool running() const { return child_.running(); }
  pid_t pid() const { return child_.pid(); }
  // 0 until a port is reserved.
  int port() const { return port_.port(); }
  // "127.0.0.1:{port}".
  std::string address() const { return port_.address(); }
  std::string log_path() const { return options_.dir + "/redis.log"; }
  // Everything redis-server wrote, over all launches.
  std::string Log() const;
  // redis-server processes started so far (a retry is one more).
  int launches() const { return launches_; }
  RedisOptions& options() { return options_; }

 private:
  enum class Outcome { kUp, kAddressInUse, kFailed };
  // One redis-server on port(); `why` says what went wrong otherwise.
  Outcome Launch(std::string* why);

  RedisOptions options_;
  ReservedPort port_;
  ChildProcess child_;
  // Set once it has answered: from then on its clients know the port.
  bool answered_ = false;
  int launches_ = 0;
};

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_REDIS_PROCESS_H_
