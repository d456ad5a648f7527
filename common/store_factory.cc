#include "common/store_factory.h"

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
  // scheme://user:password@host/...: the password is between the first ':' after the
  // scheme and the '@' that ends the user info.
  size_t start = database.find("://") + 3;
  size_t at = database.find('@', start);
  size_t slash = database.find('/', start);
  if (at == absl::string_view::npos || (slash != absl::string_view::npos && slash < at)) {
    return std::string(database);
  }
  size_t colon = database.find(':', start);
  if (colon == absl::string_view::npos || colon > at) return std::string(database);
  return absl::StrCat(database.substr(0, colon + 1), "***", database.substr(at));
}

absl::StatusOr<std::unique_ptr<ResourceStore>> OpenResourceStore(const StoreOptions& options) {
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
