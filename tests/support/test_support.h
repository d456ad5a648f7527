// Shared pieces of the integration tests: temp dirs, client channels and deadlines, and
// readers for the rich error details of a grpc::Status. Servers in process listen on
// 127.0.0.1:0 and report their port; children get theirs as server_process.h and
// redis_process.h say; a port no server listens on is a ReservedPort (ports.h).
#ifndef SANHAK_TESTS_SUPPORT_TEST_SUPPORT_H_
#define SANHAK_TESTS_SUPPORT_TEST_SUPPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/support/temp_dir.h"

namespace sanhak::testing {

// The repository's source root (for data/ files), from the SANHAK_SOURCE_DIR compile
// definition.
std::string SourceDir();

std::shared_ptr<grpc::Channel> Connect(const std::string& address);

// A client context with a deadline `seconds` from now.
std::unique_ptr<grpc::ClientContext> Context(double seconds = 10);

// The google.rpc details carried by a failed call.
google::rpc::BadRequest BadRequestOf(const grpc::Status& status);
std::string ReasonOf(const grpc::Status& status);
// The `field` of every field violation, in order.
std::vector<std::string> ViolatedFields(const grpc::Status& status);

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_TEST_SUPPORT_H_
