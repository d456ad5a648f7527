#include "bench/bare_echo_server.h"

#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "sanhak_bench_echo.grpc.pb.h"

namespace sanhak::bench {

namespace {

class EchoServiceImpl final : public echo::EchoService::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const echo::EchoMessage* request,
                                 echo::EchoMessage* response) override {
    *response = *request;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

struct BareEchoServer::Impl {
  EchoServiceImpl service;
  std::unique_ptr<grpc::Server> server;
};

absl::StatusOr<std::unique_ptr<BareEchoServer>> BareEchoServer::Start() {
  std::unique_ptr<BareEchoServer> self(new BareEchoServer);
  self->impl_ = std::make_unique<Impl>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &self->port_);
  builder.RegisterService(&self->impl_->service);
  self->impl_->server = builder.BuildAndStart();
  if (self->impl_->server == nullptr || self->port_ == 0) {
    return absl::UnavailableError("bare echo server: cannot listen on 127.0.0.1:0");
  }
  return self;
}

BareEchoServer::~BareEchoServer() { Shutdown(); }

std::string BareEchoServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

void BareEchoServer::Shutdown() {
  if (impl_ != nullptr && impl_->server != nullptr) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    impl_->server->Wait();
    impl_->server.reset();
  }
}

}  // namespace sanhak::bench
