#include "bench/redis_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sanhak::bench {
namespace {

// A port the kernel considers free right now (bind to port 0, read it back, close).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// True when 127.0.0.1:port answers "PING" with "+PONG".
bool Pong(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const char ping[] = "PING\r\n";
    if (write(fd, ping, sizeof(ping) - 1) == static_cast<ssize_t>(sizeof(ping) - 1)) {
      char buffer[16] = {};
      ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
      ok = n >= 5 && std::strncmp(buffer, "+PONG", 5) == 0;
    }
  }
  close(fd);
  return ok;
}

}  // namespace

std::string RedisProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::Status RedisProcess::Start(const std::string& binary, const std::string& dir,
                                 absl::Duration limit) {
  if (pid_ > 0) return absl::OkStatus();
  port_ = FreePort();
  if (port_ == 0) return absl::UnavailableError("no free loopback port for redis-server");
  // Everything the child needs is prepared before fork: after it, only exec.
  std::vector<std::string> args = {binary,        "--port",       std::to_string(port_),
                                   "--bind",      "127.0.0.1",    "--save",
                                   "",            "--appendonly", "no",
                                   "--daemonize", "no",           "--dir",
                                   dir,           "--protected-mode", "no"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log_path = dir + "/redis.log";
  int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the benchmark, even on a crash
    if (getppid() != parent) _exit(127);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log);
  if (pid < 0) return absl::InternalError("fork failed");
  pid_ = pid;
  const absl::Time until = absl::Now() + limit;
  while (absl::Now() < until) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(
          absl::StrCat(binary, " exited at start (see ", log_path, ")"));
    }
    if (Pong(port_)) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return absl::DeadlineExceededError(
      absl::StrCat(binary, " did not answer PING on port ", port_, " (see ", log_path, ")"));
}

void RedisProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace sanhak::bench
