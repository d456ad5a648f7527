// A thin RAII layer over libpq: connections with timeouts and TCP keepalives, statements
// with typed binary parameters and binary results (cached as prepared statements per
// connection), and errors as absl::Status.
//
// Error mapping (ErrorStatus): a lost or refused connection, SQLSTATE class 08 and the
// server shutting down or starting (57P01, 57P02, 57P03) are UNAVAILABLE; a
// serialization failure or deadlock (40001, 40P01) is ABORTED and IsRetryable (the
// transaction may simply run again); a unique violation (23505) is ALREADY_EXISTS; text
// PostgreSQL cannot store (a NUL byte, invalid UTF-8: 22021, 22P05) is INVALID_ARGUMENT;
// anything else is INTERNAL with the server's message.
#ifndef SANHAK_COMMON_POSTGRES_H_
#define SANHAK_COMMON_POSTGRES_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// libpq's types, kept out of every includer's namespace.
struct pg_conn;
struct pg_result;

namespace sanhak::pg {

// One statement parameter, sent in binary with its type, so no value is ever parsed from
// text (bytes stay bytes, integers stay exact).
class Param {
 public:
  static Param Text(absl::string_view text);
  static Param Bytes(absl::string_view bytes);
  static Param Int(int64_t value);

  unsigned int type() const { return type_; }
  const std::string& value() const { return value_; }

 private:
  Param(unsigned int type, std::string value) : type_(type), value_(std::move(value)) {}
  unsigned int type_;
  std::string value_;
};

// The rows of one statement, all columns in binary format.
class Result {
 public:
  explicit Result(pg_result* result) : result_(result) {}
  ~Result();
  Result(Result&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  Result& operator=(Result&& other) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const;
  // Rows an INSERT/UPDATE/DELETE touched.
  int64_t affected() const;
  bool IsNull(int row, int column) const;
  // A BIGINT, INTEGER, SMALLINT or BOOLEAN column (0 when NULL).
  int64_t Int(int row, int column) const;
  // A TEXT or BYTEA column's bytes ("" when NULL).
  std::string Bytes(int row, int column) const;
  std::string Text(int row, int column) const { return Bytes(row, column); }

 private:
  pg_result* result_;
};

struct ConnectOptions {
  // A "postgresql://" URI (or any libpq connection string); its own settings win over
  // the defaults below.
  std::string uri;
  // Shown in pg_stat_activity.
  std::string application_name = "sanhak";
  absl::Duration connect_timeout = absl::Seconds(5);
  // TCP keepalives, so a peer that vanished (node lost, network cut) is noticed within
  // about idle + interval * count instead of hours.
  absl::Duration keepalives_idle = absl::Seconds(10);
  absl::Duration keepalives_interval = absl::Seconds(5);
  int keepalives_count = 3;
};

// One connection. Not thread-safe: a connection serves one thread at a time.
class Connection {
 public:
  // UNAVAILABLE when the server cannot be reached or refuses the connection.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ConnectOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql` (one or more statements, no parameters) as a simple query.
  absl::Status Exec(absl::string_view sql);
  // COMMIT of the open transaction. ABORTED when the server rolled it back instead (it
  // answers a COMMIT of a failed transaction with ROLLBACK, not an error); UNAVAILABLE
  // when the connection was lost, and then whether it committed is unknown.
  absl::Status Commit();
  // Runs one statement with $1.. parameters; prepared once per connection and reused.
  absl::StatusOr<Result> Query(absl::string_view sql, const std::vector<Param>& params = {});
  absl::StatusOr<Result> Query(absl::string_view sql, std::initializer_list<Param> params) {
    return Query(sql, std::vector<Param>(params));
  }
  // Query, for statements whose rows do not matter.
  absl::Status Run(absl::string_view sql, std::initializer_list<Param> params) {
    return Query(sql, std::vector<Param>(params)).status();
  }

  // Waits up to `timeout` for notifications of the channels this connection LISTENs to,
  // and returns how many arrived (0 on timeout); UNAVAILABLE once the connection is lost.
  absl::StatusOr<int> WaitForNotifications(absl::Duration timeout);

  // False once the connection is lost (libpq noticed on the last call): it can only be
  // dropped and a new one opened.
  bool healthy() const;
  pg_conn* raw() { return conn_; }

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  absl::Status StatusOf(pg_result* result, absl::string_view what);

  pg_conn* conn_;
  // sql -> prepared statement name.
  absl::flat_hash_map<std::string, std::string> prepared_;
};

// True for failures after which the whole transaction may run again and likely succeed
// (serialization failure, deadlock): ErrorStatus marks them.
bool IsRetryable(const absl::Status& status);

// The status of a failed call on `conn`, `result` its result (may be null). `what` says
// which call, for the message.
absl::Status ErrorStatus(pg_conn* conn, pg_result* result, absl::string_view what);

// The status for a SQLSTATE and message (exposed for tests of the mapping).
absl::Status StatusForSqlState(absl::string_view sqlstate, absl::string_view message);

}  // namespace sanhak::pg

#endif  // SANHAK_COMMON_POSTGRES_H_
