#include "tests/support/test_support.h"

#include <chrono>
#include <map>

#include "absl/base/const_init.h"
#include "absl/synchronization/mutex.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"

namespace sanhak::testing {

std::string SourceDir() { return SANHAK_SOURCE_DIR; }

std::vector<std::string> TestDatabase::Flags() const {
  std::vector<std::string> flags = {"--db=" + database};
  if (!page_token_key.empty()) flags.push_back("--page_token_key=" + page_token_key);
  return flags;
}

TestDatabase DatabaseForTest(const TempDir& dir, const std::string& file) {
  const std::string path = dir.File(file);
  if (TestEngine() != "postgresql") return {path, ""};
  static absl::Mutex mu(absl::kConstInit);
  static auto* databases = new std::map<std::string, TestDatabase>();
  absl::MutexLock lock(&mu);
  auto it = databases->find(path);
  if (it != databases->end()) return it->second;
  absl::StatusOr<std::string> uri = FreshPostgresDatabase();
  if (!uri.ok()) {
    ADD_FAILURE() << "no PostgreSQL database for " << file << ": " << uri.status();
    return {path, ""};
  }
  TestDatabase db{*uri, path + ".token-key"};
  databases->emplace(path, db);
  return db;
}

std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

std::unique_ptr<grpc::ClientContext> Context(double seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return context;
}

namespace {
template <typename T>
T DetailOf(const grpc::Status& status) {
  T out;
  google::rpc::Status rpc_status;
  if (!rpc_status.ParseFromString(status.error_details())) return out;
  for (const auto& any : rpc_status.details()) {
    if (any.Is<T>()) any.UnpackTo(&out);
  }
  return out;
}
}  // namespace

google::rpc::BadRequest BadRequestOf(const grpc::Status& status) {
  return DetailOf<google::rpc::BadRequest>(status);
}

std::string ReasonOf(const grpc::Status& status) {
  return DetailOf<google::rpc::ErrorInfo>(status).reason();
}

std::vector<std::string> ViolatedFields(const grpc::Status& status) {
  std::vector<std::string> fields;
  google::rpc::BadRequest bad_request = BadRequestOf(status);
  for (const auto& v : bad_request.field_violations()) fields.push_back(v.field());
  return fields;
}

}  // namespace sanhak::testing
