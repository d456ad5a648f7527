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

// Where a test's service keeps its data, on the engine this test process runs
// (TestEngine(), postgres_server.h): the SQLite file `dir`/`file`, or a fresh PostgreSQL
// database. The same (dir, file) gives the same database for the life of the process, so a
// test that restarts a service finds its data again. A failure to get one fails the test.
struct TestDatabase {
  // A service's --db.
  std::string database;
  // Its --page_token_key: required with PostgreSQL (shared by replicas), empty with SQLite
  // (the default beside the file).
  std::string page_token_key;
  // Both as command-line flags.
  std::vector<std::string> Flags() const;
};
TestDatabase DatabaseForTest(const TempDir& dir, const std::string& file);
// Sets a service config's database_path and page_token_key_path from DatabaseForTest.
template <typename Config>
void UseTestDatabase(const TempDir& dir, Config& config, const std::string& file) {
  TestDatabase db = DatabaseForTest(dir, file);
  config.database_path = db.database;
  config.page_token_key_path = db.page_token_key;
}

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_TEST_SUPPORT_H_
