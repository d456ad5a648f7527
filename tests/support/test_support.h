// Shared pieces of the integration tests: temp dirs, a free loopback port, a started
// registry with a client stub, and readers for the rich error details of a grpc::Status.
#ifndef SANHAK_TESTS_SUPPORT_TEST_SUPPORT_H_
#define SANHAK_TESTS_SUPPORT_TEST_SUPPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "grpcpp/grpcpp.h"

namespace sanhak::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed with everything in it on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

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

// A free TCP port on 127.0.0.1 at the time of the call.
int FreePort();

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_TEST_SUPPORT_H_
