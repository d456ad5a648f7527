#include "tests/support/postgres_server.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace sanhak::testing {
namespace {

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// Who the server runs as: nobody when we are root (postgres refuses root), else us.
struct RunAs {
  int uid = -1;
  int gid = -1;
};

RunAs ServerUser() {
  if (geteuid() != 0) return {};
  const passwd* pw = getpwnam("nobody");
  if (pw == nullptr) return {65534, 65534};
  return {static_cast<int>(pw->pw_uid), static_cast<int>(pw->pw_gid)};
}

// `argv` as the server's user runs it: as root, through util-linux's setpriv as nobody,
// with the parent-death signal set after the change of user (which would clear it).
// nobody must be able to search "/" (scripts/test.sh sees to it).
std::vector<std::string> AsServer(std::vector<std::string> argv) {
  const RunAs user = ServerUser();
  if (user.uid < 0) return argv;
  std::vector<std::string> wrapped = {
      "/usr/bin/setpriv", absl::StrCat("--reuid=", user.uid), absl::StrCat("--regid=", user.gid),
      "--clear-groups", "--pdeathsig=SIGKILL"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// FILE_COPY: copying the small template's files is much faster than PostgreSQL 15's
// default, which writes the whole template into the write-ahead log, for every test.
std::string CreateDatabaseSql(const std::string& name) {
  return absl::StrCat("CREATE DATABASE \"", name, "\" STRATEGY FILE_COPY");
}

}  // namespace

std::string PostgresBinDir() {
  const char* env = std::getenv("SANHAK_PG_BINDIR");
  for (std::string dir : {std::string(env == nullptr ? "" : env),
                          std::string("/usr/lib/postgresql/15/bin")}) {
    if (!dir.empty() && IsExecutable(dir + "/postgres") && IsExecutable(dir + "/initdb")) {
      return dir;
    }
  }
  return "";
}

PostgresServer::PostgresServer() : dir_("sanhak-pg") {
  absl::StatusOr<ReservedPort> port = ReservedPort::Pick();
  if (port.ok()) {
    port_ = *std::move(port);
  } else {
    error_ = port.status().ToString();
  }
}

PostgresServer::~PostgresServer() { Kill(); }

absl::Status PostgresServer::Initialize() {
  const std::string bin = PostgresBinDir();
  if (bin.empty()) {
    return absl::FailedPreconditionError(
        "PostgreSQL's server programs are missing: install postgresql-15 "
        "(scripts/install-deps.sh) or set SANHAK_PG_BINDIR");
  }
  const RunAs user = ServerUser();
  if (user.uid >= 0 && chown(dir_.path().c_str(), user.uid, user.gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", dir_.path()));
  }
  ChildProcess initdb;
  ChildStreams streams;
  streams.stdout_path = dir_.File("initdb.log");
  streams.truncate = true;
  absl::Status started = initdb.Start(
      AsServer({bin + "/initdb", "-D", dir_.File("data"), "-U", kUser, "--auth=trust", "-E",
                "UTF8", "--locale=C", "--no-sync", "--no-instructions"}),
      streams);
  if (!started.ok()) return started;
  int status = initdb.WaitExit(absl::Seconds(120));
  if (status != 0) {
    return absl::InternalError(absl::StrCat("initdb exited with ", status, ": ",
                                            ReadFile(dir_.File("initdb.log"))));
  }
  // Loopback only, on our port, its socket in its own directory; enough connections
  // for several replicas' pools; durability relaxed (see the header).
  std::ofstream conf(dir_.File("data/postgresql.conf"), std::ios::app);
  conf << "\nlisten_addresses = '127.0.0.1'\n"
       << "port = " << port() << "\n"
       << "unix_socket_directories = '" << dir_.path() << "'\n"
       << "max_connections = 300\n"
       // Not synchronous_commit = off: a commit acknowledged before its WAL left the
       // server's memory would be lost by Kill(), which tests play as a crash.
       << "fsync = off\nfull_page_writes = off\n"
       << "shared_buffers = 32MB\n"
       << "log_min_messages = warning\n";
  if (!conf) return absl::InternalError("cannot write postgresql.conf");
  initialized_ = true;
  return absl::OkStatus();
}

absl::Status PostgresServer::Launch(std::chrono::seconds limit) {
  ChildStreams streams;
  streams.stdout_path = dir_.File("postgres.log");
  absl::Status started =
      process_.Start(AsServer({PostgresBinDir() + "/postgres", "-D", dir_.File("data")}), streams);
  if (!started.ok()) return started;
  const std::string conninfo = absl::StrCat("host=127.0.0.1 port=", port(),
                                            " dbname=postgres user=", kUser,
                                            " connect_timeout=2");
  const absl::Time deadline = absl::Now() + absl::Seconds(limit.count());
  while (absl::Now() < deadline) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return absl::OkStatus();
    if (process_.Poll().has_value()) {
      return absl::InternalError(
          absl::StrCat("postgres exited with ", process_.exit_status()));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  process_.Kill();
  return absl::DeadlineExceededError(absl::StrCat("postgres did not answer within ",
                                                  limit.count(), " s"));
}

bool PostgresServer::Start(std::chrono::seconds limit) {
  if (!error_.empty() && port() == 0) return false;
  error_.clear();
  absl::Status status = initialized_ ? absl::OkStatus() : Initialize();
  if (status.ok()) status = Launch(limit);
  if (!status.ok()) error_ = status.ToString();
  return status.ok();
}

void PostgresServer::Kill() {
  if (!process_.running()) return;
  // The postmaster ends its backends before it exits, so once it is gone the port and
  // shared memory are free for the next start.
  process_.Signal(SIGQUIT);
  if (process_.WaitExit(absl::Seconds(20)) < 0) process_.Kill();
}

bool PostgresServer::Restart() {
  Kill();
  return Start();
}

std::string PostgresServer::Uri(const std::string& name) const {
  return absl::StrCat("postgresql://", kUser, "@127.0.0.1:", port(), "/", name);
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase(const std::string& name) {
  absl::StatusOr<std::vector<std::vector<std::string>>> dropped =
      Query(Uri("postgres"), absl::StrCat("DROP DATABASE IF EXISTS \"", name, "\" WITH (FORCE)"));
  if (!dropped.ok()) return dropped.status();
  absl::StatusOr<std::vector<std::vector<std::string>>> created =
      Query(Uri("postgres"), CreateDatabaseSql(name));
  if (!created.ok()) return created.status();
  return Uri(name);
}

absl::StatusOr<std::vector<std::vector<std::string>>> PostgresServer::Query(
    const std::string& uri, const std::string& sql) const {
  PGconn* conn = PQconnectdb(absl::StrCat(uri, "?connect_timeout=5").c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("connect to ", uri, ": ", why));
  }
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  PGresult* result = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string why = PQresultErrorMessage(result);
    PQclear(result);
    PQfinish(conn);
    return absl::InternalError(absl::StrCat(sql, ": ", why));
  }
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(result); ++r) {
    std::vector<std::string>& row = rows.emplace_back();
    for (int c = 0; c < PQnfields(result); ++c) {
      row.emplace_back(PQgetisnull(result, r, c) ? "" : PQgetvalue(result, r, c));
    }
  }
  PQclear(result);
  PQfinish(conn);
  return rows;
}

std::string PostgresServer::Log() const {
  std::string log;
  if (!error_.empty()) absl::StrAppend(&log, error_, "\n");
  absl::StrAppend(&log, ReadFile(dir_.File("postgres.log")));
  return log;
}

absl::StatusOr<std::string> FreshPostgresDatabase() {
  static std::atomic<int> next{0};
  const std::string name = absl::StrCat("t_", getpid(), "_", next.fetch_add(1));
  const char* shared_dir = std::getenv("SANHAK_TEST_POSTGRES_DIR");
  if (shared_dir != nullptr && *shared_dir != '\0') {
    int port = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(absl::StrCat(shared_dir, "/port"))),
                          &port)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "SANHAK_TEST_POSTGRES_DIR=", shared_dir,
          " holds no port: the ctest fixture postgres_fixture_start did not run or failed"));
    }
    const std::string base =
        absl::StrCat("postgresql://", PostgresServer::kUser, "@127.0.0.1:", port, "/");
    PGconn* conn = PQconnectdb(absl::StrCat(base, "postgres?connect_timeout=5").c_str());
    std::string error;
    if (PQstatus(conn) != CONNECTION_OK) {
      error = PQerrorMessage(conn);
    } else {
      PGresult* r = PQexec(conn, CreateDatabaseSql(name).c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(conn);
    if (!error.empty()) {
      return absl::UnavailableError(absl::StrCat("create database on port ", port, ": ", error));
    }
    return base + name;
  }
  // Started once, never stopped: it dies with this process (its parent-death signal).
  static PostgresServer* own = [] {
    auto* server = new PostgresServer();
    if (!server->Start()) std::fprintf(stderr, "PostgresServer: %s\n", server->Log().c_str());
    return server;
  }();
  if (!own->running()) return absl::UnavailableError(own->Log());
  return own->CreateDatabase(name);
}

std::string TestEngine() {
  const char* engine = std::getenv("SANHAK_TEST_ENGINE");
  return engine != nullptr && std::string(engine) == "postgresql" ? "postgresql" : "sqlite";
}

}  // namespace sanhak::testing
