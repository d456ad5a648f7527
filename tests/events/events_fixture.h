// The events service as its clients meet it: an in-process registry (seeded from
// data/registry.textproto) and an in-process events server that asks it, each on its own
// real SQLite file in a temp dir and served over real gRPC on a loopback port picked by
// the kernel, with a client stub for each.
#ifndef SANHAK_TESTS_EVENTS_EVENTS_FIXTURE_H_
#define SANHAK_TESTS_EVENTS_EVENTS_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/events/events_server.h"
#include "services/registry/registry_server.h"
#include "tests/support/test_support.h"

namespace sanhak::events {

class EventsFixture : public ::testing::Test {
 protected:
  static std::string RegistrySeedPath() {
    return sanhak::testing::SourceDir() + "/data/registry.textproto";
  }
  static std::string EventsSeedPath() {
    return sanhak::testing::SourceDir() + "/data/events.textproto";
  }

  // The registry (seeded), then the events server; `events_import` may name an
  // EventsData text file.
  void StartServices(const std::string& events_import = "") {
    StartRegistry();
    if (registry_ == nullptr) return;
    StartEvents(events_import);
  }

  void StartRegistry() {
    registry::RegistryConfig config;
    config.server.listen_address = "127.0.0.1:0";
    config.server.log_calls = false;
    config.server.drain_deadline = absl::Seconds(2);
    sanhak::testing::UseTestDatabase(dir_, config, "registry.db");
    config.import_path = RegistrySeedPath();
    auto server = registry::RegistryServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    registry_ = *std::move(server);
    registry_stub_ =
        registry::v1::RegistryService::NewStub(sanhak::testing::Connect(registry_->address()));
  }

  // (Re)starts the events server on the same SQLite file.
  void StartEvents(const std::string& import_path = "") {
    ASSERT_NE(registry_, nullptr);
    EventsConfig config;
    config.server.listen_address = "127.0.0.1:0";
    config.server.log_calls = false;
    config.server.drain_deadline = absl::Seconds(2);
    sanhak::testing::UseTestDatabase(dir_, config, "events.db");
    config.registry_address = registry_->address();
    config.import_path = import_path;
    if (max_outcomes_ > 0) config.max_outcomes = max_outcomes_;
    auto server = EventsServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    events_ = *std::move(server);
    stub_ = v1::EventsService::NewStub(sanhak::testing::Connect(events_->address()));
  }

  void StopEvents() {
    stub_.reset();
    if (events_ != nullptr) events_->Shutdown();
    events_.reset();
  }

  void TearDown() override {
    StopEvents();
    if (registry_ != nullptr) registry_->Shutdown();
  }

  // A wall-clock minute, written {2025, 9, 10, 14, 0}.
  struct Minute {
    int year, month, day, hour, minute;
  };

  // A wall-clock time in `zone` (an IANA name) as a Timestamp.
  static google::protobuf::Timestamp At(Minute when, const std::string& zone = "Asia/Seoul") {
    absl::TimeZone tz;
    EXPECT_TRUE(absl::LoadTimeZone(zone, &tz)) << zone;
    absl::CivilMinute civil(when.year, when.month, when.day, when.hour, when.minute);
    google::protobuf::Timestamp out;
    out.set_seconds(absl::ToUnixSeconds(absl::FromCivil(civil, tz)));
    return out;
  }

  sanhak::testing::TempDir dir_;
  std::unique_ptr<registry::RegistryServer> registry_;
  std::unique_ptr<registry::v1::RegistryService::Stub> registry_stub_;
  std::unique_ptr<EventsServer> events_;
  // When positive, the events server started next holds at most this many outcomes.
  int64_t max_outcomes_ = 0;
  std::unique_ptr<v1::EventsService::Stub> stub_;
};

}  // namespace sanhak::events

#endif  // SANHAK_TESTS_EVENTS_EVENTS_FIXTURE_H_
