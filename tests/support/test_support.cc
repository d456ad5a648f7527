#include "tests/support/test_support.h"

#include <chrono>

#include "google/rpc/status.pb.h"

namespace sanhak::testing {

std::string SourceDir() { return SANHAK_SOURCE_DIR; }

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
