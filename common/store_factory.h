// Opens the store a --db setting names: a PostgreSQL connection URI
// ("postgresql://..." or "postgres://...", the engine for clusters, which several
// replicas share) or else a SQLite file path (the embedded default, one process per file).
#ifndef SANHAK_COMMON_STORE_FACTORY_H_
#define SANHAK_COMMON_STORE_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/resource_store.h"

namespace sanhak::store {

struct StoreOptions {
  // A PostgreSQL URI or a SQLite file path (see above).
  std::string database;
  // Names the change records every write appends to the outbox; empty writes none.
  std::string service;
  // Reader connections kept open at most (reads running at once); 0: as many as the
  // cores this process may use (twice as many with SQLite), at least 8, so reads can use
  // every core a replica is given. With PostgreSQL a replica holds these plus three
  // connections (the committer, the relay lease, the commit listener).
  int max_readers = 0;
  // Writes queued at most before one is refused with RESOURCE_EXHAUSTED.
  int max_queued_writes = 4096;
};

// True when `database` is a PostgreSQL connection URI.
bool IsPostgresUri(absl::string_view database);

// The database with its password (if the URI holds one) replaced by "***", for logs.
std::string RedactedDatabase(absl::string_view database);

absl::StatusOr<std::unique_ptr<ResourceStore>> OpenResourceStore(const StoreOptions& options);

}  // namespace sanhak::store

#endif  // SANHAK_COMMON_STORE_FACTORY_H_
