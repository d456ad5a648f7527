// Serves a MetricsRegistry for Prometheus: GET /metrics on an HTTP listen
// address of its own, apart from the gRPC port, so scraping needs no gRPC and a
// NetworkPolicy can open it to the monitoring namespace alone.
//
// The endpoint is its own small HTTP/1.1 server on one thread with poll(), not
// a thread per connection: a client that connects and sends nothing, or sends
// its request a byte at a time, must not be able to keep a scrape from being
// answered. cpp-httplib 0.11 (Debian's) gave each connection a pool thread
// until a per-read timeout, which a byte every few seconds never reaches, so
// two such clients took both threads for as long as they liked. Here every
// connection has a deadline for its whole request, a request head has a size
// bound, and the number of connections held has a bound; beyond it the
// connection waiting longest for its request is dropped, so a new scrape is
// always let in.
#ifndef SANHAK_COMMON_METRICS_HTTP_H_
#define SANHAK_COMMON_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace sanhak::metrics {

class MetricsHttpServer {
 public:
  // Whether the process can do its work now (GET /readyz).
  using ReadyProbe = std::function<bool()>;

  // Listens on `listen_address` (host:port; port 0 picks a free one) and serves
  // `registry`, which must outlive the server. Returns once the server accepts
  // connections.
  //
  // Also the kubelet's probes, which cannot present a client certificate to the
  // mutual-TLS gRPC port: GET /healthz answers 200 while the process answers at all,
  // GET /readyz 200 when `ready` says so (503 otherwise; 404 when no probe is given).
  // Both answer one word and reveal nothing else. `ready` runs on the serving thread,
  // so it must be cheap and never block (read a cached state).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen_address, MetricsRegistry* registry, ReadyProbe ready = {});

  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }
  // "host:port" with the bound port, ready for a client to dial.
  std::string address() const;

  // Stops accepting, closes every connection and waits for the serving thread.
  // Safe to call more than once.
  void Stop();

 private:
  struct Connection;
  MetricsHttpServer(std::string listen_address, MetricsRegistry* registry, ReadyProbe ready);
  void Serve();

  // sanhak_metrics_connections_dropped_total by reason: what an operator sees
  // of clients that hold connections without scraping.
  struct Dropped {
    Counter* slow;       // no complete request head in time
    Counter* too_large;  // a request head beyond the size bound (answered 431)
    Counter* unread;     // the answer not taken in time
    Counter* evicted;    // pushed out for a newer connection beyond the bound
    Counter* refused;    // turned away: the bound reached and every one answering
  };

  const std::string listen_address_;
  MetricsRegistry* const registry_;
  const ReadyProbe ready_;
  int listen_fd_ = -1;
  // Written once by Stop() to wake the serving thread out of poll().
  int wake_fd_ = -1;
  int port_ = 0;
  Dropped dropped_{};
  std::thread thread_;
};

// Splits "host:port" ("[::1]:9090" too) into host and port; an error names the
// address.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address);

}  // namespace sanhak::metrics

#endif  // SANHAK_COMMON_METRICS_HTTP_H_
