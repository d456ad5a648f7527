// The registry binary as operators run it, in its own process: health over
// grpc.health.v1, reflection as a generic client uses it (under grpc.reflection.v1 and
// v1alpha), kill -9 during a stream of creates, and a graceful SIGTERM.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <iterator>
#include <utility>
#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace sanhak::registry {
namespace {

using ::sanhak::testing::Context;
using ::testing::Contains;

// A registry server process on a free port with its own database file.
class RegistryProcess : public sanhak::testing::ServerProcess {
 public:
  RegistryProcess(const std::string& db, const std::string& log, bool import_seed,
                  int drain_ms = 2000)
      : ServerProcess(SANHAK_REGISTRY_BINARY,
                      Flags(db, import_seed ? SeedPath() : "", drain_ms), log) {}
  // Imports `import_path` (a data file of the test's own) at start.
  RegistryProcess(const std::string& db, const std::string& log,
                  const std::string& import_path)
      : ServerProcess(SANHAK_REGISTRY_BINARY, Flags(db, import_path, 2000), log) {}

  static std::string SeedPath() {
    return sanhak::testing::SourceDir() + "/data/registry.textproto";
  }

  // SIGKILL kills and reaps; any other signal is sent (see WaitExit).
  void Kill(int signal) {
    if (signal == SIGKILL) {
      ServerProcess::Kill();
    } else {
      Signal(signal);
    }
  }

 private:
  static std::vector<std::string> Flags(const std::string& db, const std::string& import_path,
                                        int drain_ms) {
    std::vector<std::string> flags = {"--db=" + db, "--drain_ms=" + std::to_string(drain_ms)};
    if (!import_path.empty()) flags.push_back("--import=" + import_path);
    return flags;
  }
};

class RegistryProcessTest : public ::testing::Test {
 protected:
  sanhak::testing::TempDir dir_;
};

TEST_F(RegistryProcessTest, PrintsWhereItListensAndWhatItHolds) {
  RegistryProcess server(dir_.File("r.db"), dir_.File("r.log"), true);
  server.Start();
  ASSERT_TRUE(server.WaitServing()) << server.Log();
  std::string log = server.Log();
  EXPECT_THAT(log, ::testing::HasSubstr("registry listening on " + server.address()));
  EXPECT_THAT(log, ::testing::HasSubstr("holds 25 councils"));
}

TEST_F(RegistryProcessTest, HealthReportsTheRegistryService) {
  RegistryProcess server(dir_.File("r.db"), dir_.File("r.log"), false);
  server.Start();
  ASSERT_TRUE(server.WaitServing()) << server.Log();
  auto stub = grpc::health::v1::Health::NewStub(sanhak::testing::Connect(server.address()));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("sanhak.registry.v1.RegistryService");
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(stub->Check(Context().get(), request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  request.set_service("no.such.Service");
  EXPECT_EQ(stub->Check(Context().get(), request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// What grpcurl or grpc_cli do: list services, fetch descriptors, build a request from
// them alone, call the method, decode the answer; `rpb` is the reflection package the
// client speaks (current clients ask for v1, older ones for v1alpha).
template <typename Rpb>
void ListAndCallThroughReflection(const std::string& address) {
  using Request = typename Rpb::Request;
  using Response = typename Rpb::Response;
  auto channel = sanhak::testing::Connect(address);
  auto reflection = Rpb::Service::NewStub(channel);
  auto context = Context();
  auto stream = reflection->ServerReflectionInfo(context.get());

  Request list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  Response response;
  ASSERT_TRUE(stream->Read(&response));
  std::set<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.insert(s.name());
  EXPECT_THAT(services, Contains("sanhak.registry.v1.RegistryService"));
  EXPECT_THAT(services, Contains("grpc.health.v1.Health"));
  EXPECT_THAT(services, Contains("grpc.reflection.v1.ServerReflection"));
  EXPECT_THAT(services, Contains("grpc.reflection.v1alpha.ServerReflection"));

  // Every listed service resolves (grpcurl describe): health included.
  google::protobuf::SimpleDescriptorDatabase database;
  for (const std::string& name : services) {
    Request file;
    file.set_file_containing_symbol(name);
    ASSERT_TRUE(stream->Write(file));
    ASSERT_TRUE(stream->Read(&response));
    ASSERT_FALSE(response.has_error_response())
        << name << ": " << response.error_response().error_message();
    for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto proto;
      ASSERT_TRUE(proto.ParseFromString(bytes));
      database.Add(proto);  // a file sent twice is refused as a duplicate, harmlessly
    }
  }
  Request unknown;
  unknown.set_file_containing_symbol("no.such.Symbol");
  ASSERT_TRUE(stream->Write(unknown));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  google::protobuf::DescriptorPool pool(&database);
  const auto* health = pool.FindServiceByName("grpc.health.v1.Health");
  ASSERT_NE(health, nullptr);
  EXPECT_NE(health->FindMethodByName("Check"), nullptr);
  const auto* service = pool.FindServiceByName("sanhak.registry.v1.RegistryService");
  ASSERT_NE(service, nullptr);
  // Every method the contract has, as reflection serves it.
  const auto* compiled = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      "sanhak.registry.v1.RegistryService");
  ASSERT_NE(compiled, nullptr);
  EXPECT_EQ(service->method_count(), compiled->method_count());
  EXPECT_EQ(service->method_count(), 30);
  const auto* method = service->FindMethodByName("GetCouncil");
  ASSERT_NE(method, nullptr);

  google::protobuf::DynamicMessageFactory factory(&pool);
  std::unique_ptr<google::protobuf::Message> request(
      factory.GetPrototype(method->input_type())->New());
  request->GetReflection()->SetString(request.get(),
                                      method->input_type()->FindFieldByName("name"),
                                      "councils/display");
  grpc::ByteBuffer request_bytes;
  std::string serialized = request->SerializeAsString();
  grpc::Slice slice(serialized);
  request_bytes = grpc::ByteBuffer(&slice, 1);

  grpc::GenericStub generic(channel);
  grpc::ByteBuffer reply_bytes;
  grpc::Status call_status;
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  auto call_context = Context();
  generic.UnaryCall(call_context.get(), "/sanhak.registry.v1.RegistryService/GetCouncil",
                    grpc::StubOptions(), &request_bytes, &reply_bytes,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      call_status = s;
                      done = true;
                      done_cv.notify_one();
                    });
  {
    std::unique_lock<std::mutex> lock(mu);
    done_cv.wait(lock, [&] { return done; });
  }
  ASSERT_TRUE(call_status.ok()) << call_status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply_bytes.Dump(&slices).ok());
  std::string reply;
  for (const auto& s : slices) reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
  std::unique_ptr<google::protobuf::Message> council(
      factory.GetPrototype(method->output_type())->New());
  ASSERT_TRUE(council->ParseFromString(reply));
  EXPECT_EQ(council->GetReflection()->GetString(
                *council, method->output_type()->FindFieldByName("display_name")),
            "디스플레이");
}

struct ReflectionV1 {
  using Service = grpc::reflection::v1::ServerReflection;
  using Request = grpc::reflection::v1::ServerReflectionRequest;
  using Response = grpc::reflection::v1::ServerReflectionResponse;
};
struct ReflectionV1Alpha {
  using Service = grpc::reflection::v1alpha::ServerReflection;
  using Request = grpc::reflection::v1alpha::ServerReflectionRequest;
  using Response = grpc::reflection::v1alpha::ServerReflectionResponse;
};

TEST_F(RegistryProcessTest, AGenericClientListsAndCallsMethodsThroughReflection) {
  RegistryProcess server(dir_.File("r.db"), dir_.File("r.log"), true);
  server.Start();
  ASSERT_TRUE(server.WaitServing()) << server.Log();
  {
    SCOPED_TRACE("grpc.reflection.v1");
    ListAndCallThroughReflection<ReflectionV1>(server.address());
  }
  {
    SCOPED_TRACE("grpc.reflection.v1alpha");
    ListAndCallThroughReflection<ReflectionV1Alpha>(server.address());
  }
}

TEST_F(RegistryProcessTest, VersionPrintsThisBuildAndExits) {
  const std::string out = dir_.File("version.out");
  const std::string command =
      std::string(SANHAK_REGISTRY_BINARY) + " --version > " + out + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind("sanhak_registry_server ", 0), 0u) << text;
  EXPECT_NE(text.find("\ngRPC 1."), std::string::npos) << text;
  EXPECT_EQ(text.find("Debug build"), std::string::npos) << text;
}

TEST_F(RegistryProcessTest, KillDashNineLosesNoAcknowledgedCreate) {
  const std::string db = dir_.File("r.db");
  RegistryProcess server(db, dir_.File("r.log"), true);
  server.Start();
  ASSERT_TRUE(server.WaitServing()) << server.Log();

  // Four clients create organizations as fast as they are acknowledged; the process is
  // killed while they are at it.
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      auto stub = v1::RegistryService::NewStub(sanhak::testing::Connect(server.address()));
      for (int i = 0; !stop.load(); ++i) {
        v1::CreateOrganizationRequest request;
        request.set_organization_id("org-" + std::to_string(w) + "-" + std::to_string(i));
        request.mutable_organization()->set_display_name("시험기업 " + std::to_string(i));
        request.mutable_organization()->set_kind(v1::COMPANY);
        request.mutable_organization()->set_home_complex("complexes/seongseo");
        v1::Organization created;
        if (stub->CreateOrganization(Context(2).get(), request, &created).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged.push_back(created.name());
        } else if (stop.load()) {
          break;
        }
      }
    });
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (acknowledged.size() >= 150) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server.Kill(SIGKILL);
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_GE(acknowledged.size(), 50u) << "too few writes before the kill to mean anything";
  std::cout << acknowledged.size() << " creates acknowledged before kill -9\n";

  RegistryProcess restarted(db, dir_.File("r2.log"), false);
  restarted.Start();
  ASSERT_TRUE(restarted.WaitServing()) << restarted.Log();
  auto stub = v1::RegistryService::NewStub(sanhak::testing::Connect(restarted.address()));
  for (const std::string& name : acknowledged) {
    v1::GetOrganizationRequest get;
    get.set_name(name);
    v1::Organization org;
    EXPECT_TRUE(stub->GetOrganization(Context().get(), get, &org).ok()) << name << " lost";
  }
  // The seed survived too.
  v1::ListCouncilsResponse councils;
  ASSERT_TRUE(stub->ListCouncils(Context().get(), {}, &councils).ok());
  EXPECT_EQ(councils.total_size(), 25);
}

// Issue #10, observation 1, as an operator meets it: what sanhakctl wrote to seeded
// records survives a restart that imports the same data file again.
TEST_F(RegistryProcessTest, ARestartKeepsWhatTheApiChangedInSeededRecords) {
  const std::string db = dir_.File("r.db");
  const std::string ships = "councils/special-purpose-ships";
  const std::string kicox = "organizations/kicox";
  {
    RegistryProcess server(db, dir_.File("r.log"), true);
    server.Start();
    ASSERT_TRUE(server.WaitServing()) << server.Log();
    auto stub = v1::RegistryService::NewStub(sanhak::testing::Connect(server.address()));
    v1::UpdateCouncilRequest rename;
    rename.mutable_council()->set_name(ships);
    rename.mutable_council()->set_display_name("특수목적선 협의체 (API)");
    rename.mutable_update_mask()->add_paths("display_name");
    v1::Council renamed;
    grpc::Status status = stub->UpdateCouncil(Context().get(), rename, &renamed);
    ASSERT_TRUE(status.ok()) << status.error_message();
    // kicox hosts no council and has no membership in the data file, so it can be
    // deleted as seeded.
    v1::DeleteOrganizationRequest remove;
    remove.set_name(kicox);
    google::protobuf::Empty empty;
    status = stub->DeleteOrganization(Context().get(), remove, &empty);
    ASSERT_TRUE(status.ok()) << status.error_message();
    server.Kill(SIGTERM);
    ASSERT_EQ(server.WaitExit(std::chrono::seconds(10)), 0) << server.Log();
  }

  RegistryProcess restarted(db, dir_.File("r2.log"), true);
  restarted.Start();
  ASSERT_TRUE(restarted.WaitServing()) << restarted.Log();
  // The start-up log says what the import left as the API made it.
  EXPECT_THAT(restarted.Log(), ::testing::HasSubstr("\"imported_kept\":2"));
  auto stub = v1::RegistryService::NewStub(sanhak::testing::Connect(restarted.address()));
  v1::GetCouncilRequest get_council;
  get_council.set_name(ships);
  v1::Council council;
  ASSERT_TRUE(stub->GetCouncil(Context().get(), get_council, &council).ok());
  EXPECT_EQ(council.display_name(), "특수목적선 협의체 (API)");
  v1::GetOrganizationRequest get_org;
  get_org.set_name(kicox);
  v1::Organization org;
  // Still deleted: resolvable (soft delete) with its delete_time, and out of the list.
  ASSERT_TRUE(stub->GetOrganization(Context().get(), get_org, &org).ok());
  EXPECT_TRUE(org.has_delete_time());
  v1::ListOrganizationsRequest list_orgs;
  list_orgs.set_page_size(1000);
  v1::ListOrganizationsResponse orgs;
  ASSERT_TRUE(stub->ListOrganizations(Context().get(), list_orgs, &orgs).ok());
  for (const v1::Organization& o : orgs.organizations()) EXPECT_NE(o.name(), kicox);
  // The rest of the seed is still there.
  v1::ListCouncilsResponse councils;
  ASSERT_TRUE(stub->ListCouncils(Context().get(), {}, &councils).ok());
  EXPECT_EQ(councils.total_size(), 25);
  restarted.Kill(SIGTERM);
  ASSERT_EQ(restarted.WaitExit(std::chrono::seconds(10)), 0) << restarted.Log();

  // A changed data file, then a restart: it renames the council the API renamed and one
  // nobody touched. Only the untouched one takes the file's name.
  std::ifstream in(RegistryProcess::SeedPath());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{
           {"display_name: \"특수목적선 조선·해양기자재\"", "display_name: \"파일이 바꾼 특수목적선\""},
           {"display_name: \"스마트그린모빌리티\"", "display_name: \"파일이 바꾼 모빌리티\""}}) {
    size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from << " is not in the data file";
    text.replace(at, from.size(), to);
  }
  const std::string changed_path = dir_.File("changed.textproto");
  std::ofstream(changed_path) << text;
  RegistryProcess changed(db, dir_.File("r3.log"), changed_path);
  changed.Start();
  ASSERT_TRUE(changed.WaitServing()) << changed.Log();
  stub = v1::RegistryService::NewStub(sanhak::testing::Connect(changed.address()));
  ASSERT_TRUE(stub->GetCouncil(Context().get(), get_council, &council).ok());
  EXPECT_EQ(council.display_name(), "특수목적선 협의체 (API)");
  v1::GetCouncilRequest get_untouched;
  get_untouched.set_name("councils/smart-green-mobility");
  ASSERT_TRUE(stub->GetCouncil(Context().get(), get_untouched, &council).ok());
  EXPECT_EQ(council.display_name(), "파일이 바꾼 모빌리티");
  ASSERT_TRUE(stub->GetOrganization(Context().get(), get_org, &org).ok());
  EXPECT_TRUE(org.has_delete_time());
}

TEST_F(RegistryProcessTest, SigtermTurnsHealthNotServingThenExitsCleanly) {
  RegistryProcess server(dir_.File("r.db"), dir_.File("r.log"), false, /*drain_ms=*/1500);
  server.Start();
  ASSERT_TRUE(server.WaitServing()) << server.Log();

  auto health = grpc::health::v1::Health::NewStub(sanhak::testing::Connect(server.address()));
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("sanhak.registry.v1.RegistryService");
  auto watch = health->Watch(&watch_context, request);
  grpc::health::v1::HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  ASSERT_EQ(update.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  server.Kill(SIGTERM);
  // The open watch is an in-flight call: it hears NOT_SERVING before the server goes.
  bool heard_not_serving = false;
  while (watch->Read(&update)) {
    if (update.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING) {
      heard_not_serving = true;
      break;
    }
  }
  EXPECT_TRUE(heard_not_serving);
  watch_context.TryCancel();
  EXPECT_EQ(server.WaitExit(std::chrono::seconds(10)), 0) << server.Log();
  EXPECT_THAT(server.Log(), ::testing::HasSubstr("\"msg\":\"stopped\""));
}

}  // namespace
}  // namespace sanhak::registry

namespace sanhak::registry {
namespace {

// Killed (SIGKILL) in the middle of a stream of creates from several connections, then
// started again on the same file: every organization that exists has its accepted audit
// entry and every accepted entry its organization; nothing acknowledged is lost.
TEST(RegistryProcessAuditTest, AKillMidWriteLeavesNoWriteWithoutItsEntryNorEntryWithoutIt) {
  sanhak::testing::TempDir dir;
  sanhak::testing::ServerProcess server(
      SANHAK_REGISTRY_BINARY,
      {"--db=" + dir.File("r.db"), "--audit_log=" + dir.File("audit.jsonl")},
      dir.File("r.log"));
  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(server.WaitServing()) << server.Log();
  std::atomic<int> acked{0};
  std::mutex mu;
  std::set<std::string> acked_names;
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t, address = server.address()] {
      auto stub = v1::RegistryService::NewStub(sanhak::testing::Connect(address));
      for (int i = 0; i < 2000; ++i) {
        v1::CreateOrganizationRequest request;
        request.set_organization_id("org-" + std::to_string(t) + "-" + std::to_string(i));
        request.mutable_organization()->set_display_name("기관");
        request.mutable_organization()->set_kind(v1::COMPANY);
        v1::Organization out;
        if (!stub->CreateOrganization(Context(5).get(), request, &out).ok()) return;
        {
          std::lock_guard<std::mutex> lock(mu);
          acked_names.insert(out.name());
        }
        ++acked;
      }
    });
  }
  for (int i = 0; i < 3000 && acked < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server.Kill();
  for (std::thread& w : writers) w.join();
  ASSERT_GE(acked.load(), 200) << server.Log();

  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(server.WaitServing()) << server.Log();
  auto stub = v1::RegistryService::NewStub(sanhak::testing::Connect(server.address()));
  std::set<std::string> organizations;
  v1::ListOrganizationsRequest list;
  list.set_page_size(1000);
  for (int page = 0; page < 100; ++page) {
    v1::ListOrganizationsResponse response;
    ASSERT_TRUE(stub->ListOrganizations(Context().get(), list, &response).ok());
    for (const auto& o : response.organizations()) organizations.insert(o.name());
    if (response.next_page_token().empty()) break;
    list.set_page_token(response.next_page_token());
  }
  std::set<std::string> audited;
  audit::v1::ListAuditEntriesRequest audit;
  audit.set_page_size(1000);
  for (int page = 0; page < 100; ++page) {
    audit::v1::ListAuditEntriesResponse response;
    grpc::Status s = stub->ListAuditEntries(Context().get(), audit, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const auto& e : response.audit_entries()) {
      if (e.method() == "CreateOrganization" && e.code() == 0) {
        EXPECT_TRUE(audited.insert(e.resource()).second) << e.resource();
      }
    }
    if (response.next_page_token().empty()) break;
    audit.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(audited, organizations);
  for (const std::string& name : acked_names) {
    EXPECT_TRUE(organizations.count(name)) << name << " was acknowledged, then lost";
  }
}

}  // namespace
}  // namespace sanhak::registry
