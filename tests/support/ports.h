// Loopback ports for children that must be told their port (redis-server cannot bind
// port 0 and report it; a client must find a restarted server where the first one
// was). A port picked "free" and bound later is a race: another process may bind it in
// between. ReservedPort narrows it to nothing among launchers, and to what a launcher
// can detect and retry otherwise:
//  - it is drawn at random from outside the kernel's ephemeral range, where no bind to
//    port 0 and no outgoing connection (not even a client's reconnect to itself) lands;
//  - it is held, for this object's lifetime, by an exclusive lock on a file named after
//    it (/tmp/sanhak-test-ports/PORT), which every ReservedPort of every process takes
//    first; the kernel drops the lock when the holder dies, so none goes stale;
//  - nothing was bound to it when it was picked.
// A process outside these rules may still bind it first: launchers detect the failed
// bind and retry (RedisProcess).
#ifndef SANHAK_TESTS_SUPPORT_PORTS_H_
#define SANHAK_TESTS_SUPPORT_PORTS_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace sanhak::testing {

class ReservedPort {
 public:
  // A port no other ReservedPort holds and nothing is bound to on 127.0.0.1.
  static absl::StatusOr<ReservedPort> Pick();

  // Holds none (port() is 0).
  ReservedPort() = default;
  ReservedPort(ReservedPort&& other) noexcept;
  ReservedPort& operator=(ReservedPort&& other) noexcept;
  ~ReservedPort();

  int port() const { return port_; }
  // "127.0.0.1:{port}".
  std::string address() const;

 private:
  ReservedPort(int port, int lock_fd) : port_(port), lock_fd_(lock_fd) {}
  void Release();

  int port_ = 0;
  int lock_fd_ = -1;
};

// [first, last]: the ports Pick() draws from (outside the kernel's ephemeral range when
// that leaves enough of them).
std::pair<int, int> ReservablePorts();

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_PORTS_H_
