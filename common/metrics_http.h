// Serves a MetricsRegistry for Prometheus: GET /metrics on an HTTP listen
// address of its own, apart from the gRPC port, so scraping needs no gRPC and a
// NetworkPolicy can open it to the monitoring namespace alone. cpp-httplib
// (Debian's libcpp-httplib) does the HTTP.
#ifndef SANHAK_COMMON_METRICS_HTTP_H_
#define SANHAK_COMMON_METRICS_HTTP_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace sanhak::metrics {

class MetricsHttpServer {
 public:
  // Listens on `listen_address` (host:port; port 0 picks a free one) and serves
  // `registry`, which must outlive the server. Also registers the process's
  // standard figures in `registry` (AddProcessMetrics): a process that serves
  // metrics serves those. Returns once the server accepts connections.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen_address,
                                                                  MetricsRegistry* registry);

  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }
  // "host:port" with the bound port, ready for a client to dial.
  std::string address() const;

  // Stops accepting and waits for the serving thread. Safe to call more than
  // once.
  void Stop();

 private:
  MetricsHttpServer(std::string listen_address, MetricsRegistry* registry);

  const std::string listen_address_;
  MetricsRegistry* const registry_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::atomic<bool> listening_done_{false};
  std::thread thread_;
};

// Splits "host:port" ("[::1]:9090" too) into host and port; an error names the
// address.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address);

}  // namespace sanhak::metrics

#endif  // SANHAK_COMMON_METRICS_HTTP_H_
