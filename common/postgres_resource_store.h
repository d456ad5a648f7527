// The ResourceStore for clusters: one PostgreSQL database that any number of replicas of
// a service share.
//
// Writes are group-committed by one committer thread per process, as in the SQLite store,
// and each batch's transaction first takes a transaction-scoped advisory lock that every
// replica's batches take: write transactions are serialized across the whole cluster, so
// etag checks, request_id lookups and the revision and outbox counters see every earlier
// commit (no lost update; revisions and outbox sequences gap-free and in commit order,
// which the relay relies on). Reads run on a pool of reader connections, each in a
// REPEATABLE READ READ ONLY transaction (one snapshot per Read).
//
// Failures: a serialization failure or deadlock reruns the batch inside the store (a
// WriteFn may so run more than once; only the committed run counts). A lost connection
// fails the batch UNAVAILABLE (when the COMMIT itself was cut off, whether it committed is
// unknown: callers retry with a request_id) and the connection is made again on next use,
// so reads and writes succeed again once the server is back.
#ifndef SANHAK_COMMON_POSTGRES_RESOURCE_STORE_H_
#define SANHAK_COMMON_POSTGRES_RESOURCE_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/group_commit.h"
#include "common/postgres.h"
#include "common/resource_store.h"

namespace sanhak::store {

struct PostgresStoreOptions {
  // A "postgresql://" URI; the database must exist (the schema is created in it).
  std::string uri;
  // Names the change records every write appends to the outbox ("registry", "events")
  // and the relay lease; empty writes none.
  std::string service;
  // Reader connections kept open at most.
  int max_readers = 8;
  // Writes queued for the committer at most; beyond it a write is refused at once with
  // RESOURCE_EXHAUSTED (see WriteAsync).
  int max_queued_writes = 4096;
  // Runs of one batch at most when it keeps failing retryably (serialization failure,
  // deadlock, a connection found dead before anything was sent).
  int max_attempts = 5;
  absl::Duration connect_timeout = absl::Seconds(5);
};

class PostgresResourceStore : public ResourceStore {
 public:
  // Connects, then brings the schema up to date (UNAVAILABLE when the server cannot be
  // reached, FAILED_PRECONDITION when its schema is newer than this binary's).
  static absl::StatusOr<std::unique_ptr<PostgresResourceStore>> Open(
      const PostgresStoreOptions& options);

  // Stops the committer after the writes already queued are committed; closing the
  // lease connection hands the relay lease to another replica.
  ~PostgresResourceStore() override;

  absl::Status Read(absl::FunctionRef<absl::Status(ReadView&)> fn) override;
  void WriteAsync(WriteFn fn, WriteDone done) override;
  absl::Status Ping() override;
  absl::StatusOr<std::vector<OutboxEntry>> ReadOutbox(int limit) override;
  absl::Status AckOutbox(int64_t up_to_sequence) override;
  absl::StatusOr<int64_t> OutboxBacklog() override;
  void SetCommitListener(std::function<void()> listener) override;
  absl::StatusOr<AuditPage> ListAudit(const AuditQuery& query) override;
  // A session advisory lock per service on a connection of its own: held while that
  // connection lives. Each call checks the connection (one round trip); a dead one means
  // the lease is lost, and the next call tries to take it again.
  absl::StatusOr<bool> HoldsRelayLease() override;
  // The committed `revision` counter (every Put, Delete and Reindex of any replica
  // advances it, in the same transaction): a single-row read on a reader connection,
  // shared by the callers that arrive while one runs.
  int64_t generation() override;

 private:
  using PendingWrite = GroupCommitQueue::PendingWrite;
  static constexpr size_t kMaxBatch = 256;

  explicit PostgresResourceStore(const PostgresStoreOptions& options);
  absl::StatusOr<std::unique_ptr<pg::Connection>> Connect() const;
  absl::StatusOr<std::unique_ptr<pg::Connection>> AcquireReader();
  // One read of the revision counter for generation(); -1 when it fails.
  int64_t ReadGeneration();
  void ReleaseReader(std::unique_ptr<pg::Connection> conn);
  void DropIdleReaders();
  // Runs `batch` in one transaction (retrying it as the class comment says), setting
  // each write's result; returns the change records committed.
  int RunBatch(std::vector<PendingWrite>& batch);
  // One run of `batch`: OK when committed (each write's result set), else the status
  // that failed the whole batch. `sent_commit` tells whether COMMIT was sent.
  absl::Status TryBatch(std::vector<PendingWrite>& batch, int& changes, bool& sent_commit);

  const PostgresStoreOptions options_;
  // Used only by the committer thread; null after a lost connection until remade.
  std::unique_ptr<pg::Connection> writer_;
  GroupCommitQueue commits_;
  // generation()'s shared reads: how many started and finished, whether one runs now,
  // and the last one's value.
  absl::Mutex generation_mu_;
  int64_t generation_reads_started_ ABSL_GUARDED_BY(generation_mu_) = 0;
  int64_t generation_reads_finished_ ABSL_GUARDED_BY(generation_mu_) = 0;
  bool generation_read_running_ ABSL_GUARDED_BY(generation_mu_) = false;
  int64_t last_generation_ ABSL_GUARDED_BY(generation_mu_) = -1;
  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<pg::Connection>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
  int open_readers_ ABSL_GUARDED_BY(readers_mu_) = 0;
  // Wakes this process's commit listener when another replica commits change records
  // (each batch with changes NOTIFYs channel_), so the replica holding the relay lease
  // relays them at once rather than at its next poll.
  void ListenLoop();
  std::string channel_;
  std::atomic<bool> listen_stop_{false};
  std::thread listener_thread_;
  absl::Mutex lease_mu_;
  std::unique_ptr<pg::Connection> lease_conn_ ABSL_GUARDED_BY(lease_mu_);
  bool lease_held_ ABSL_GUARDED_BY(lease_mu_) = false;
};

// The schema, one migration per entry (exposed for migration tests).
const std::vector<std::string>& PostgresResourceStoreMigrations();

// Applies the migrations not yet applied to the database `conn` is on, under a session
// advisory lock (replicas starting together apply each once); FAILED_PRECONDITION when
// the database's schema is newer than `migrations`.
absl::Status MigratePostgres(pg::Connection& conn, const std::vector<std::string>& migrations);

}  // namespace sanhak::store

#endif  // SANHAK_COMMON_POSTGRES_RESOURCE_STORE_H_
