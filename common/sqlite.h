// A thin RAII layer over the SQLite C API: connections opened in WAL mode with the
// pragmas durability needs, cached prepared statements, and errors as absl::Status.
#ifndef SANHAK_COMMON_SQLITE_H_
#define SANHAK_COMMON_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sanhak::sqlite {

// A prepared statement borrowed from a connection's cache; Reset() on destruction so the
// next borrower starts clean.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement();
  Statement(Statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based as in SQLite.
  Statement& Bind(int index, absl::string_view text);
  Statement& BindBlob(int index, absl::string_view bytes);
  Statement& Bind(int index, int64_t value);

  // Steps once: true with a row, false when done.
  absl::StatusOr<bool> Step();
  // Steps to the end, for statements without rows.
  absl::Status Run();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;

 private:
  sqlite3_stmt* stmt_;
};

// One connection. Not thread-safe: a connection serves one thread at a time.
class Connection {
 public:
  // Opens (creating if needed) `path` in WAL mode with synchronous=FULL, so a committed
  // transaction survives a process crash and a power cut.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path);
  ~Connection();

  absl::Status Exec(absl::string_view sql);
  // Returns a cached prepared statement for `sql`.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  sqlite3* raw() { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> cache_;
};

// The error of the last call on `db`, as a Status: busy/locked become UNAVAILABLE (retry
// later), constraint violations FAILED_PRECONDITION, everything else INTERNAL.
absl::Status ErrorStatus(sqlite3* db, int rc, absl::string_view what);

// Applies the migrations whose index is at or above the database's user_version, each in
// its own transaction, and advances user_version. Migrations are append-only: a released
// migration is never edited.
absl::Status Migrate(Connection& db, const std::vector<std::string>& migrations);

}  // namespace sanhak::sqlite

#endif  // SANHAK_COMMON_SQLITE_H_
