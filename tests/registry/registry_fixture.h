// An in-process registry on a real SQLite file in a temp dir, served over real gRPC on a
// loopback port picked by the kernel, with a client stub.
#ifndef SANHAK_TESTS_REGISTRY_REGISTRY_FIXTURE_H_
#define SANHAK_TESTS_REGISTRY_REGISTRY_FIXTURE_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/registry/registry_server.h"
#include "tests/support/test_support.h"

namespace sanhak::registry {

class RegistryFixture : public ::testing::Test {
 protected:
  // Starts the server; `import_path` may name a RegistryData text file.
  void StartRegistry(const std::string& import_path = "") {
    RegistryConfig config;
    config.server.listen_address = "127.0.0.1:0";
    config.server.log_calls = false;
    config.server.drain_deadline = absl::Seconds(2);
    sanhak::testing::UseTestDatabase(dir_, config, "registry.db");
    config.import_path = import_path;
    config.audit_log_path = audit_log_path_;
    config.server.max_writes_in_flight = max_writes_in_flight_;
    auto server = RegistryServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = sanhak::testing::Connect(server_->address());
    stub_ = v1::RegistryService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  sanhak::testing::TempDir dir_;
  // The --audit_log file of the next StartRegistry; empty: none.
  std::string audit_log_path_;
  // The next StartRegistry's ServerOptions::max_writes_in_flight.
  int max_writes_in_flight_ = 1024;
  std::unique_ptr<RegistryServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RegistryService::Stub> stub_;
};

}  // namespace sanhak::registry

#endif  // SANHAK_TESTS_REGISTRY_REGISTRY_FIXTURE_H_
