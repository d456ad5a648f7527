// The embedded ResourceStore: one SQLite file in WAL mode. One writer connection
// (transactions are serialized, as SQLite requires) and a pool of reader connections, so
// reads run in parallel with each other and with the writer.
#ifndef SANHAK_COMMON_SQLITE_RESOURCE_STORE_H_
#define SANHAK_COMMON_SQLITE_RESOURCE_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/group_commit.h"
#include "common/resource_store.h"
#include "common/sqlite.h"

namespace sanhak::store {

struct SqliteStoreOptions {
  // Database file; created with its schema when missing.
  std::string path;
  // Names the change records every write appends to the outbox ("registry", "events");
  // empty writes none.
  std::string service;
  // Reader connections kept open at most.
  int max_readers = 8;
  // Writes queued for the committer at most; beyond it a write is refused at once with
  // RESOURCE_EXHAUSTED (see WriteAsync). Bounds the memory that waiting writes hold.
  int max_queued_writes = 4096;
};

class SqliteResourceStore : public ResourceStore {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteResourceStore>> Open(
      const SqliteStoreOptions& options);

  // Stops the committer after the writes already queued are committed.
  ~SqliteResourceStore() override;

  absl::Status Read(absl::FunctionRef<absl::Status(ReadView&)> fn) override;
  void WriteAsync(WriteFn fn, WriteDone done) override;
  absl::Status Ping() override;
  absl::StatusOr<std::vector<OutboxEntry>> ReadOutbox(int limit) override;
  absl::Status AckOutbox(int64_t up_to_sequence) override;
  absl::StatusOr<int64_t> OutboxBacklog() override;
  void SetCommitListener(std::function<void()> listener) override;
  absl::StatusOr<AuditPage> ListAudit(const AuditQuery& query) override;
  // One process writes a file (see generation()), so it is always the relay.
  absl::StatusOr<bool> HoldsRelayLease() override { return true; }
  // Counts this process's commits. Valid because each service is the only writer of its
  // database file (deployments run one writer per file; see deploy/).
  int64_t generation() override { return generation_.load(std::memory_order_acquire); }

 private:
  using PendingWrite = GroupCommitQueue::PendingWrite;
  // At most this many writes share one commit, bounding a batch's latency.
  static constexpr size_t kMaxBatch = 256;

  explicit SqliteResourceStore(const SqliteStoreOptions& options)
      : options_(options), commits_(options.max_queued_writes, kMaxBatch) {}
  absl::StatusOr<std::unique_ptr<sqlite::Connection>> AcquireReader();
  void ReleaseReader(std::unique_ptr<sqlite::Connection> conn);
  // The group commit's runner (on its committer thread): runs `batch` in one
  // transaction, setting each write's result; returns the change records committed.
  int RunBatch(std::vector<PendingWrite>& batch);

  const SqliteStoreOptions options_;
  // Used only by the committer thread.
  std::unique_ptr<sqlite::Connection> writer_;
  GroupCommitQueue commits_;
  std::atomic<int64_t> generation_{0};
  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<sqlite::Connection>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
  int open_readers_ ABSL_GUARDED_BY(readers_mu_) = 0;
};

// The schema, one migration per entry (exposed for the migration test).
const std::vector<std::string>& ResourceStoreMigrations();

}  // namespace sanhak::store

#endif  // SANHAK_COMMON_SQLITE_RESOURCE_STORE_H_
