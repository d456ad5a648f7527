// Every method of the events service's domain logic (services/events/events.h), on a real
// SQLite store seeded with data/events.textproto, asking an in-process registry that
// knows data/registry.textproto's councils and organizations (plus one of each
// soft-deleted). An input is one request: its first byte picks the method (modulo the
// method count, in EventsService's order in events.proto; fuzz/make_corpus.sh numbers
// them the same way), the rest is the serialized request. Bytes that do not parse as that
// request are rejected (the server's parsed_call answers them before the domain logic is
// reached). Every write runs in full and is rolled back (fuzz::RollbackStore),
// validate_only or not, so each input meets the seeded store as it was.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_support.h"
#include "google/protobuf/descriptor.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "services/events/events.h"

namespace sanhak::fuzz {
namespace {

using events::Events;
namespace v1 = events::v1;

// The registry answers at once (SeededRegistryDirectory); a deadline is never reached.
absl::Time Deadline() { return absl::Now() + absl::Seconds(30); }

// Each returns -1 when the bytes are not a request of its type, else 0.
using Method = int (*)(Events&, const Caller&, const std::string&);

template <typename Request, auto kCall>
int Read(Events& events, const Caller&, const std::string& bytes) {
  Request request;
  if (!request.ParseFromString(bytes)) return -1;
  (events.*kCall)(request).IgnoreError();
  return 0;
}

// A write that asks the registry first.
template <typename Request, typename Response, auto kCall>
int CheckedWrite(Events& events, const Caller& caller, const std::string& bytes) {
  Request request;
  if (!request.ParseFromString(bytes)) return -1;
  Await<Response>([&](crud::Done<Response> done) {
    (events.*kCall)(caller, request, Deadline(), std::move(done));
  }).IgnoreError();
  return 0;
}

// A write that names nothing in the registry.
template <typename Request, typename Response, auto kCall>
int Write(Events& events, const Caller& caller, const std::string& bytes) {
  Request request;
  if (!request.ParseFromString(bytes)) return -1;
  Await<Response>([&](crud::Done<Response> done) {
    (events.*kCall)(caller, request, std::move(done));
  }).IgnoreError();
  return 0;
}

template <typename Request, auto kCall>
int Delete(Events& events, const Caller& caller, const std::string& bytes) {
  Request request;
  if (!request.ParseFromString(bytes)) return -1;
  AwaitStatus([&](crud::StatusDone done) { (events.*kCall)(caller, request, std::move(done)); })
      .IgnoreError();
  return 0;
}

// A read that depends on who asks (the audit trail: admin only).
template <typename Request, auto kCall>
int ReadAs(Events& service, const Caller& caller, const std::string& bytes) {
  Request request;
  if (!request.ParseFromString(bytes)) return -1;
  (service.*kCall)(caller, request).IgnoreError();
  return 0;
}

struct Entry {
  const char* name;
  Method call;
};

// In EventsService's order; Init checks it against the service descriptor.
constexpr Entry kMethods[] = {
    {"GetActivity", Read<v1::GetActivityRequest, &Events::GetActivity>},
    {"ListActivities", Read<v1::ListActivitiesRequest, &Events::ListActivities>},
    {"CreateActivity",
     CheckedWrite<v1::CreateActivityRequest, v1::Activity, &Events::CreateActivity>},
    {"UpdateActivity",
     CheckedWrite<v1::UpdateActivityRequest, v1::Activity, &Events::UpdateActivity>},
    {"DeleteActivity", Delete<v1::DeleteActivityRequest, &Events::DeleteActivity>},
    {"GetRegistration", Read<v1::GetRegistrationRequest, &Events::GetRegistration>},
    {"ListRegistrations", Read<v1::ListRegistrationsRequest, &Events::ListRegistrations>},
    {"CreateRegistration", CheckedWrite<v1::CreateRegistrationRequest, v1::Registration,
                                        &Events::CreateRegistration>},
    {"UpdateRegistration",
     Write<v1::UpdateRegistrationRequest, v1::Registration, &Events::UpdateRegistration>},
    {"DeleteRegistration", Delete<v1::DeleteRegistrationRequest, &Events::DeleteRegistration>},
    {"GetOutcome", Read<v1::GetOutcomeRequest, &Events::GetOutcome>},
    {"ListOutcomes", Read<v1::ListOutcomesRequest, &Events::ListOutcomes>},
    {"CreateOutcome",
     CheckedWrite<v1::CreateOutcomeRequest, v1::Outcome, &Events::CreateOutcome>},
    {"UpdateOutcome",
     CheckedWrite<v1::UpdateOutcomeRequest, v1::Outcome, &Events::UpdateOutcome>},
    {"DeleteOutcome", Delete<v1::DeleteOutcomeRequest, &Events::DeleteOutcome>},
    {"ListAuditEntries", ReadAs<audit::v1::ListAuditEntriesRequest, &Events::ListAuditEntries>},
};
constexpr size_t kMethodCount = sizeof(kMethods) / sizeof(kMethods[0]);

Events* Init() {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          v1::EventsService::service_full_name());
  if (service == nullptr || static_cast<size_t>(service->method_count()) != kMethodCount) {
    std::fprintf(stderr, "events_requests_fuzzer: method table out of date\n");
    std::abort();
  }
  for (size_t i = 0; i < kMethodCount; ++i) {
    if (service->method(static_cast<int>(i))->name() != kMethods[i].name) {
      std::fprintf(stderr, "events_requests_fuzzer: method %zu is %s, table says %s\n", i,
                   service->method(static_cast<int>(i))->name().c_str(), kMethods[i].name);
      std::abort();
    }
  }
  QuietProtobufLogs();
  InstallPageTokenKey();
  auto* registry = new SeededRegistryDirectory(LoadRegistrySeed());
  store::ResourceStore* base = OpenStore("events.db", "events");
  Events seeder(base, registry);
  absl::StatusOr<crud::ImportSummary> seeded = seeder.Import(LoadEventsSeed(), Deadline());
  if (!seeded.ok()) {
    std::fprintf(stderr, "events_requests_fuzzer: seed import: %s\n",
                 seeded.status().ToString().c_str());
    std::abort();
  }
  return new Events(new RollbackStore(base), registry);
}

}  // namespace

int TestOneInput(const uint8_t* data, size_t size) {
  static Events* events = Init();
  if (size == 0) return -1;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  return kMethods[data[0] % kMethodCount].call(*events, FuzzCaller(data[0] / kMethodCount),
                                             bytes);
}

}  // namespace sanhak::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sanhak::fuzz::TestOneInput(data, size);
}
