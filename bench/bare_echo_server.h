// The bare baseline: a gRPC callback server that echoes its request, with nothing of the
// suite in it: a plain grpc::ServerBuilder, gRPC's defaults, no interceptors, no health or
// reflection, no GrpcServer options. What the suite's runtime costs shows as the distance
// between this server and the suite's own empty handler (EmptyService on GrpcServer).
#ifndef SANHAK_BENCH_BARE_ECHO_SERVER_H_
#define SANHAK_BENCH_BARE_ECHO_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server.h"

namespace sanhak::bench {

class BareEchoServer {
 public:
  // Listens on 127.0.0.1 at a port the kernel picks.
  static absl::StatusOr<std::unique_ptr<BareEchoServer>> Start();
  ~BareEchoServer();

  std::string address() const;
  void Shutdown();

 private:
  BareEchoServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_BARE_ECHO_SERVER_H_
