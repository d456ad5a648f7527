#include "common/store_factory.h"

#include <sched.h>

#include <algorithm>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/postgres_resource_store.h"
#include "common/sqlite_resource_store.h"

namespace sanhak::store {

bool IsPostgresUri(absl::string_view database) {
  return absl::StartsWith(database, "postgresql://") || absl::StartsWith(database, "postgres://");
}

std::string RedactedDatabase(absl::string_view database) {
  if (!IsPostgresUri(database)) return std::string(database);
  std::string out(database);
  // scheme://user:password@host/...: the password runs from the first ':' of the user
  // info to the '@' that ends it.
  const size_t start = out.find("://") + 3;
  const size_t at = out.find('@', start);
  const size_t slash = out.find('/', start);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    const size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // ...?password=...&...: a parameter as libpq reads them.
  for (size_t p = out.find("password="); p != std::string::npos;
       p = out.find("password=", p + 1)) {
    if (p == 0 || (out[p - 1] != '?' && out[p - 1] != '&')) continue;
    const size_t value = p + 9;
    const size_t end = std::min(out.find('&', value), out.size());
    out.replace(value, end - value, "***");
  }
  return out;
}

namespace {

// The cores this process may run on (its CPU affinity, which a container's cpuset
// narrows), else the machine's.
int UsableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ResourceStore>> OpenResourceStore(const StoreOptions& given) {
  StoreOptions options = given;
  if (options.max_readers <= 0) {
    // A SQLite reader is a file handle; a PostgreSQL reader a server connection, of which
    // the server allows a fixed number for every replica together.
    options.max_readers =
        std::max(8, IsPostgresUri(options.database) ? UsableCores() : 2 * UsableCores());
  }
  if (IsPostgresUri(options.database)) {
    PostgresStoreOptions postgres;
    postgres.uri = options.database;
    postgres.service = options.service;
    postgres.max_readers = options.max_readers;
    postgres.max_queued_writes = options.max_queued_writes;
    absl::StatusOr<std::unique_ptr<PostgresResourceStore>> store =
        PostgresResourceStore::Open(postgres);
    if (!store.ok()) return store.status();
    return std::unique_ptr<ResourceStore>(*std::move(store));
  }
  absl::StatusOr<std::unique_ptr<SqliteResourceStore>> sqlite = SqliteResourceStore::Open(
      {options.database, options.service, options.max_readers, options.max_queued_writes});
  if (!sqlite.ok()) return sqlite.status();
  return std::unique_ptr<ResourceStore>(*std::move(sqlite));
}

}  // namespace sanhak::store
