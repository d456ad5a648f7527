#include "common/metrics_http.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"

namespace sanhak::metrics {
namespace {

// Connections held at once. A scrape needs one for a few milliseconds, and one
// or two Prometheus servers scrape; the rest of the room is for whatever else
// connects, and the bound keeps its cost (a socket and 8 KB each) small.
constexpr size_t kMaxConnections = 64;
// From accepting a connection to the end of its request head. Prometheus sends
// its request as soon as it connects; a client that takes longer is broken or
// hostile.
constexpr absl::Duration kRequestTimeout = absl::Seconds(3);
// To send an answer to a client that does not read it.
constexpr absl::Duration kResponseTimeout = absl::Seconds(10);
// After the answer: reading (and dropping) what the client still sends, so that
// closing with unread bytes does not reset the connection and lose the answer.
constexpr absl::Duration kLingerTimeout = absl::Seconds(1);
constexpr size_t kMaxLingerBytes = 64 << 10;
// A scrape's request head is a few hundred bytes; anything past this is
// refused with 431.
constexpr size_t kMaxRequestBytes = 8 << 10;
// Connections taken per wake-up, so a flood of them cannot starve the ones
// already held.
constexpr int kMaxAcceptsPerWake = 64;
// As deep as the kernel allows (net.core.somaxconn): a burst of connections
// waits there to be taken, where a full queue would make a scraper's connect
// wait a second for the retry of its SYN.
constexpr int kListenBacklog = SOMAXCONN;
// After accept() fails for want of descriptors, the pending connection stays
// queued and poll() would report it again at once; wait this long instead.
constexpr absl::Duration kAcceptPause = absl::Milliseconds(100);

enum class State {
  kReading,    // the request head
  kWriting,    // the answer
  kLingering,  // answered; waiting for the client to close
};

std::string Answer(int code, absl::string_view reason, absl::string_view content_type,
                   absl::string_view body, bool head_only, absl::string_view extra_headers = "") {
  // Every answer closes the connection: a scrape every few seconds gains
  // nothing from keep-alive, and no idle connection outlives its answer.
  std::string out = absl::StrCat("HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", content_type,
                                 "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n",
                                 extra_headers, "\r\n");
  if (!head_only) out.append(body.data(), body.size());
  return out;
}

std::string ErrorAnswer(int code, absl::string_view reason, absl::string_view extra_headers = "") {
  return Answer(code, reason, "text/plain; charset=utf-8", absl::StrCat(reason, "\n"),
                /*head_only=*/false, extra_headers);
}

// The answer to the request whose head (request line and headers, through the
// blank line) is `head`. Only GET and HEAD of /metrics, /healthz and /readyz are
// served; a request body is never read (the connection closes after the answer).
std::string AnswerTo(absl::string_view head, MetricsRegistry* registry,
                     const MetricsHttpServer::ReadyProbe& ready) {
  absl::string_view line = head.substr(0, head.find('\n'));
  if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
  std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
    return ErrorAnswer(400, "Bad Request");
  }
  absl::string_view method = parts[0];
  absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  const bool probe = path == "/healthz" || (path == "/readyz" && ready);
  if (path != "/metrics" && !probe) return ErrorAnswer(404, "Not Found");
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return ErrorAnswer(405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
  }
  if (path == "/healthz") return Answer(200, "OK", "text/plain", "ok\n", head_only);
  if (path == "/readyz") {
    return ready() ? Answer(200, "OK", "text/plain", "ready\n", head_only)
                   : Answer(503, "Service Unavailable", "text/plain", "not ready\n", head_only);
  }
  return Answer(200, "OK", kExpositionContentType, registry->Render(), head_only);
}

// Where the request head in `in` ends (just past its blank line), or npos.
// Bare "\n" line ends are accepted too, as most servers do.
size_t HeadEnd(absl::string_view in) {
  size_t crlf = in.find("\r\n\r\n");
  size_t lf = in.find("\n\n");
  return std::min(crlf == absl::string_view::npos ? crlf : crlf + 4,
                  lf == absl::string_view::npos ? lf : lf + 2);
}

int PollTimeoutMs(absl::Time next, absl::Time now) {
  if (next == absl::InfiniteFuture()) return -1;
  if (next <= now) return 0;
  // Rounded up, so the wake-up finds the deadline passed.
  int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(next - now, absl::Milliseconds(1)));
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

}  // namespace

struct MetricsHttpServer::Connection {
  int fd = -1;
  State state = State::kReading;
  absl::Time opened;
  absl::Time deadline;
  std::string in;  // the request head so far (kReading)
  std::string out;  // the answer (kWriting)
  size_t sent = 0;
  size_t lingered = 0;
};

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  return std::make_pair(host, port);
}

MetricsHttpServer::MetricsHttpServer(std::string listen_address, MetricsRegistry* registry,
                                     ReadyProbe ready)
    : listen_address_(std::move(listen_address)), registry_(registry), ready_(std::move(ready)) {}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen_address, MetricsRegistry* registry, ReadyProbe ready) {
  absl::StatusOr<std::pair<std::string, int>> host_port = SplitHostPort(listen_address);
  if (!host_port.ok()) return host_port.status();
  const auto& [host, port] = *host_port;
  std::unique_ptr<MetricsHttpServer> self(
      new MetricsHttpServer(listen_address, registry, std::move(ready)));

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen_address, " for metrics: ", gai_strerror(rc)));
  }
  std::string error = "no address";
  for (addrinfo* ai = found; ai != nullptr && self->listen_fd_ < 0; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = strerror(errno);
      continue;
    }
    // SO_REUSEADDR alone: SO_REUSEPORT would let a second process bind the same
    // port and take half the scrapes; a busy port must be an error instead.
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, kListenBacklog) == 0) {
      self->listen_fd_ = fd;
    } else {
      error = strerror(errno);
      close(fd);
    }
  }
  freeaddrinfo(found);
  if (self->listen_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen_address, " for metrics: ", error));
  }
  sockaddr_storage bound{};
  socklen_t bound_size = sizeof(bound);
  if (getsockname(self->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_size) != 0) {
    return absl::UnavailableError(absl::StrCat("metrics listener on ", listen_address, ": ",
                                               strerror(errno)));
  }
  self->port_ = bound.ss_family == AF_INET6
                    ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                    : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  self->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (self->wake_fd_ < 0) {
    return absl::UnavailableError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  CounterFamily* dropped = registry->AddCounter(
      "sanhak_metrics_connections_dropped_total",
      "Connections to the metrics endpoint closed without an answer (slow: no request in "
      "time; unread: the answer not taken in time; evicted, refused: beyond the bound on "
      "connections) or refused with 431 (too_large).",
      {"reason"});
  self->dropped_ = {dropped->WithLabels({"slow"}), dropped->WithLabels({"too_large"}),
                    dropped->WithLabels({"unread"}), dropped->WithLabels({"evicted"}),
                    dropped->WithLabels({"refused"})};
  // The kernel queues connections from listen() on, so the server accepts
  // connections from here even before the thread first polls.
  MetricsHttpServer* raw = self.get();
  self->thread_ = std::thread([raw] { raw->Serve(); });
  return self;
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

std::string MetricsHttpServer::address() const {
  std::string host = listen_address_.substr(0, listen_address_.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  return absl::StrCat(host, ":", port_);
}

void MetricsHttpServer::Stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  listen_fd_ = wake_fd_ = -1;
}

void MetricsHttpServer::Serve() {
  std::vector<std::unique_ptr<Connection>> connections;
  std::vector<pollfd> polled;
  absl::Time accept_paused_until = absl::InfinitePast();

  auto drop = [](Connection& c) {
    close(c.fd);
    c.fd = -1;
  };
  // Sends what it can of the answer; once all is sent, half-closes and lingers.
  auto write_some = [&drop](Connection& c, absl::Time now) {
    while (c.sent < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += n;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        drop(c);
        return;
      }
    }
    shutdown(c.fd, SHUT_WR);
    c.state = State::kLingering;
    c.deadline = now + kLingerTimeout;
    std::string().swap(c.out);
  };
  auto answer = [&](Connection& c, std::string out, absl::Time now) {
    std::string().swap(c.in);
    c.out = std::move(out);
    c.state = State::kWriting;
    c.deadline = now + kResponseTimeout;
    write_some(c, now);
  };
  auto read_some = [&](Connection& c, absl::Time now) {
    char buffer[4096];
    while (c.fd >= 0 && c.state != State::kWriting) {
      ssize_t n = recv(c.fd, buffer, sizeof(buffer), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {  // closed by the client, or an error
        drop(c);
        return;
      }
      if (c.state == State::kLingering) {
        c.lingered += n;
        if (c.lingered > kMaxLingerBytes) drop(c);
        continue;
      }
      c.in.append(buffer, n);
      if (size_t end = HeadEnd(c.in); end != std::string::npos && end <= kMaxRequestBytes) {
        answer(c, AnswerTo(absl::string_view(c.in).substr(0, end), registry_, ready_), now);
      } else if (c.in.size() >= kMaxRequestBytes) {
        dropped_.too_large->Increment();
        answer(c, ErrorAnswer(431, "Request Header Fields Too Large"), now);
      }
    }
  };

  while (true) {
    absl::Time now = absl::Now();
    polled.clear();
    polled.push_back({wake_fd_, POLLIN, 0});
    polled.push_back({listen_fd_, static_cast<short>(now >= accept_paused_until ? POLLIN : 0), 0});
    absl::Time next = accept_paused_until > now ? accept_paused_until : absl::InfiniteFuture();
    for (const auto& c : connections) {
      polled.push_back({c->fd, static_cast<short>(c->state == State::kWriting ? POLLOUT : POLLIN), 0});
      next = std::min(next, c->deadline);
    }
    if (poll(polled.data(), polled.size(), PollTimeoutMs(next, now)) < 0 && errno != EINTR) {
      // Only ENOMEM is possible here; try again rather than stop serving.
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    if (polled[0].revents != 0) break;
    now = absl::Now();

    for (size_t i = 0; i < connections.size(); ++i) {
      Connection& c = *connections[i];
      if (polled[i + 2].revents == 0) continue;
      if (c.state == State::kWriting) {
        write_some(c, now);
      } else {
        read_some(c, now);
      }
    }
    // Past their deadline: a request too slow, an answer not read, a linger
    // done.
    for (auto& c : connections) {
      if (c->fd < 0 || c->deadline > now) continue;
      if (c->state == State::kReading) dropped_.slow->Increment();
      if (c->state == State::kWriting) dropped_.unread->Increment();
      drop(*c);
    }
    connections.erase(std::remove_if(connections.begin(), connections.end(),
                                     [](const auto& c) { return c->fd < 0; }),
                      connections.end());

    if ((polled[1].revents & POLLIN) == 0) continue;
    for (int i = 0; i < kMaxAcceptsPerWake; ++i) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) accept_paused_until = now + kAcceptPause;
        break;
      }
      if (connections.size() >= kMaxConnections) {
        // Make room by dropping the connection that has waited longest without
        // being answered (one already answered first): a steady stream of idle
        // connections then cannot keep a scrape out. Answers being sent are
        // kept; if every connection has one, the new one is turned away.
        auto rank = [](const Connection& c) {
          return c.state == State::kLingering ? 0 : c.state == State::kReading ? 1 : 2;
        };
        auto victim = std::min_element(
            connections.begin(), connections.end(), [&rank](const auto& a, const auto& b) {
              return std::make_pair(rank(*a), a->opened) < std::make_pair(rank(*b), b->opened);
            });
        if ((*victim)->state == State::kWriting) {
          dropped_.refused->Increment();
          close(fd);
          continue;
        }
        if ((*victim)->state == State::kReading) dropped_.evicted->Increment();
        close((*victim)->fd);
        connections.erase(victim);
      }
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      c->opened = now;
      c->deadline = now + kRequestTimeout;
      // The request is often there already; reading now saves a poll.
      read_some(*c, now);
      if (c->fd >= 0) connections.push_back(std::move(c));
    }
  }
  for (auto& c : connections) close(c->fd);
}

}  // namespace sanhak::metrics
