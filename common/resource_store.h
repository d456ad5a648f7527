// Storage for a service's resources: each resource is a serialized protobuf message under
// its resource name, plus index entries (key, value) that List filters on and a search
// text that text queries match. Every write runs in one transaction.
//
// This is the seam for the PostgreSQL backend that clusters will use; SQLite
// (sqlite_resource_store.h) is the embedded default.
#ifndef SANHAK_COMMON_RESOURCE_STORE_H_
#define SANHAK_COMMON_RESOURCE_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sanhak::store {

struct Resource {
  // Full resource name, e.g. "councils/smart-green-mobility"; unique across collections.
  std::string name;
  // "councils", "memberships", ...
  std::string collection;
  // The serialized message, output-only fields cleared.
  std::string data;
  // Full name of the message type of `data`, e.g. "sanhak.registry.v1.Council"; change
  // records carry the state as an Any of this type.
  std::string type;
  // Set by the store: a number from one sequence shared by every write, so it never
  // repeats for a name even across delete and re-create (etags derive from it).
  int64_t revision = 0;
  absl::Time create_time;
  absl::Time update_time;
};

struct IndexEntry {
  std::string key;
  std::string value;
  friend bool operator==(const IndexEntry& a, const IndexEntry& b) {
    return a.key == b.key && a.value == b.value;
  }
};

struct ListQuery {
  std::string collection;
  // Every entry must be present on a resource for it to match.
  std::vector<IndexEntry> all_of;
  // Substring of the resource's search text (already normalized by the caller).
  std::string text;
  // Keyset pagination: only names after this one, in name order.
  std::string after_name;
  int limit = 50;
  // Count every matching row into ListResult::total. A walk over all matches (pages of
  // ForEachMatching) needs no count: one per page made a walk cost O(matches^2 / limit).
  bool count_total = true;
  // Read at most this many candidates of the first index filter (or of the collection),
  // in name order, whatever the other filters and the text then keep; 0: no bound. A
  // page that reaches it before `limit` matches ends there, with `more` and the last
  // candidate read as ListResult::resume_after. So a filter that matches few of many
  // candidates costs bounded work per page instead of a scan of them all.
  int scan_limit = 0;
};

// The candidates one page of a caller's List reads at most (ListQuery::scan_limit, and
// the crud layer's own filters): a sparse filter then returns fewer than page_size
// resources, or none, with a next page token (AIP-158), never a scan of every row.
inline constexpr int kScannedCandidates = 1000;

// A count that a kept count cannot answer (more than one index filter, or text) reads at
// most this many candidates of the first index filter (or of the collection), in name
// order: exact when there are no more, else the kept count of the candidates scaled by
// the share of them that match (total_size may be an estimate, AIP-158). So no count, and
// no page that carries one, reads more rows than this, however many match.
inline constexpr int kCountedCandidates = 1000;

struct ListResult {
  std::vector<Resource> resources;
  // More rows follow the last one returned.
  bool more = false;
  // Where the next page starts (its ListQuery::after_name) when `more`: the last
  // resource returned, or the last candidate read when ListQuery::scan_limit ended the
  // page first.
  std::string resume_after;
  // Rows matching the query's filters, regardless of pagination (an estimate beyond
  // kCountedCandidates candidates, see there); 0 unless ListQuery::count_total.
  int64_t total = 0;
};

// One entry of the audit trail: a write (create, update, delete, undelete) as it was
// accepted or refused, and by whom. An entry is not a resource and not a change: no read
// view lists it and appending one writes no change record.
struct AuditEntry {
  // Set by the store: ascending in the order entries were appended, never reused.
  int64_t sequence = 0;
  absl::Time time;
  // The caller as common/caller.h has it: principal, role name, how it authenticated.
  std::string principal;
  std::string role;
  std::string authenticated_by;
  // The RPC's short name, e.g. "UpdateCouncil".
  std::string method;
  // The resource written or named by the request ("councils/a"; the parent for a create
  // whose name is not known yet).
  std::string resource;
  std::string request_id;
  // The W3C trace the write was asked under (common/trace_context.h), for the audit log
  // file's line only: the store does not keep it.
  std::string trace_id;
  // The outcome: a google.rpc.Code (0 = OK) and, when refused, a short message.
  int code = 0;
  std::string message;
  // The field paths the write changed (an update's mask, a create's set fields).
  std::vector<std::string> fields;
  // Checked only (AIP-163): nothing was or would have been kept.
  bool validate_only = false;
};

// Which audit entries to list: every filter set must match. Keyset pages by sequence.
struct AuditQuery {
  std::string principal;
  std::string resource;
  // [start_time, end_time).
  absl::Time start_time = absl::InfinitePast();
  absl::Time end_time = absl::InfiniteFuture();
  // Only entries after this sequence, in sequence order.
  int64_t after_sequence = 0;
  int limit = 100;
};

struct AuditPage {
  std::vector<AuditEntry> entries;
  // More entries match after the last one returned.
  bool more = false;
};

// A request already answered, for idempotent retries.
struct RecordedRequest {
  std::string fingerprint;
  std::string response;
};

class ReadView {
 public:
  virtual ~ReadView() = default;
  virtual absl::StatusOr<std::optional<Resource>> Get(absl::string_view name) = 0;
  virtual absl::StatusOr<ListResult> List(const ListQuery& query) = 0;
  // How many resources of `collection` carry every entry of `all_of`.
  virtual absl::StatusOr<int64_t> Count(absl::string_view collection,
                                        const std::vector<IndexEntry>& all_of) = 0;
  // For each of `values` (in that order), how many resources of `collection` carry
  // {key, value} and every entry of `all_of`. A page rendering a count per resource asks
  // once for the page: on PostgreSQL one statement instead of one round trip each. This
  // default asks Count for each value (in-process SQLite answers each from its index).
  virtual absl::StatusOr<std::vector<int64_t>> CountEach(absl::string_view collection,
                                                         absl::string_view key,
                                                         const std::vector<std::string>& values,
                                                         const std::vector<IndexEntry>& all_of);
};

// What a store keeps as text (a resource's name, collection and type, its index keys and
// values, its search text) must be valid UTF-8 without NUL: INVALID_ARGUMENT naming the
// part otherwise. Both engines refuse alike: PostgreSQL cannot hold such text, and SQLite,
// which could, would then keep what a replica on PostgreSQL refuses. The services' own
// checks refuse such input first (common/validation.h); this keeps the store's contract.
absl::Status CheckStorableText(absl::string_view name, absl::string_view collection,
                               absl::string_view type, const std::vector<IndexEntry>& index,
                               absl::string_view search_text);

class WriteTransaction : public virtual ReadView {
 public:
  // Inserts or replaces `resource` with its index and search text. Sets revision and
  // times (create_time is kept on replace) and returns the stored resource.
  virtual absl::StatusOr<Resource> Put(Resource resource,
                                       const std::vector<IndexEntry>& index,
                                       absl::string_view search_text) = 0;
  // Replaces only the index and search text; the resource and its revision stay.
  virtual absl::Status Reindex(absl::string_view name, const std::vector<IndexEntry>& index,
                               absl::string_view search_text) = 0;
  // NOT_FOUND when absent.
  virtual absl::Status Delete(absl::string_view name) = 0;

  virtual absl::StatusOr<std::optional<RecordedRequest>> FindRequest(
      absl::string_view request_id) = 0;
  virtual absl::Status RecordRequest(absl::string_view request_id,
                                     absl::string_view fingerprint,
                                     absl::string_view response) = 0;

  // Import marks: per resource name, the revision an import (crud::ImportAll) last left
  // there. They let the next import tell a record still as the import left it (its
  // revision equals the mark) from one the API changed (another revision), deleted (a
  // mark, no resource) or never imported (no mark). Revisions never repeat, so a record
  // deleted and created again under the same name never matches its old mark.
  //
  // A mark is not a resource: no read view lists it, setting one appends no change
  // record, and Put and Delete leave marks alone (a deleted record's mark stays, which is
  // how it is told from a record that never existed). Marks are written and rolled back
  // with the transaction like everything else in it, and are kept across restarts.
  //
  // The mark of `name`; nullopt when no import has marked it.
  virtual absl::StatusOr<std::optional<int64_t>> GetImportMark(absl::string_view name) = 0;
  // Sets (inserts or replaces) the mark of `name`, whether or not `name` exists.
  virtual absl::Status SetImportMark(absl::string_view name, int64_t revision) = 0;

  // Appends `entry` (its sequence is the store's) to the audit trail, in this
  // transaction: it is kept iff the transaction commits. The way an accepted write's
  // entry is tied to the write (common/audit_log.h).
  virtual absl::Status AppendAudit(const AuditEntry& entry) = 0;
};

// A change record waiting in the outbox to be relayed.
struct OutboxEntry {
  int64_t sequence;
  // A serialized sanhak.changes.v1.ChangeRecord.
  std::string record;
};

// The work of one write, run inside the store's transaction. It may run more than once:
// on a transient failure (PostgreSQL's serialization failure or deadlock, or a connection
// found dead before the commit was sent) the store rolls the whole batch back and runs its
// writes again, and only the run that commits counts. So the work must have no effects
// outside `tx` that a rerun would not overwrite (assigning a result is fine; appending to
// a list, counting or sending is not).
using WriteFn = absl::AnyInvocable<absl::Status(WriteTransaction&)>;
// Told the write's outcome once, after the commit (fsync) that holds it, or at once when
// the write was refused before it ran. Runs on the store's own thread: it must not block.
using WriteDone = absl::AnyInvocable<void(absl::Status)>;

// Where a write goes: the store itself, or something in front of it that adds to each
// write (crud::AuditedWrite appends the write's audit entry to its transaction).
class AsyncWriter {
 public:
  virtual ~AsyncWriter() = default;
  // See ResourceStore::WriteAsync.
  virtual void WriteAsync(WriteFn fn, WriteDone done) = 0;
};

class ResourceStore : public AsyncWriter {
 public:
  ~ResourceStore() override = default;
  // Runs `fn` on a consistent snapshot.
  virtual absl::Status Read(absl::FunctionRef<absl::Status(ReadView&)> fn) = 0;
  // Queues `fn` to run in one transaction, committed (durably) iff `fn` returns OK, and
  // returns at once; `done` gets `fn`'s status once the commit holding it is on disk (or
  // the commit's failure). Transactions are serialized. When the queue of writes is at
  // its bound, `done` gets RESOURCE_EXHAUSTED (with RetryInfo) at once and `fn` never runs.
  // This is what request handlers use: no thread waits for a commit.
  void WriteAsync(WriteFn fn, WriteDone done) override = 0;
  // WriteAsync, waiting for the outcome: for start-up work (imports) and tests, never a
  // request handler.
  absl::Status Write(absl::FunctionRef<absl::Status(WriteTransaction&)> fn);
  // OK while the store can serve reads and writes.
  virtual absl::Status Ping() = 0;

  // A number that changes whenever a write commits, for caches of reads: equal
  // generations mean nothing was written in between, by this process or any other, and
  // a value read now includes every commit acknowledged before the call. On an engine
  // that other processes write, it is read from the database (a round trip, still
  // cheaper than a read transaction). -1 when the backend cannot tell (or cannot be
  // reached): then nothing may be cached.
  virtual int64_t generation() { return -1; }

  // The outbox: every Put and Delete appends a change record in its own transaction.
  // The oldest `limit` records, in sequence order.
  virtual absl::StatusOr<std::vector<OutboxEntry>> ReadOutbox(int limit) = 0;
  // Drops the records up to and including `up_to_sequence` once they are relayed.
  virtual absl::Status AckOutbox(int64_t up_to_sequence) = 0;
  // Records waiting.
  virtual absl::StatusOr<int64_t> OutboxBacklog() = 0;
  // Called after each commit that appended change records (the relay's wake-up). Must
  // not block.
  virtual void SetCommitListener(std::function<void()> listener) = 0;

  // The audit trail (WriteTransaction::AppendAudit): the entries matching `query`, in
  // sequence order, at most query.limit of them.
  virtual absl::StatusOr<AuditPage> ListAudit(const AuditQuery& query) = 0;

  // Whether this process may relay the outbox now. Several processes (replicas) may
  // share one database, and exactly one at a time relays it, so its records reach the
  // stream once and in sequence order. The first call tries to take the lease; it is held
  // until the process (or its connection to the database) ends, when another process's
  // next call takes it over. Cheap enough to call before every batch.
  virtual absl::StatusOr<bool> HoldsRelayLease() = 0;
};

}  // namespace sanhak::store

#endif  // SANHAK_COMMON_RESOURCE_STORE_H_
