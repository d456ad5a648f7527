#include "tests/support/ports.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"

namespace sanhak::testing {
namespace {

// Shared by every process on the machine, whatever its TMPDIR: the locks must meet.
constexpr char kLockDir[] = "/tmp/sanhak-test-ports";
// Enough to find a port when a few thousand are taken; each try costs two syscalls.
constexpr int kTries = 2000;

// True when a socket could bind 127.0.0.1:port now (no SO_REUSEADDR: a port in use in any
// way counts as taken).
bool Bindable(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::pair<int, int> ReservablePorts() {
  int low = 32768, high = 60999;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low >> high;
  // Below the ephemeral range, above the ports services usually take.
  constexpr int kFloor = 10000, kEnough = 1000;
  if (low - kFloor >= kEnough) return {kFloor, low - 1};
  if (65535 - high >= kEnough) return {high + 1, 65535};
  return {1024, 65535};
}

absl::StatusOr<ReservedPort> ReservedPort::Pick() {
  if (mkdir(kLockDir, 0777) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create ", kLockDir));
  }
  const auto [first, last] = ReservablePorts();
  thread_local std::mt19937 random(std::random_device{}() ^
                                    static_cast<unsigned>(getpid()) ^
                                    static_cast<unsigned>(
                                        std::hash<std::thread::id>{}(std::this_thread::get_id())));
  std::uniform_int_distribution<int> draw(first, last);
  for (int i = 0; i < kTries; ++i) {
    const int port = draw(random);
    const std::string path = absl::StrCat(kLockDir, "/", port);
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    // flock locks belong to the open file: another ReservedPort of this same process
    // conflicts too.
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || !Bindable(port)) {
      close(fd);
      continue;
    }
    return ReservedPort(port, fd);
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("no free loopback port in ", first, "-", last, " after ", kTries, " tries"));
}

ReservedPort::ReservedPort(ReservedPort&& other) noexcept
    : port_(other.port_), lock_fd_(other.lock_fd_) {
  other.port_ = 0;
  other.lock_fd_ = -1;
}

ReservedPort& ReservedPort::operator=(ReservedPort&& other) noexcept {
  if (this != &other) {
    Release();
    port_ = other.port_;
    lock_fd_ = other.lock_fd_;
    other.port_ = 0;
    other.lock_fd_ = -1;
  }
  return *this;
}

ReservedPort::~ReservedPort() { Release(); }

void ReservedPort::Release() {
  // The lock file stays: removing it would let two processes lock two different files
  // of the same name.
  if (lock_fd_ >= 0) close(lock_fd_);
  lock_fd_ = -1;
  port_ = 0;
}

std::string ReservedPort::address() const { return absl::StrCat("127.0.0.1:", port_); }

}  // namespace sanhak::testing
