// Every method of the registry's domain logic (services/registry/registry.h), on a real
// SQLite store seeded with data/registry.textproto. An input is one request: its first
// byte picks the method (modulo the method count, in RegistryService's order in
// registry.proto; fuzz/make_corpus.sh numbers them the same way), the rest is the
// serialized request. Bytes that do not parse as that request are rejected (the server's
// parsed_call answers them before the domain logic is reached). Every write runs in full
// and is rolled back (fuzz::RollbackStore), validate_only or not, so each input meets
// the seeded store as it was.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "fuzz/fuzz_support.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/registry/registry.h"

namespace sanhak::fuzz {
namespace {

using registry::Registry;
namespace v1 = registry::v1;

// Each returns -1 when the bytes are not a request of its type, else 0.
using Method = int (*)(Registry&, const Caller&, const std::string&);

template <typename Request>
bool Parse(const std::string& bytes, Request& request) {
  return request.ParseFromString(bytes);
}

// A read: answers at once.
template <typename Request, auto kCall>
int Read(Registry& registry, const Caller&, const std::string& bytes) {
  Request request;
  if (!Parse(bytes, request)) return -1;
  (registry.*kCall)(request).IgnoreError();
  return 0;
}

// A write that answers a resource.
template <typename Request, typename Response, auto kCall>
int Write(Registry& registry, const Caller& caller, const std::string& bytes) {
  Request request;
  if (!Parse(bytes, request)) return -1;
  Await<Response>([&](crud::Done<Response> done) {
    (registry.*kCall)(caller, request, std::move(done));
  }).IgnoreError();
  return 0;
}

// A delete: answers a status.
template <typename Request, auto kCall>
int Delete(Registry& registry, const Caller& caller, const std::string& bytes) {
  Request request;
  if (!Parse(bytes, request)) return -1;
  AwaitStatus([&](crud::StatusDone done) { (registry.*kCall)(caller, request, std::move(done)); })
      .IgnoreError();
  return 0;
}

// A read that depends on who asks (the audit trail: admin only).
template <typename Request, auto kCall>
int ReadAs(Registry& service, const Caller& caller, const std::string& bytes) {
  Request request;
  if (!request.ParseFromString(bytes)) return -1;
  (service.*kCall)(caller, request).IgnoreError();
  return 0;
}

struct Entry {
  const char* name;
  Method call;
};

// In RegistryService's order; Init checks it against the service descriptor.
constexpr Entry kMethods[] = {
    {"GetField", Read<v1::GetFieldRequest, &Registry::GetField>},
    {"ListFields", Read<v1::ListFieldsRequest, &Registry::ListFields>},
    {"GetRegion", Read<v1::GetRegionRequest, &Registry::GetRegion>},
    {"ListRegions", Read<v1::ListRegionsRequest, &Registry::ListRegions>},
    {"GetComplex", Read<v1::GetComplexRequest, &Registry::GetComplex>},
    {"ListComplexes", Read<v1::ListComplexesRequest, &Registry::ListComplexes>},
    {"CreateComplex",
     Write<v1::CreateComplexRequest, v1::IndustrialComplex, &Registry::CreateComplex>},
    {"UpdateComplex",
     Write<v1::UpdateComplexRequest, v1::IndustrialComplex, &Registry::UpdateComplex>},
    {"DeleteComplex", Delete<v1::DeleteComplexRequest, &Registry::DeleteComplex>},
    {"UndeleteComplex",
     Write<v1::UndeleteComplexRequest, v1::IndustrialComplex, &Registry::UndeleteComplex>},
    {"GetCouncil", Read<v1::GetCouncilRequest, &Registry::GetCouncil>},
    {"ListCouncils", Read<v1::ListCouncilsRequest, &Registry::ListCouncils>},
    {"CreateCouncil", Write<v1::CreateCouncilRequest, v1::Council, &Registry::CreateCouncil>},
    {"UpdateCouncil", Write<v1::UpdateCouncilRequest, v1::Council, &Registry::UpdateCouncil>},
    {"DeleteCouncil", Delete<v1::DeleteCouncilRequest, &Registry::DeleteCouncil>},
    {"UndeleteCouncil",
     Write<v1::UndeleteCouncilRequest, v1::Council, &Registry::UndeleteCouncil>},
    {"GetOrganization", Read<v1::GetOrganizationRequest, &Registry::GetOrganization>},
    {"ListOrganizations", Read<v1::ListOrganizationsRequest, &Registry::ListOrganizations>},
    {"CreateOrganization", Write<v1::CreateOrganizationRequest, v1::Organization,
                                 &Registry::CreateOrganization>},
    {"UpdateOrganization", Write<v1::UpdateOrganizationRequest, v1::Organization,
                                 &Registry::UpdateOrganization>},
    {"DeleteOrganization",
     Delete<v1::DeleteOrganizationRequest, &Registry::DeleteOrganization>},
    {"UndeleteOrganization", Write<v1::UndeleteOrganizationRequest, v1::Organization,
                                   &Registry::UndeleteOrganization>},
    {"GetMembership", Read<v1::GetMembershipRequest, &Registry::GetMembership>},
    {"ListMemberships", Read<v1::ListMembershipsRequest, &Registry::ListMemberships>},
    {"CreateMembership",
     Write<v1::CreateMembershipRequest, v1::Membership, &Registry::CreateMembership>},
    {"UpdateMembership",
     Write<v1::UpdateMembershipRequest, v1::Membership, &Registry::UpdateMembership>},
    {"DeleteMembership", Delete<v1::DeleteMembershipRequest, &Registry::DeleteMembership>},
    {"GetReportedFigure", Read<v1::GetReportedFigureRequest, &Registry::GetReportedFigure>},
    {"ListReportedFigures",
     Read<v1::ListReportedFiguresRequest, &Registry::ListReportedFigures>},
    {"ListAuditEntries", ReadAs<audit::v1::ListAuditEntriesRequest, &Registry::ListAuditEntries>},
};
constexpr size_t kMethodCount = sizeof(kMethods) / sizeof(kMethods[0]);

Registry* Init() {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          v1::RegistryService::service_full_name());
  if (service == nullptr || static_cast<size_t>(service->method_count()) != kMethodCount) {
    std::fprintf(stderr, "registry_requests_fuzzer: method table out of date\n");
    std::abort();
  }
  for (size_t i = 0; i < kMethodCount; ++i) {
    if (service->method(static_cast<int>(i))->name() != kMethods[i].name) {
      std::fprintf(stderr, "registry_requests_fuzzer: method %zu is %s, table says %s\n", i,
                   service->method(static_cast<int>(i))->name().c_str(), kMethods[i].name);
      std::abort();
    }
  }
  QuietProtobufLogs();
  InstallPageTokenKey();
  store::ResourceStore* base = OpenStore("registry.db", "registry");
  Registry seeder(base);
  absl::StatusOr<crud::ImportSummary> seeded = seeder.Import(LoadRegistrySeed());
  if (!seeded.ok()) {
    std::fprintf(stderr, "registry_requests_fuzzer: seed import: %s\n",
                 seeded.status().ToString().c_str());
    std::abort();
  }
  return new Registry(new RollbackStore(base));
}

}  // namespace

int TestOneInput(const uint8_t* data, size_t size) {
  static Registry* registry = Init();
  if (size == 0) return -1;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  return kMethods[data[0] % kMethodCount].call(*registry, FuzzCaller(data[0] / kMethodCount),
                                               bytes);
}

}  // namespace sanhak::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sanhak::fuzz::TestOneInput(data, size);
}
