// A real PostgreSQL server for the cluster-engine tests: initdb into a temp dir of its
// own, then `postgres` as a child process on 127.0.0.1 and a reserved port (ReservedPort),
// with trust authentication for the superuser "sanhak". Each test asks for a fresh
// database of its own (CreateDatabase), so one server serves a whole test binary.
//
// postgres refuses to run as root: when the tests run as root (CI in a container), the
// server runs as the unprivileged user "nobody", owning its directory.
//
// Durability settings are relaxed (fsync off): a crash of the *server process* loses
// nothing (the kernel still holds its writes), which is what Kill() plays; only a crash of
// the machine would, and no test plays that.
#ifndef SANHAK_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define SANHAK_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/child_process.h"
#include "tests/support/ports.h"
#include "tests/support/temp_dir.h"

namespace sanhak::testing {

// Where PostgreSQL's server programs are (initdb, postgres): $SANHAK_PG_BINDIR, else
// Debian's /usr/lib/postgresql/15/bin. Empty when neither holds them.
std::string PostgresBinDir();

class PostgresServer {
 public:
  // The superuser every URI names.
  static constexpr char kUser[] = "sanhak";

  // Reserves the port; Start() runs the server.
  PostgresServer();
  // Kills the server.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // The first call runs initdb; every call starts postgres on port() and waits until it
  // accepts connections. False (Log() says why) when it does not within `limit`.
  bool Start(std::chrono::seconds limit = std::chrono::seconds(60));
  // Immediate shutdown (SIGQUIT, then SIGKILL if it lingers): every connection is cut at
  // once and nothing is checkpointed, as in a crash; the next Start() recovers from the
  // write-ahead log. Waits until the server and its backends are gone.
  void Kill();
  // Kill() if running, then Start() on the same port and data.
  bool Restart();
  bool running() const { return process_.running(); }

  int port() const { return port_.port(); }
  // Creates database `name` (fresh and empty; an existing one is dropped first) and
  // returns its URI: "postgresql://sanhak@127.0.0.1:{port}/{name}".
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  // The URI of database `name` (whether or not it exists).
  std::string Uri(const std::string& name) const;
  // Runs `sql` on the database `uri` names and returns every row, each column's text
  // ("" for NULL). For assertions and for playing an operator (ALTER, DROP ...).
  absl::StatusOr<std::vector<std::vector<std::string>>> Query(const std::string& uri,
                                                               const std::string& sql) const;
  // Why the last start failed, if it did, then the server's log.
  std::string Log() const;

 private:
  absl::Status Initialize();
  absl::Status Launch(std::chrono::seconds limit);

  TempDir dir_;
  ReservedPort port_;
  ChildProcess process_;
  bool initialized_ = false;
  std::string error_;
};

// A fresh, empty database for one test, and its URI. On the server a ctest run shares
// (the fixture tests/support/postgres-fixture.sh started, named by
// $SANHAK_TEST_POSTGRES_DIR) when there is one; else on a server this process starts the
// first time it is asked and keeps until it exits (a test binary run by hand).
absl::StatusOr<std::string> FreshPostgresDatabase();

// The engine the tests of this process run the services on: "postgresql" when
// $SANHAK_TEST_ENGINE says so (ctest registers each service test a second time with it),
// else "sqlite".
std::string TestEngine();

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_POSTGRES_SERVER_H_
