// The embedded ResourceStore: one SQLite file in WAL mode. One writer connection
// (transactions are serialized, as SQLite requires) and a pool of reader connections, so
// reads run in parallel with each other and with the writer.
#ifndef SANHAK_COMMON_SQLITE_RESOURCE_STORE_H_
#define SANHAK_COMMON_SQLITE_RESOURCE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/resource_store.h"
#include "common/sqlite.h"

namespace sanhak::store {

struct SqliteStoreOptions {
  // Database file; created with its schema when missing.
  std::string path;
  // Reader connections kept open at most.
  int max_readers = 8;
};

class SqliteResourceStore : public ResourceStore {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteResourceStore>> Open(
      const SqliteStoreOptions& options);

  absl::Status Read(absl::FunctionRef<absl::Status(ReadView&)> fn) override;
  absl::Status Write(absl::FunctionRef<absl::Status(WriteTransaction&)> fn) override;
  absl::Status Ping() override;

 private:
  explicit SqliteResourceStore(const SqliteStoreOptions& options) : options_(options) {}
  absl::StatusOr<std::unique_ptr<sqlite::Connection>> AcquireReader();
  void ReleaseReader(std::unique_ptr<sqlite::Connection> conn);

  const SqliteStoreOptions options_;
  absl::Mutex writer_mu_;
  std::unique_ptr<sqlite::Connection> writer_ ABSL_GUARDED_BY(writer_mu_);
  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<sqlite::Connection>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
  int open_readers_ ABSL_GUARDED_BY(readers_mu_) = 0;
};

// The schema, one migration per entry (exposed for the migration test).
const std::vector<std::string>& ResourceStoreMigrations();

}  // namespace sanhak::store

#endif  // SANHAK_COMMON_SQLITE_RESOURCE_STORE_H_
