#include "common/postgres.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace sanhak::pg {
namespace {

// Type OIDs (pg_type.dat); stable across server versions.
constexpr unsigned int kBoolOid = 16;
constexpr unsigned int kByteaOid = 17;
constexpr unsigned int kInt8Oid = 20;
constexpr unsigned int kTextOid = 25;

// Marks a status whose transaction may run again (IsRetryable).
constexpr char kRetryablePayload[] = "type.sanhak.dev/pg.Retryable";

uint64_t LoadBigEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

std::string Seconds(absl::Duration d) {
  return absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
}

}  // namespace

Param Param::Text(absl::string_view text) { return Param(kTextOid, std::string(text)); }

Param Param::Bytes(absl::string_view bytes) { return Param(kByteaOid, std::string(bytes)); }

Param Param::Int(int64_t value) {
  std::string bytes(8, '\0');
  const uint64_t bits = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(bits >> (56 - 8 * i));
  return Param(kInt8Oid, std::move(bytes));
}

Result::~Result() {
  if (result_ != nullptr) PQclear(result_);
}

Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

int Result::rows() const { return result_ == nullptr ? 0 : PQntuples(result_); }

int64_t Result::affected() const {
  if (result_ == nullptr) return 0;
  const char* tuples = PQcmdTuples(result_);
  if (tuples == nullptr || *tuples == '\0') return 0;
  return std::strtoll(tuples, nullptr, 10);
}

bool Result::IsNull(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

int64_t Result::Int(int row, int column) const {
  if (IsNull(row, column)) return 0;
  const char* value = PQgetvalue(result_, row, column);
  switch (PQgetlength(result_, row, column)) {
    case 8:
      return static_cast<int64_t>(LoadBigEndian(value, 8));
    case 4:
      return static_cast<int32_t>(LoadBigEndian(value, 4));
    case 2:
      return static_cast<int16_t>(LoadBigEndian(value, 2));
    case 1:
      return static_cast<unsigned char>(value[0]);
    default:
      return 0;
  }
}

std::string Result::Bytes(int row, int column) const {
  if (IsNull(row, column)) return std::string();
  return std::string(PQgetvalue(result_, row, column), PQgetlength(result_, row, column));
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectOptions& options) {
  // Processed in order, later values winning: the defaults first, then the URI (expanded
  // because expand_dbname is set), so an operator's URI settings override ours.
  const std::string connect_timeout = Seconds(options.connect_timeout);
  const std::string idle = Seconds(options.keepalives_idle);
  const std::string interval = Seconds(options.keepalives_interval);
  const std::string count = absl::StrCat(options.keepalives_count);
  // Unacknowledged data on a dead connection times out too (milliseconds).
  const std::string user_timeout =
      absl::StrCat(absl::ToInt64Milliseconds(options.keepalives_idle +
                                             options.keepalives_interval *
                                                 options.keepalives_count));
  const char* keywords[] = {"application_name", "connect_timeout",     "keepalives",
                            "keepalives_idle",  "keepalives_interval", "keepalives_count",
                            "tcp_user_timeout", "dbname",              nullptr};
  const char* values[] = {options.application_name.c_str(),
                          connect_timeout.c_str(),
                          "1",
                          idle.c_str(),
                          interval.c_str(),
                          count.c_str(),
                          user_timeout.c_str(),
                          options.uri.c_str(),
                          nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message(absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn)));
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", message));
  }
  // Notices ("relation already exists, skipping") are not errors and not for stderr.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

absl::Status Connection::StatusOf(PGresult* result, absl::string_view what) {
  if (result != nullptr) {
    ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return absl::OkStatus();
  }
  return ErrorStatus(conn_, result, what);
}

absl::Status Connection::Exec(absl::string_view sql) {
  PGresult* result = PQexec(conn_, std::string(sql).c_str());
  absl::Status status = StatusOf(result, sql);
  PQclear(result);
  return status;
}

absl::Status Connection::Commit() {
  PGresult* result = PQexec(conn_, "COMMIT");
  absl::Status status = StatusOf(result, "COMMIT");
  if (status.ok() && std::strcmp(PQcmdStatus(result), "COMMIT") != 0) {
    status = absl::AbortedError("PostgreSQL rolled the transaction back instead of committing");
  }
  PQclear(result);
  return status;
}

absl::StatusOr<Result> Connection::Query(absl::string_view sql,
                                         const std::vector<Param>& params) {
  // The parameter types are part of a prepared statement: the key holds them too.
  std::string key(sql);
  for (const Param& p : params) absl::StrAppend(&key, "\x1f", p.type());
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    std::string name = absl::StrCat("s", prepared_.size() + 1);
    std::vector<Oid> types;
    types.reserve(params.size());
    for (const Param& p : params) types.push_back(p.type());
    PGresult* prepared = PQprepare(conn_, name.c_str(), std::string(sql).c_str(),
                                   static_cast<int>(types.size()), types.data());
    absl::Status status = StatusOf(prepared, sql);
    PQclear(prepared);
    if (!status.ok()) return status;
    it = prepared_.emplace(std::move(key), std::move(name)).first;
  }
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats(params.size(), 1);
  values.reserve(params.size());
  lengths.reserve(params.size());
  for (const Param& p : params) {
    values.push_back(p.value().data());
    lengths.push_back(static_cast<int>(p.value().size()));
  }
  PGresult* result =
      PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                     values.data(), lengths.data(), formats.data(), /*resultFormat=*/1);
  absl::Status status = StatusOf(result, sql);
  if (!status.ok()) {
    PQclear(result);
    return status;
  }
  return Result(result);
}

absl::StatusOr<int> Connection::WaitForNotifications(absl::Duration timeout) {
  auto drain = [this]() -> absl::StatusOr<int> {
    if (PQconsumeInput(conn_) == 0) return ErrorStatus(conn_, nullptr, "LISTEN");
    int count = 0;
    while (PGnotify* notify = PQnotifies(conn_)) {
      PQfreemem(notify);
      ++count;
    }
    return count;
  };
  // Some may have arrived with the last command's results.
  absl::StatusOr<int> ready = drain();
  if (!ready.ok() || *ready > 0) return ready;
  pollfd fd{PQsocket(conn_), POLLIN, 0};
  if (fd.fd < 0) return absl::UnavailableError("PostgreSQL connection lost");
  int polled = poll(&fd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (polled <= 0) return 0;
  return drain();
}

bool IsRetryable(const absl::Status& status) {
  return status.GetPayload(kRetryablePayload).has_value();
}

absl::Status StatusForSqlState(absl::string_view sqlstate, absl::string_view message) {
  // Class 08: connection exceptions. 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
  // cannot_connect_now (starting up or shutting down), 53300 too_many_connections.
  if (absl::StartsWith(sqlstate, "08") || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03" || sqlstate == "53300") {
    return absl::UnavailableError(absl::StrCat("PostgreSQL unavailable: ", message));
  }
  if (sqlstate == "40001" || sqlstate == "40P01") {
    absl::Status status = absl::AbortedError(absl::StrCat("PostgreSQL: ", message));
    status.SetPayload(kRetryablePayload, absl::Cord(sqlstate));
    return status;
  }
  // Bytes PostgreSQL cannot hold as text (a NUL, invalid UTF-8): the caller's data, not
  // the store, is at fault.
  if (sqlstate == "22021" || sqlstate == "22P05") {
    return absl::InvalidArgumentError(absl::StrCat("PostgreSQL: ", message));
  }
  if (sqlstate == "23505") return absl::AlreadyExistsError(absl::StrCat("PostgreSQL: ", message));
  return absl::InternalError(absl::StrCat("PostgreSQL error ", sqlstate, ": ", message));
}

absl::Status ErrorStatus(PGconn* conn, PGresult* result, absl::string_view what) {
  const char* sqlstate =
      result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  std::string message(absl::StripTrailingAsciiWhitespace(
      result != nullptr && *PQresultErrorMessage(result) != '\0' ? PQresultErrorMessage(result)
                                                                 : PQerrorMessage(conn)));
  // No SQLSTATE from the server: libpq's own failure, which is a lost connection when
  // the connection is now bad (the server crashed, restarted or the network broke).
  if (sqlstate == nullptr) {
    if (PQstatus(conn) != CONNECTION_OK) {
      return absl::UnavailableError(absl::StrCat("PostgreSQL connection lost: ", message));
    }
    if (result != nullptr && PQresultStatus(result) != PGRES_FATAL_ERROR &&
        PQresultStatus(result) != PGRES_NONFATAL_ERROR) {
      return absl::InternalError(absl::StrCat("PostgreSQL: unexpected result ",
                                              PQresStatus(PQresultStatus(result)), " for ",
                                              what.substr(0, 80)));
    }
    return absl::InternalError(absl::StrCat("PostgreSQL: ", message));
  }
  return StatusForSqlState(sqlstate, message);
}

}  // namespace sanhak::pg
