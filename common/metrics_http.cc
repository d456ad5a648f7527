#include "common/metrics_http.h"

#include <sys/socket.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/process_metrics.h"
#include "httplib.h"

namespace sanhak::metrics {
namespace {

// Scrapes are one request every few seconds from one or two Prometheus servers;
// the library's default pool (one thread per core, at least 8) would idle in
// every service.
constexpr size_t kHttpThreads = 2;

}  // namespace

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

MetricsHttpServer::MetricsHttpServer(std::string listen_address, MetricsRegistry* registry)
    : listen_address_(std::move(listen_address)), registry_(registry) {}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen_address, MetricsRegistry* registry) {
  absl::StatusOr<std::pair<std::string, int>> host_port = SplitHostPort(listen_address);
  if (!host_port.ok()) return host_port.status();
  const auto& [host, port] = *host_port;

  std::unique_ptr<MetricsHttpServer> self(new MetricsHttpServer(listen_address, registry));
  self->http_ = std::make_unique<httplib::Server>();
  httplib::Server& http = *self->http_;
  http.new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
  // A stuck scraper must not hold a pool thread for the library's default
  // minutes.
  http.set_read_timeout(5, 0);
  // The library's default also sets SO_REUSEPORT, which lets a second process
  // bind the same port and take half the scrapes; a busy port must be an error
  // instead.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.set_write_timeout(5, 0);
  http.Get("/metrics", [registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry->Render(), kExpositionContentType);
  });
  // Anything else is 404 (the library's default), so the port serves nothing
  // but metrics.

  if (port == 0) {
    self->port_ = http.bind_to_any_port(host);
  } else {
    self->port_ = http.bind_to_port(host, port) ? port : -1;
  }
  if (self->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen_address, " for metrics"));
  }
  AddProcessMetrics(registry);
  MetricsHttpServer* raw = self.get();
  self->thread_ = std::thread([raw] {
    if (!raw->http_->listen_after_bind()) {
      Log(LogLevel::kError, "metrics server stopped serving", {{"address", raw->listen_address_}});
    }
    raw->listening_done_.store(true);
  });
  // stop() is a no-op until the accept loop runs, so wait for it: a Stop()
  // right after Start() would otherwise leave the thread accepting forever.
  while (!http.is_running() && !self->listening_done_.load()) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return self;
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

std::string MetricsHttpServer::address() const {
  std::string host = listen_address_.substr(0, listen_address_.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  return absl::StrCat(host, ":", port_);
}

void MetricsHttpServer::Stop() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace sanhak::metrics
