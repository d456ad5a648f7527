#include "common/sqlite.h"

#include "absl/strings/str_cat.h"

namespace sanhak::sqlite {

absl::Status ErrorStatus(sqlite3* db, int rc, absl::string_view what) {
  std::string message =
      absl::StrCat(what, ": ", db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_CONSTRAINT:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::Bind(int index, absl::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindBlob(int index, absl::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return ErrorStatus(sqlite3_db_handle(stmt_), rc, "step");
}

absl::Status Statement::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  return text == nullptr ? std::string()
                         : std::string(reinterpret_cast<const char*>(text),
                                       sqlite3_column_bytes(stmt_, column));
}

std::string Statement::Blob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  return blob == nullptr ? std::string()
                         : std::string(static_cast<const char*>(blob),
                                       sqlite3_column_bytes(stmt_, column));
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& path) {
  // Debian's SQLite keeps memory statistics (SQLITE_DEFAULT_MEMSTATUS) and is built
  // without lookaside, so every allocation of every statement step took one process-wide
  // mutex: the reader connections, each on its own thread, contended on it on every row.
  // Nothing here reads the statistics. Only possible before SQLite initializes (the first
  // open); later it is refused (SQLITE_MISUSE) and changes nothing.
  static const bool no_memstatus = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)no_memstatus;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = ErrorStatus(db, rc, absl::StrCat("open ", path));
    sqlite3_close(db);
    return absl::UnavailableError(status.message());
  }
  std::unique_ptr<Connection> conn(new Connection(db));
  // WAL: readers never block the writer. synchronous=FULL: fsync on every commit, so an
  // acknowledged write survives kill -9 and power loss. busy_timeout: a second process
  // (the importer, sqlite3 CLI) waits instead of failing at once; it comes first because
  // switching a fresh file to WAL takes a lock another opener may be holding.
  for (const char* pragma :
       {"PRAGMA busy_timeout=5000", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
        "PRAGMA foreign_keys=ON"}) {
    absl::Status status = conn->Exec(pragma);
    // When two connections switch a fresh file to WAL at once, SQLite answers BUSY
    // without calling the busy handler (waiting could deadlock), so retry for as long as
    // busy_timeout would have waited.
    for (int attempt = 0; absl::IsUnavailable(status) && attempt < 500; ++attempt) {
      sqlite3_sleep(10);
      status = conn->Exec(pragma);
    }
    if (!status.ok()) return status;
  }
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

absl::Status Connection::Exec(absl::string_view sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    return ErrorStatus(nullptr, rc, absl::StrCat(sql.substr(0, 40), ": ", message));
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Connection::Prepare(absl::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Statement(it->second);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return ErrorStatus(db_, rc, absl::StrCat("prepare ", sql));
  cache_.emplace(std::string(sql), stmt);
  return Statement(stmt);
}

namespace {

absl::StatusOr<int64_t> UserVersion(Connection& db) {
  absl::StatusOr<Statement> version = db.Prepare("PRAGMA user_version");
  if (!version.ok()) return version.status();
  absl::StatusOr<bool> row = version->Step();
  if (!row.ok()) return row.status();
  return version->Int(0);
}

}  // namespace

absl::Status Migrate(Connection& db, const std::vector<std::string>& migrations) {
  const int64_t target = static_cast<int64_t>(migrations.size());
  while (true) {
    absl::StatusOr<int64_t> current = UserVersion(db);
    if (!current.ok()) return current.status();
    if (*current > target) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema version ", *current, " is newer than this binary's ", target));
    }
    if (*current == target) return absl::OkStatus();
    // Checked again under the write lock: another process opening the same fresh file
    // may have applied this migration meanwhile, and applying it twice fails.
    absl::Status status = db.Exec("BEGIN IMMEDIATE");
    if (!status.ok()) return status;
    absl::StatusOr<int64_t> locked = UserVersion(db);
    if (!locked.ok() || *locked != *current) {
      db.Exec("ROLLBACK").IgnoreError();
      if (!locked.ok()) return locked.status();
      continue;
    }
    status = db.Exec(absl::StrCat(migrations[*current], ";PRAGMA user_version=",
                                  *current + 1, ";COMMIT"));
    if (!status.ok()) {
      db.Exec("ROLLBACK").IgnoreError();
      return status;
    }
  }
}

}  // namespace sanhak::sqlite
