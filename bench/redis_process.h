// A real redis-server for the benchmark: a child process on 127.0.0.1 and a free port,
// persisting nothing (--save "" --appendonly no), killed when this object goes away (and
// by the kernel if the benchmark dies: PR_SET_PDEATHSIG). The same approach as
// tests/support/redis_server.h, without GoogleTest or hiredis.
#ifndef SANHAK_BENCH_REDIS_PROCESS_H_
#define SANHAK_BENCH_REDIS_PROCESS_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sanhak::bench {

class RedisProcess {
 public:
  RedisProcess() = default;
  ~RedisProcess() { Kill(); }
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  // Starts `binary` on a free loopback port, its log and working dir in `dir`, and waits
  // until it answers PING (at most `limit`).
  absl::Status Start(const std::string& binary, const std::string& dir,
                     absl::Duration limit = absl::Seconds(10));
  // SIGKILL and reap.
  void Kill();

  int port() const { return port_; }
  // "127.0.0.1:{port}".
  std::string address() const;

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_REDIS_PROCESS_H_
