#include "common/postgres_resource_store.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/change_record.h"
#include "common/overload.h"

namespace sanhak::store {
namespace {

using pg::Param;

// Advisory lock keys (one 64-bit space per database). Every replica's write batch takes
// kWriteLockKey for its transaction; migrations take kMigrationLockKey for the session;
// the relay lease is kRelayLeaseBase plus a hash of the service name.
constexpr int64_t kWriteLockKey = 0x73616e68616b0001;      // "sanhak" 0001
constexpr int64_t kMigrationLockKey = 0x73616e68616b0002;  // "sanhak" 0002
constexpr int64_t kRelayLeaseBase = 0x73616e68616b1000;

int64_t RelayLeaseKey(absl::string_view service) {
  // FNV-1a, folded into 12 bits: a key of its own per service, stable across builds.
  uint64_t hash = 1469598103934665603ull;
  for (char c : service) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return kRelayLeaseBase + static_cast<int64_t>(hash & 0xfff);
}

constexpr char kResourceColumns[] =
    "r.name, r.collection, r.data, r.revision, r.create_time, r.update_time, r.type";

Resource ReadResource(const pg::Result& rows, int row) {
  Resource r;
  r.name = rows.Text(row, 0);
  r.collection = rows.Text(row, 1);
  r.data = rows.Bytes(row, 2);
  r.revision = rows.Int(row, 3);
  r.create_time = absl::FromUnixMicros(rows.Int(row, 4));
  r.update_time = absl::FromUnixMicros(rows.Int(row, 5));
  r.type = rows.Text(row, 6);
  return r;
}

// "FROM ... WHERE ..." for a query's filters, with their parameters appended to
// `params` ($1 the collection). With index filters the scan is driven by the first one's
// index range (ordered by name, so keyset pagination needs no sort); the rest are probed
// per row. Every text column is COLLATE "C": comparisons and order are bytewise, as in
// SQLite.
struct FilterSql {
  std::string from_where;
  std::string name_column;
};

// `first_is_list`: all_of[0].value holds several values joined by kValueSeparator, any of
// which matches (CountEach).
constexpr char kValueSeparator = '\x1f';

// " AND ..." conditions on a row `r` for the index entries of `all_of` from `first` on
// and for `text`, their parameters appended to `params`.
std::string RestSql(const std::vector<IndexEntry>& all_of, size_t first, absl::string_view text,
                    std::vector<Param>& params) {
  std::string out;
  for (size_t i = first; i < all_of.size(); ++i) {
    params.push_back(Param::Text(all_of[i].key));
    params.push_back(Param::Text(all_of[i].value));
    absl::StrAppend(&out, " AND EXISTS (SELECT 1 FROM resource_index i WHERE i.key = $",
                    params.size() - 1, " AND i.value = $", params.size(),
                    " AND i.name = r.name)");
  }
  if (!text.empty()) {
    params.push_back(Param::Text(text));
    absl::StrAppend(&out, " AND strpos(r.search_text, $", params.size(), ") > 0");
  }
  return out;
}

FilterSql MakeFilter(absl::string_view collection, const std::vector<IndexEntry>& all_of,
                     absl::string_view text, std::vector<Param>& params,
                     bool first_is_list = false) {
  FilterSql out;
  params.push_back(Param::Text(collection));
  if (all_of.empty()) {
    out.from_where = " FROM resources r WHERE r.collection = $1";
    out.name_column = "r.name";
  } else {
    // The column's collation ("C") named on the list side too, so the comparison and
    // the index agree on it.
    out.from_where = absl::StrCat(
        " FROM resource_index i0 JOIN resources r ON r.name = i0.name WHERE i0.key = $2 AND ",
        first_is_list ? "i0.value = ANY(string_to_array($3, chr(31)) COLLATE \"C\")"
                      : "i0.value = $3",
        " AND r.collection = $1");
    out.name_column = "i0.name";
    params.push_back(Param::Text(all_of[0].key));
    params.push_back(Param::Text(all_of[0].value));
  }
  absl::StrAppend(&out.from_where, RestSql(all_of, 1, text, params));
  return out;
}

// "(SELECT ...)": the name of the `query.scan_limit`-th candidate of its first index
// filter (or of its collection) after `query.after_name`, in name order; NULL when
// there are fewer. Read from the index alone (entries of other collections under the
// same key and value count too: a bound on entries read, not an exact one). Its
// parameters appended to `params`.
std::string ScanBound(const ListQuery& query, std::vector<Param>& params) {
  std::string sql;
  if (query.all_of.empty()) {
    params.push_back(Param::Text(query.collection));
    sql = absl::StrCat("(SELECT b.name FROM resources b WHERE b.collection = $", params.size());
  } else {
    params.push_back(Param::Text(query.all_of[0].key));
    params.push_back(Param::Text(query.all_of[0].value));
    sql = absl::StrCat("(SELECT b.name FROM resource_index b WHERE b.key = $", params.size() - 1,
                       " AND b.value = $", params.size());
  }
  params.push_back(Param::Text(query.after_name));
  params.push_back(Param::Int(query.scan_limit - 1));
  absl::StrAppend(&sql, " AND b.name > $", params.size() - 1, " ORDER BY b.name OFFSET $",
                  params.size(), " LIMIT 1)");
  return sql;
}

int64_t Micros(absl::Time t) {
  if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
  if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  return absl::ToUnixMicros(t);
}

class PgReadView : public virtual ReadView {
 public:
  explicit PgReadView(pg::Connection* conn) : conn_(conn) {}

  absl::StatusOr<std::optional<Resource>> Get(absl::string_view name) override {
    absl::StatusOr<pg::Result> rows = conn_->Query(
        absl::StrCat("SELECT ", kResourceColumns, " FROM resources r WHERE r.name = $1"),
        {Param::Text(name)});
    if (!rows.ok()) return rows.status();
    if (rows->rows() == 0) return std::nullopt;
    return ReadResource(*rows, 0);
  }

  absl::StatusOr<ListResult> List(const ListQuery& query) override {
    ListResult result;
    std::vector<Param> params;
    const FilterSql filter = MakeFilter(query.collection, query.all_of, query.text, params);
    const size_t filter_params = params.size();
    // Bounded only where filters past the first (or text) may reject candidates: else
    // every candidate read is returned and `limit` bounds the scan already.
    const bool bounded =
        query.scan_limit > 0 && (query.all_of.size() > 1 || !query.text.empty());
    params.push_back(Param::Text(query.after_name));
    params.push_back(Param::Int(static_cast<int64_t>(query.limit) + 1));
    std::string sql =
        absl::StrCat("SELECT ", kResourceColumns, filter.from_where, " AND ", filter.name_column,
                     " > $", filter_params + 1);
    if (bounded) {
      // Only candidates up to the scan_limit-th: the plan stays the unbounded one (an
      // index walk that stops once the page is full), the bound read once beside it.
      // Its parameters numbered after the page's own.
      const std::string bound = ScanBound(query, params);
      sql = absl::StrCat("WITH bound AS MATERIALIZED (SELECT ", bound, " AS u) ", sql, " AND (",
                         filter.name_column, " <= (SELECT u FROM bound) OR",
                         " (SELECT u FROM bound) IS NULL)");
    }
    absl::StrAppend(&sql, " ORDER BY ", filter.name_column, " LIMIT $", filter_params + 2);
    absl::StatusOr<pg::Result> rows = conn_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->rows(); ++i) {
      if (static_cast<int>(result.resources.size()) == query.limit) {
        result.more = true;
        break;
      }
      result.resources.push_back(ReadResource(*rows, i));
    }
    if (result.more) result.resume_after = result.resources.back().name;
    if (bounded && !result.more) {
      // Fewer than a page matched: did the scan stop at its bound, and where?
      std::vector<Param> bound_params;
      absl::StatusOr<pg::Result> bound =
          conn_->Query(absl::StrCat("SELECT ", ScanBound(query, bound_params)), bound_params);
      if (!bound.ok()) return bound.status();
      if (!bound->IsNull(0, 0)) {
        result.more = true;
        result.resume_after = bound->Text(0, 0);
      }
    }
    if (!query.count_total) return result;
    params.erase(params.begin() + filter_params, params.end());
    absl::StatusOr<int64_t> total = CountWhere(filter, params, query.collection, query.all_of, query.text,
                                                 /*estimate=*/true);
    if (!total.ok()) return total.status();
    result.total = *total;
    return result;
  }

  absl::StatusOr<int64_t> Count(absl::string_view collection,
                                const std::vector<IndexEntry>& all_of) override {
    std::vector<Param> params;
    const FilterSql filter = MakeFilter(collection, all_of, "", params);
    return CountWhere(filter, params, collection, all_of, "", /*estimate=*/false);
  }

  absl::StatusOr<std::vector<int64_t>> CountEach(absl::string_view collection,
                                                 absl::string_view key,
                                                 const std::vector<std::string>& values,
                                                 const std::vector<IndexEntry>& all_of) override {
    std::vector<int64_t> counts(values.size(), 0);
    if (values.empty()) return counts;
    for (const std::string& value : values) {
      if (value.empty() || absl::StrContains(value, kValueSeparator)) {
        return ReadView::CountEach(collection, key, values, all_of);
      }
    }
    std::vector<IndexEntry> filter = {{std::string(key), absl::StrJoin(values, std::string(1, kValueSeparator))}};
    filter.insert(filter.end(), all_of.begin(), all_of.end());
    std::vector<Param> params;
    const FilterSql sql = MakeFilter(collection, filter, "", params, /*first_is_list=*/true);
    absl::StatusOr<pg::Result> rows = conn_->Query(
        absl::StrCat("SELECT i0.value, count(*)", sql.from_where, " GROUP BY i0.value"), params);
    if (!rows.ok()) return rows.status();
    absl::flat_hash_map<std::string, int64_t> by_value;
    for (int i = 0; i < rows->rows(); ++i) by_value[rows->Text(i, 0)] = rows->Int(i, 1);
    for (size_t i = 0; i < values.size(); ++i) {
      auto it = by_value.find(values[i]);
      if (it != by_value.end()) counts[i] = it->second;
    }
    return counts;
  }

  absl::StatusOr<AuditPage> ListAudit(const AuditQuery& query) {
    std::vector<Param> params = {Param::Int(query.after_sequence),
                                 Param::Int(Micros(query.start_time)),
                                 Param::Int(Micros(query.end_time))};
    std::string sql =
        "SELECT sequence, time, principal, role, authenticated_by, method, resource,"
        " request_id, code, message, fields, validate_only FROM audit WHERE sequence > $1"
        " AND time >= $2 AND time < $3";
    if (!query.principal.empty()) {
      params.push_back(Param::Text(query.principal));
      absl::StrAppend(&sql, " AND principal = $", params.size());
    }
    if (!query.resource.empty()) {
      params.push_back(Param::Text(query.resource));
      absl::StrAppend(&sql, " AND resource = $", params.size());
    }
    params.push_back(Param::Int(static_cast<int64_t>(query.limit) + 1));
    absl::StrAppend(&sql, " ORDER BY sequence LIMIT $", params.size());
    absl::StatusOr<pg::Result> rows = conn_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    AuditPage page;
    for (int i = 0; i < rows->rows(); ++i) {
      if (static_cast<int>(page.entries.size()) == query.limit) {
        page.more = true;
        break;
      }
      AuditEntry e;
      e.sequence = rows->Int(i, 0);
      e.time = absl::FromUnixMicros(rows->Int(i, 1));
      e.principal = rows->Text(i, 2);
      e.role = rows->Text(i, 3);
      e.authenticated_by = rows->Text(i, 4);
      e.method = rows->Text(i, 5);
      e.resource = rows->Text(i, 6);
      e.request_id = rows->Text(i, 7);
      e.code = static_cast<int>(rows->Int(i, 8));
      e.message = rows->Text(i, 9);
      std::string fields = rows->Text(i, 10);
      if (!fields.empty()) e.fields = absl::StrSplit(fields, ',');
      e.validate_only = rows->Int(i, 11) != 0;
      page.entries.push_back(std::move(e));
    }
    return page;
  }

  pg::Connection* conn() { return conn_; }

  absl::StatusOr<int64_t> CountOutbox() {
    absl::StatusOr<pg::Result> rows = conn_->Query("SELECT count(*) FROM outbox");
    if (!rows.ok()) return rows.status();
    return rows->Int(0, 0);
  }

 protected:
  absl::StatusOr<int64_t> CountWhere(const FilterSql& filter, const std::vector<Param>& params,
                                     absl::string_view collection,
                                     const std::vector<IndexEntry>& all_of,
                                     absl::string_view text, bool estimate) {
    // A whole collection, or one index entry of it: the kept count (migration 4).
    if (text.empty() && all_of.size() <= 1) {
      absl::StatusOr<pg::Result> kept = conn_->Query(
          "SELECT n FROM index_counts WHERE collection = $1 AND key = $2 AND value = $3",
          {Param::Text(collection), Param::Text(all_of.empty() ? "" : all_of[0].key),
           Param::Text(all_of.empty() ? "" : all_of[0].value)});
      if (!kept.ok()) return kept.status();
      const std::string& key = all_of.empty() ? "" : all_of[0].key;
      const std::string& value = all_of.empty() ? "" : all_of[0].value;
      return (kept->rows() == 0 ? 0 : kept->Int(0, 0)) + PendingCount(collection, key, value);
    }
    // Otherwise every match, for a count that must be exact (ReadView::Count); for a
    // list's total, the first kCountedCandidates candidates of the first filter and how
    // many of them match the rest (see there).
    std::vector<Param> sample_params;
    const std::vector<IndexEntry> first(all_of.begin(), all_of.begin() + (all_of.empty() ? 0 : 1));
    const FilterSql candidates = MakeFilter(collection, first, "", sample_params);
    const std::string rest = RestSql(all_of, 1, text, sample_params);
    if (!estimate) {
      absl::StatusOr<pg::Result> rows =
          conn_->Query(absl::StrCat("SELECT count(*)", filter.from_where), params);
      if (!rows.ok()) return rows.status();
      return rows->Int(0, 0);
    }
    absl::StatusOr<pg::Result> rows = conn_->Query(
        absl::StrCat("SELECT count(*), count(*) FILTER (WHERE true", rest,
                     ") FROM (SELECT r.name, r.search_text", candidates.from_where, " ORDER BY ",
                     candidates.name_column, " LIMIT ", kCountedCandidates, ") r"),
        sample_params);
    if (!rows.ok()) return rows.status();
    const int64_t sampled = rows->Int(0, 0);
    const int64_t matched = rows->Int(0, 1);
    if (sampled < kCountedCandidates) return matched;
    absl::StatusOr<int64_t> all = CountWhere(filter, params, collection, first, "", false);
    if (!all.ok()) return all.status();
    return (*all * matched + kCountedCandidates / 2) / kCountedCandidates;
  }

  // What the write transaction running this view has counted and not yet written to
  // index_counts (see BatchTotals); 0 for a read.
  virtual int64_t PendingCount(absl::string_view collection, absl::string_view key,
                               absl::string_view value) const {
    return 0;
  }

  pg::Connection* conn_;
};

// A kept count's row of index_counts: (collection, key, value); key and value are empty
// for the collection's own count.
using CountKey = std::tuple<std::string, std::string, std::string>;
using CountDeltas = absl::flat_hash_map<CountKey, int64_t>;

// What the writes of one batch do to the counters and the kept counts (migration 4),
// kept here and written to the database once, just before the batch's COMMIT. Updating
// their rows per write made a large transaction quadratic: PostgreSQL keeps a version of
// a row per update until the transaction ends, and each later update of that row walks
// them all (importing 10,000 organizations in one transaction ran at 673 a second,
// against 1,515 in transactions of 500, and 100,000 stalled). The batch holds the write
// lock, so nothing else changes these rows meanwhile.
struct BatchTotals {
  // The counters rows as the batch read them after taking the lock, and as its writes
  // have advanced them.
  absl::flat_hash_map<std::string, int64_t> read;
  absl::flat_hash_map<std::string, int64_t> counters;
  CountDeltas counts;
};

class PgWriteTransaction : public PgReadView, public WriteTransaction {
 public:
  PgWriteTransaction(pg::Connection* conn, const std::string& service, BatchTotals* totals)
      : PgReadView(conn), service_(service), totals_(totals) {}

  int changes() const { return changes_; }
  // The counts this write changed, to be added to the batch's when it succeeds.
  const CountDeltas& counted() const { return counted_; }

  absl::StatusOr<Resource> Put(Resource resource, const std::vector<IndexEntry>& index,
                               absl::string_view search_text) override {
    if (absl::Status s = CheckStorableText(resource.name, resource.collection, resource.type,
                                           index, search_text);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<int64_t> revision = NextValue("revision");
    if (!revision.ok()) return revision.status();
    resource.revision = *revision;
    advanced_revision_ = true;
    // Stored as microseconds; truncated here too so what Put returns equals what a later
    // Get reads back.
    absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
    absl::StatusOr<std::optional<Resource>> existing = Get(resource.name);
    if (!existing.ok()) return existing.status();
    resource.create_time = existing->has_value() ? (*existing)->create_time : now;
    resource.update_time = now;
    absl::Status status = conn_->Run(
        "INSERT INTO resources(name, collection, data, revision, create_time, update_time,"
        " search_text, type) VALUES($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (name) DO UPDATE SET collection = EXCLUDED.collection,"
        " data = EXCLUDED.data, revision = EXCLUDED.revision,"
        " create_time = EXCLUDED.create_time, update_time = EXCLUDED.update_time,"
        " search_text = EXCLUDED.search_text, type = EXCLUDED.type",
        {Param::Text(resource.name), Param::Text(resource.collection),
         Param::Bytes(resource.data), Param::Int(resource.revision),
         Param::Int(absl::ToUnixMicros(resource.create_time)),
         Param::Int(absl::ToUnixMicros(resource.update_time)), Param::Text(search_text),
         Param::Text(resource.type)});
    if (!status.ok()) return status;
    if (!existing->has_value() || (*existing)->collection != resource.collection) {
      if (existing->has_value()) Count((*existing)->collection, "", "", -1);
      Count(resource.collection, "", "", 1);
    }
    status = WriteIndex(resource.name, index,
                        existing->has_value() ? (*existing)->collection : resource.collection,
                        resource.collection);
    if (!status.ok()) return status;
    status = AppendChange(existing->has_value() ? changes::v1::UPDATED : changes::v1::CREATED,
                          resource, existing->has_value() ? &**existing : nullptr);
    if (!status.ok()) return status;
    return resource;
  }

  absl::Status Reindex(absl::string_view name, const std::vector<IndexEntry>& index,
                       absl::string_view search_text) override {
    if (absl::Status s = CheckStorableText(name, "", "", index, search_text); !s.ok()) {
      return s;
    }
    // The revision counter is the store's generation (read caches of every replica are
    // valid while it stands), and a reindex changes what a filtered list returns: a write
    // that reindexes without a Put or Delete of its own still advances it.
    if (!advanced_revision_) {
      absl::StatusOr<int64_t> revision = NextValue("revision");
      if (!revision.ok()) return revision.status();
      advanced_revision_ = true;
    }
    absl::StatusOr<pg::Result> rows = conn_->Query(
        "UPDATE resources SET search_text = $2 WHERE name = $1 RETURNING collection",
        {Param::Text(name), Param::Text(search_text)});
    if (!rows.ok()) return rows.status();
    // Index entries of a name with no resource belong to no collection: not counted.
    const std::string collection = rows->rows() == 0 ? "" : rows->Text(0, 0);
    return WriteIndex(name, index, collection, collection);
  }

  absl::Status Delete(absl::string_view name) override {
    absl::StatusOr<std::optional<Resource>> existing = Get(name);
    if (!existing.ok()) return existing.status();
    if (!existing->has_value()) {
      return absl::NotFoundError(absl::StrCat(name, " does not exist"));
    }
    const std::string& collection = (*existing)->collection;
    absl::Status status = WriteIndex(name, {}, collection, collection);
    if (!status.ok()) return status;
    status = conn_->Run("DELETE FROM resources WHERE name = $1", {Param::Text(name)});
    if (!status.ok()) return status;
    Count(collection, "", "", -1);
    // The record carries a revision of its own, newer than the resource's last one, as
    // the change feed's contract says ("the revision after the change").
    absl::StatusOr<int64_t> revision = NextValue("revision");
    if (!revision.ok()) return revision.status();
    Resource last = **existing;
    last.revision = *revision;
    advanced_revision_ = true;
    return AppendChange(changes::v1::DELETED, last, nullptr);
  }

  absl::StatusOr<std::optional<RecordedRequest>> FindRequest(
      absl::string_view request_id) override {
    absl::StatusOr<pg::Result> rows =
        conn_->Query("SELECT fingerprint, response FROM requests WHERE request_id = $1",
                     {Param::Text(request_id)});
    if (!rows.ok()) return rows.status();
    if (rows->rows() == 0) return std::nullopt;
    return RecordedRequest{rows->Text(0, 0), rows->Bytes(0, 1)};
  }

  absl::Status RecordRequest(absl::string_view request_id, absl::string_view fingerprint,
                             absl::string_view response) override {
    // ON CONFLICT rather than a unique violation: a failed statement would abort the
    // whole PostgreSQL transaction, while the write may go on after this refusal (as it
    // can on SQLite).
    absl::StatusOr<pg::Result> rows = conn_->Query(
        "INSERT INTO requests(request_id, fingerprint, response, create_time)"
        " VALUES($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING",
        {Param::Text(request_id), Param::Text(fingerprint), Param::Bytes(response),
         Param::Int(absl::ToUnixMicros(absl::Now()))});
    if (!rows.ok()) return rows.status();
    // A request id is answered once; recording it again is a conflict (as on SQLite).
    if (rows->affected() == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("request ", request_id, " is already recorded"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<int64_t>> GetImportMark(absl::string_view name) override {
    absl::StatusOr<pg::Result> rows = conn_->Query(
        "SELECT revision FROM import_marks WHERE name = $1", {Param::Text(name)});
    if (!rows.ok()) return rows.status();
    if (rows->rows() == 0) return std::nullopt;
    return rows->Int(0, 0);
  }

  absl::Status SetImportMark(absl::string_view name, int64_t revision) override {
    return conn_->Run(
        "INSERT INTO import_marks(name, revision) VALUES($1, $2)"
        " ON CONFLICT (name) DO UPDATE SET revision = EXCLUDED.revision",
        {Param::Text(name), Param::Int(revision)});
  }

  absl::Status AppendAudit(const AuditEntry& e) override {
    // From the counters row, like revisions: gap-free and in commit order.
    absl::StatusOr<int64_t> sequence = NextValue("audit");
    if (!sequence.ok()) return sequence.status();
    return conn_->Run(
        "INSERT INTO audit(sequence, time, principal, role, authenticated_by, method,"
        " resource, request_id, code, message, fields, validate_only)"
        " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 <> 0)",
        {Param::Int(*sequence), Param::Int(absl::ToUnixMicros(e.time)),
         Param::Text(e.principal), Param::Text(e.role), Param::Text(e.authenticated_by),
         Param::Text(e.method), Param::Text(e.resource), Param::Text(e.request_id),
         Param::Int(e.code), Param::Text(e.message), Param::Text(absl::StrJoin(e.fields, ",")),
         Param::Int(e.validate_only ? 1 : 0)});
  }

  absl::Status DeleteOutboxUpTo(int64_t sequence) {
    return conn_->Run("DELETE FROM outbox WHERE sequence <= $1", {Param::Int(sequence)});
  }

 private:
  absl::Status AppendChange(changes::v1::ChangeKind kind, const Resource& resource,
                            const Resource* before) {
    if (service_.empty()) return absl::OkStatus();
    absl::StatusOr<int64_t> sequence = NextValue("outbox");
    if (!sequence.ok()) return sequence.status();
    changes::v1::ChangeRecord record =
        MakeChangeRecord(service_, *sequence, kind, resource, before);
    absl::Status status =
        conn_->Run("INSERT INTO outbox(sequence, record) VALUES($1, $2)",
                   {Param::Int(*sequence), Param::Bytes(record.SerializeAsString())});
    if (status.ok()) ++changes_;
    return status;
  }

  // From the batch's totals (the batch holds the write lock, so the counters rows are
  // the batch's alone until it commits; BatchTotals says why they are not updated here).
  absl::StatusOr<int64_t> NextValue(const char* counter) {
    auto it = totals_->counters.find(counter);
    if (it == totals_->counters.end()) {
      return absl::InternalError(absl::StrCat(counter, " counter missing"));
    }
    return ++it->second;
  }

  void Count(absl::string_view collection, absl::string_view key, absl::string_view value,
             int64_t delta) {
    counted_[CountKey(collection, key, value)] += delta;
  }

  int64_t PendingCount(absl::string_view collection, absl::string_view key,
                       absl::string_view value) const override {
    const CountKey k(collection, key, value);
    int64_t n = 0;
    if (auto it = totals_->counts.find(k); it != totals_->counts.end()) n += it->second;
    if (auto it = counted_.find(k); it != counted_.end()) n += it->second;
    return n;
  }

  // Replaces the index entries of `name`, counting the old ones out of `old_collection`
  // and the new ones into `collection` (empty: not counted). Both statements return the
  // rows they changed, so only what really changed is counted.
  absl::Status WriteIndex(absl::string_view name, const std::vector<IndexEntry>& index,
                          absl::string_view old_collection, absl::string_view collection) {
    absl::StatusOr<pg::Result> removed = conn_->Query(
        "DELETE FROM resource_index WHERE name = $1 RETURNING key, value", {Param::Text(name)});
    if (!removed.ok()) return removed.status();
    if (!old_collection.empty()) {
      for (int i = 0; i < removed->rows(); ++i) {
        Count(old_collection, removed->Text(i, 0), removed->Text(i, 1), -1);
      }
    }
    if (index.empty()) return absl::OkStatus();
    // One statement for all entries (one round trip, whatever their number).
    std::vector<Param> params = {Param::Text(name)};
    std::string sql = "INSERT INTO resource_index(key, value, name) VALUES";
    for (const IndexEntry& e : index) {
      params.push_back(Param::Text(e.key));
      params.push_back(Param::Text(e.value));
      absl::StrAppend(&sql, params.size() == 3 ? "" : ",", "($", params.size() - 1, ", $",
                      params.size(), ", $1)");
    }
    absl::StrAppend(&sql, " ON CONFLICT DO NOTHING RETURNING key, value");
    absl::StatusOr<pg::Result> added = conn_->Query(sql, params);
    if (!added.ok()) return added.status();
    if (!collection.empty()) {
      for (int i = 0; i < added->rows(); ++i) {
        Count(collection, added->Text(i, 0), added->Text(i, 1), 1);
      }
    }
    return absl::OkStatus();
  }

  const std::string& service_;
  BatchTotals* totals_;
  CountDeltas counted_;
  int changes_ = 0;
  // Whether this write advanced the revision counter (see Reindex).
  bool advanced_revision_ = false;
};

// Reads the counters rows into `totals`, after the batch took the write lock.
absl::Status ReadTotals(pg::Connection* conn, BatchTotals& totals) {
  absl::StatusOr<pg::Result> rows = conn->Query("SELECT name, value FROM counters");
  if (!rows.ok()) return rows.status();
  totals = BatchTotals();
  for (int i = 0; i < rows->rows(); ++i) totals.read[rows->Text(i, 0)] = rows->Int(i, 1);
  totals.counters = totals.read;
  return absl::OkStatus();
}

// Writes what the batch's writes advanced and counted: one statement for the counters
// and one per 1,000 count rows (a statement takes at most 65,535 parameters).
absl::Status WriteTotals(pg::Connection* conn, const BatchTotals& totals) {
  std::vector<Param> params;
  std::string values;
  for (const auto& [name, value] : totals.counters) {
    if (totals.read.at(name) == value) continue;
    params.push_back(Param::Text(name));
    params.push_back(Param::Int(value));
    absl::StrAppend(&values, values.empty() ? "" : ",", "($", params.size() - 1,
                    "::text, $", params.size(), "::bigint)");
  }
  if (!params.empty()) {
    absl::Status status =
        conn->Query(absl::StrCat("UPDATE counters c SET value = v.value FROM (VALUES ", values,
                                 ") v(name, value) WHERE c.name = v.name"),
                    params)
            .status();
    if (!status.ok()) return status;
  }
  constexpr size_t kRowsPerStatement = 1000;
  std::vector<const std::pair<const CountKey, int64_t>*> changed;
  for (const auto& entry : totals.counts) {
    if (entry.second != 0) changed.push_back(&entry);
  }
  for (size_t start = 0; start < changed.size(); start += kRowsPerStatement) {
    params.clear();
    values.clear();
    for (size_t i = start; i < std::min(changed.size(), start + kRowsPerStatement); ++i) {
      const auto& [key, delta] = *changed[i];
      params.push_back(Param::Text(std::get<0>(key)));
      params.push_back(Param::Text(std::get<1>(key)));
      params.push_back(Param::Text(std::get<2>(key)));
      params.push_back(Param::Int(delta));
      absl::StrAppend(&values, values.empty() ? "" : ",", "($", params.size() - 3,
                      "::text, $", params.size() - 2, "::text, $", params.size() - 1,
                      "::text, $", params.size(), "::bigint)");
    }
    absl::Status status =
        conn->Query(absl::StrCat("INSERT INTO index_counts(collection, key, value, n) VALUES ",
                                 values,
                                 " ON CONFLICT (collection, key, value)"
                                 " DO UPDATE SET n = index_counts.n + EXCLUDED.n"),
                    params)
            .status();
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& PostgresResourceStoreMigrations() {
  // The SQLite schema's three steps (sqlite_resource_store.cc), in PostgreSQL's types.
  // Every text column is COLLATE "C": order and comparison bytewise whatever the
  // database's locale, as SQLite's (keyset pages over Korean names).
  static const auto* migrations = new std::vector<std::string>{
      // 1: resources with their index, idempotent requests, the counters, the outbox.
      "CREATE TABLE resources("
      "  name TEXT COLLATE \"C\" PRIMARY KEY, collection TEXT COLLATE \"C\" NOT NULL,"
      "  data BYTEA NOT NULL, revision BIGINT NOT NULL, create_time BIGINT NOT NULL,"
      "  update_time BIGINT NOT NULL, search_text TEXT COLLATE \"C\" NOT NULL,"
      "  type TEXT COLLATE \"C\" NOT NULL);"
      "CREATE INDEX resources_by_collection ON resources(collection, name);"
      "CREATE TABLE resource_index("
      "  key TEXT COLLATE \"C\" NOT NULL, value TEXT COLLATE \"C\" NOT NULL,"
      "  name TEXT COLLATE \"C\" NOT NULL, PRIMARY KEY(key, value, name));"
      "CREATE INDEX resource_index_by_name ON resource_index(name);"
      "CREATE TABLE requests("
      "  request_id TEXT COLLATE \"C\" PRIMARY KEY, fingerprint TEXT COLLATE \"C\" NOT NULL,"
      "  response BYTEA NOT NULL, create_time BIGINT NOT NULL);"
      "CREATE TABLE counters(name TEXT COLLATE \"C\" PRIMARY KEY, value BIGINT NOT NULL);"
      "INSERT INTO counters VALUES('revision', 0), ('outbox', 0);"
      "CREATE TABLE outbox(sequence BIGINT PRIMARY KEY, record BYTEA NOT NULL)",
      // 2: import marks (WriteTransaction::GetImportMark).
      "CREATE TABLE import_marks(name TEXT COLLATE \"C\" PRIMARY KEY,"
      "  revision BIGINT NOT NULL)",
      // 3: the audit trail (WriteTransaction::AppendAudit); its sequence from the
      // counters row 'audit'.
      "CREATE TABLE audit("
      "  sequence BIGINT PRIMARY KEY, time BIGINT NOT NULL,"
      "  principal TEXT COLLATE \"C\" NOT NULL, role TEXT COLLATE \"C\" NOT NULL,"
      "  authenticated_by TEXT COLLATE \"C\" NOT NULL, method TEXT COLLATE \"C\" NOT NULL,"
      "  resource TEXT COLLATE \"C\" NOT NULL, request_id TEXT COLLATE \"C\" NOT NULL,"
      "  code INTEGER NOT NULL, message TEXT COLLATE \"C\" NOT NULL,"
      "  fields TEXT COLLATE \"C\" NOT NULL, validate_only BOOLEAN NOT NULL);"
      "CREATE INDEX audit_by_principal ON audit(principal, sequence);"
      "CREATE INDEX audit_by_resource ON audit(resource, sequence);"
      "INSERT INTO counters VALUES('audit', 0) ON CONFLICT (name) DO NOTHING",
      // 4: the kept counts of each collection and index entry, as SQLite's migration 4
      // (see there), by triggers in each write's transaction; writes are serialized by
      // the write lock, so no two transactions race on a count row.
      "CREATE TABLE index_counts(collection TEXT COLLATE \"C\" NOT NULL,"
      "  key TEXT COLLATE \"C\" NOT NULL, value TEXT COLLATE \"C\" NOT NULL,"
      "  n BIGINT NOT NULL, PRIMARY KEY(collection, key, value));"
      "INSERT INTO index_counts SELECT collection, '', '', count(*) FROM resources"
      "  GROUP BY collection;"
      "INSERT INTO index_counts SELECT r.collection, i.key, i.value, count(*)"
      "  FROM resource_index i JOIN resources r ON r.name = i.name"
      "  GROUP BY r.collection, i.key, i.value;"
      "CREATE FUNCTION sanhak_count_resource() RETURNS trigger LANGUAGE plpgsql AS $$"
      "BEGIN"
      "  IF TG_OP = 'INSERT' THEN"
      "    INSERT INTO index_counts VALUES(NEW.collection, '', '', 1)"
      "      ON CONFLICT (collection, key, value) DO UPDATE SET n = index_counts.n + 1;"
      "  ELSE"
      "    UPDATE index_counts SET n = n - 1"
      "      WHERE collection = OLD.collection AND key = '' AND value = '';"
      "  END IF;"
      "  RETURN NULL;"
      "END $$;"
      "CREATE TRIGGER resource_counted AFTER INSERT OR DELETE ON resources"
      "  FOR EACH ROW EXECUTE FUNCTION sanhak_count_resource();"
      "CREATE FUNCTION sanhak_count_index_entry() RETURNS trigger LANGUAGE plpgsql AS $$"
      "BEGIN"
      "  IF TG_OP = 'INSERT' THEN"
      "    INSERT INTO index_counts SELECT collection, NEW.key, NEW.value, 1 FROM resources"
      "      WHERE name = NEW.name"
      "      ON CONFLICT (collection, key, value) DO UPDATE SET n = index_counts.n + 1;"
      "  ELSE"
      "    UPDATE index_counts SET n = n - 1 WHERE key = OLD.key AND value = OLD.value"
      "      AND collection = (SELECT collection FROM resources WHERE name = OLD.name);"
      "  END IF;"
      "  RETURN NULL;"
      "END $$;"
      "CREATE TRIGGER index_entry_counted AFTER INSERT OR DELETE ON resource_index"
      "  FOR EACH ROW EXECUTE FUNCTION sanhak_count_index_entry()",
      // 5: the store keeps the counts itself, once per batch (BatchTotals), and says so
      // with the transaction setting sanhak.store_counts; the triggers now fire only
      // without it, for writers that do not count (a replica of the previous release
      // during a rolling update), so the counts hold whichever release writes.
      "DROP TRIGGER resource_counted ON resources;"
      "CREATE TRIGGER resource_counted AFTER INSERT OR DELETE ON resources FOR EACH ROW"
      "  WHEN (current_setting('sanhak.store_counts', true) IS DISTINCT FROM 'on')"
      "  EXECUTE FUNCTION sanhak_count_resource();"
      "DROP TRIGGER index_entry_counted ON resource_index;"
      "CREATE TRIGGER index_entry_counted AFTER INSERT OR DELETE ON resource_index"
      "  FOR EACH ROW"
      "  WHEN (current_setting('sanhak.store_counts', true) IS DISTINCT FROM 'on')"
      "  EXECUTE FUNCTION sanhak_count_index_entry()",
  };
  return *migrations;
}

absl::Status MigratePostgres(pg::Connection& conn, const std::vector<std::string>& migrations) {
  // A session lock, so replicas starting together apply each migration once; released
  // below (and by the server if this process dies meanwhile).
  absl::Status status = conn.Run("SELECT pg_advisory_lock($1)", {Param::Int(kMigrationLockKey)});
  if (!status.ok()) return status;
  status = [&]() -> absl::Status {
    absl::Status s = conn.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations("
        "  version INTEGER PRIMARY KEY, applied_time TIMESTAMPTZ NOT NULL DEFAULT now())");
    if (!s.ok()) return s;
    absl::StatusOr<pg::Result> rows =
        conn.Query("SELECT coalesce(max(version), 0)::bigint FROM schema_migrations");
    if (!rows.ok()) return rows.status();
    const int64_t current = rows->Int(0, 0);
    const int64_t target = static_cast<int64_t>(migrations.size());
    if (current > target) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema version ", current, " is newer than this binary's ", target));
    }
    for (int64_t version = current + 1; version <= target; ++version) {
      // One transaction per migration: the schema change and its version row commit
      // together.
      s = conn.Exec(absl::StrCat("BEGIN;", migrations[version - 1],
                                 ";INSERT INTO schema_migrations(version) VALUES(", version,
                                 ")"));
      if (s.ok()) s = conn.Commit();
      if (!s.ok()) {
        conn.Exec("ROLLBACK").IgnoreError();
        return s;
      }
    }
    return absl::OkStatus();
  }();
  absl::Status unlock =
      conn.Run("SELECT pg_advisory_unlock($1)", {Param::Int(kMigrationLockKey)});
  if (status.ok()) status = unlock;
  return status;
}

PostgresResourceStore::PostgresResourceStore(const PostgresStoreOptions& options)
    : options_(options), commits_(options.max_queued_writes, kMaxBatch) {}

absl::StatusOr<std::unique_ptr<pg::Connection>> PostgresResourceStore::Connect() const {
  pg::ConnectOptions connect;
  connect.uri = options_.uri;
  connect.application_name =
      options_.service.empty() ? "sanhak" : absl::StrCat("sanhak-", options_.service);
  connect.connect_timeout = options_.connect_timeout;
  return pg::Connection::Open(connect);
}

absl::StatusOr<std::unique_ptr<PostgresResourceStore>> PostgresResourceStore::Open(
    const PostgresStoreOptions& options) {
  std::unique_ptr<PostgresResourceStore> store(new PostgresResourceStore(options));
  absl::StatusOr<std::unique_ptr<pg::Connection>> writer = store->Connect();
  if (!writer.ok()) return writer.status();
  absl::Status status = MigratePostgres(**writer, PostgresResourceStoreMigrations());
  if (!status.ok()) return status;
  store->writer_ = std::move(*writer);
  store->commits_.Start([s = store.get()](std::vector<PendingWrite>& batch) {
    return s->RunBatch(batch);
  });
  if (!options.service.empty()) {
    // An identifier of plain characters whatever the service is called.
    store->channel_ = "sanhak_outbox_";
    for (char c : options.service) {
      store->channel_ += absl::ascii_isalnum(c) ? absl::ascii_tolower(c) : '_';
    }
    store->listener_thread_ = std::thread([s = store.get()] { s->ListenLoop(); });
  }
  return store;
}

PostgresResourceStore::~PostgresResourceStore() {
  // The committer first: its batches use the connections below.
  commits_.Stop();
  listen_stop_ = true;
  if (listener_thread_.joinable()) listener_thread_.join();
}

void PostgresResourceStore::ListenLoop() {
  std::unique_ptr<pg::Connection> conn;
  auto wake = [this] { commits_.NotifyCommitListener(); };
  while (!listen_stop_.load()) {
    if (conn == nullptr) {
      absl::StatusOr<std::unique_ptr<pg::Connection>> made = Connect();
      if (made.ok() && (*made)->Exec(absl::StrCat("LISTEN ", channel_)).ok()) {
        conn = *std::move(made);
        // Records may have been committed while nobody listened.
        wake();
      } else {
        // The server is away: try again in a second, staying quick to stop.
        for (int i = 0; i < 4 && !listen_stop_.load(); ++i) {
          absl::SleepFor(absl::Milliseconds(250));
        }
        continue;
      }
    }
    absl::StatusOr<int> arrived = conn->WaitForNotifications(absl::Milliseconds(250));
    if (!arrived.ok()) {
      conn.reset();
    } else if (*arrived > 0) {
      wake();
    }
  }
}

absl::StatusOr<std::unique_ptr<pg::Connection>> PostgresResourceStore::AcquireReader() {
  {
    absl::MutexLock lock(&readers_mu_);
    auto available = [this]() ABSL_SHARED_LOCKS_REQUIRED(readers_mu_) {
      return !idle_readers_.empty() || open_readers_ < options_.max_readers;
    };
    readers_mu_.Await(absl::Condition(&available));
    if (!idle_readers_.empty()) {
      auto conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return conn;
    }
    ++open_readers_;
  }
  absl::StatusOr<std::unique_ptr<pg::Connection>> conn = Connect();
  if (!conn.ok()) {
    absl::MutexLock lock(&readers_mu_);
    --open_readers_;
  }
  return conn;
}

void PostgresResourceStore::ReleaseReader(std::unique_ptr<pg::Connection> conn) {
  absl::MutexLock lock(&readers_mu_);
  if (conn->healthy()) {
    idle_readers_.push_back(std::move(conn));
  } else {
    // Lost (the server restarted): closed here, a new one made on a later Acquire.
    --open_readers_;
  }
}

void PostgresResourceStore::DropIdleReaders() {
  std::vector<std::unique_ptr<pg::Connection>> dropped;
  {
    absl::MutexLock lock(&readers_mu_);
    dropped.swap(idle_readers_);
    open_readers_ -= static_cast<int>(dropped.size());
  }
  // Closed outside the lock (a close may wait on the network).
}

absl::Status PostgresResourceStore::Read(absl::FunctionRef<absl::Status(ReadView&)> fn) {
  // An idle connection learns that the server restarted only when used: a BEGIN that
  // fails on a lost connection is tried once more on a new one (nothing ran yet).
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<std::unique_ptr<pg::Connection>> conn = AcquireReader();
    if (!conn.ok()) return conn.status();
    absl::Status status = (*conn)->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!status.ok()) {
      bool lost = !(*conn)->healthy();
      ReleaseReader(std::move(*conn));
      if (lost && attempt == 0) {
        // The other idle connections date from before the same restart: dropped too, so
        // the next reads do not each find a dead one.
        DropIdleReaders();
        continue;
      }
      return status;
    }
    PgReadView view(conn->get());
    status = fn(view);
    absl::Status end = status.ok() ? (*conn)->Commit() : (*conn)->Exec("ROLLBACK");
    if (status.ok()) status = end;
    ReleaseReader(std::move(*conn));
    return status;
  }
}

// Concurrent callers share a read: a caller may use the value of any read that started
// after it was called (that read saw every commit acknowledged before the call), so each
// caller waits for at most the read in flight and the one after it, and under load one
// read answers every caller that arrived while the previous one ran.
int64_t PostgresResourceStore::generation() {
  generation_mu_.Lock();
  const int64_t needed = generation_reads_started_ + 1;
  while (generation_reads_finished_ < needed) {
    if (!generation_read_running_) {
      // None runs: this caller reads, for itself and whoever arrives meanwhile.
      generation_read_running_ = true;
      ++generation_reads_started_;
      generation_mu_.Unlock();
      const int64_t value = ReadGeneration();
      generation_mu_.Lock();
      generation_read_running_ = false;
      generation_reads_finished_ = generation_reads_started_;
      last_generation_ = value;
      generation_mu_.Unlock();
      return value;
    }
    auto read_done = [this, needed]() ABSL_SHARED_LOCKS_REQUIRED(generation_mu_) {
      return !generation_read_running_ || generation_reads_finished_ >= needed;
    };
    generation_mu_.Await(absl::Condition(&read_done));
  }
  const int64_t value = last_generation_;
  generation_mu_.Unlock();
  return value;
}

int64_t PostgresResourceStore::ReadGeneration() {
  absl::StatusOr<std::unique_ptr<pg::Connection>> conn = AcquireReader();
  if (!conn.ok()) return -1;
  // Autocommit: the statement's snapshot starts after the call did, so it sees every
  // commit acknowledged before it. The counters row is written in the committing
  // transaction, so no commit is visible without its revision.
  absl::StatusOr<pg::Result> rows =
      (*conn)->Query("SELECT value FROM counters WHERE name = 'revision'");
  ReleaseReader(std::move(*conn));
  if (!rows.ok() || rows->rows() != 1) return -1;
  return rows->Int(0, 0);
}

// Group commit (common/group_commit.h), as in the SQLite store: the committer runs up to
// kMaxBatch queued writes in one transaction, each inside its own savepoint.
void PostgresResourceStore::WriteAsync(WriteFn fn, WriteDone done) {
  commits_.Submit(std::move(fn), std::move(done));
}

absl::Status PostgresResourceStore::TryBatch(std::vector<PendingWrite>& batch, int& changes,
                                             bool& sent_commit) {
  changes = 0;
  sent_commit = false;
  if (writer_ == nullptr) {
    absl::StatusOr<std::unique_ptr<pg::Connection>> conn = Connect();
    if (!conn.ok()) return conn.status();
    writer_ = *std::move(conn);
  }
  pg::Connection* conn = writer_.get();
  // READ COMMITTED: each statement after the lock sees every commit before it.
  absl::Status status = conn->Exec("BEGIN ISOLATION LEVEL READ COMMITTED");
  if (status.ok()) {
    // The lock, and the setting that tells migration 4's triggers that this transaction
    // counts for itself (migration 5).
    status = conn->Run(
        "SELECT pg_advisory_xact_lock($1), set_config('sanhak.store_counts', 'on', true)",
        {Param::Int(kWriteLockKey)});
  }
  BatchTotals totals;
  if (status.ok()) status = ReadTotals(conn, totals);
  // A write that succeeded leaves its savepoint to be released with the next one's start
  // (one round trip for both); the last is released by the COMMIT.
  bool release = false;
  for (PendingWrite& w : batch) {
    if (!status.ok()) break;
    status = conn->Exec(release ? "RELEASE write; SAVEPOINT write" : "SAVEPOINT write");
    release = false;
    if (!status.ok()) break;
    // A write that fails is rolled back to its savepoint, and its counter values with it.
    const absl::flat_hash_map<std::string, int64_t> counters_before = totals.counters;
    PgWriteTransaction tx(conn, options_.service, &totals);
    w.result = w.fn(tx);
    if (w.result.ok()) {
      changes += tx.changes();
      for (const auto& [key, delta] : tx.counted()) totals.counts[key] += delta;
      release = true;
    } else {
      totals.counters = counters_before;
      // The write failed because the database did (connection lost, serialization
      // failure): the batch fails (or runs again) as a whole, not just this write.
      if (!conn->healthy()) {
        status = w.result;
        break;
      }
      if (pg::IsRetryable(w.result)) {
        status = w.result;
        break;
      }
      status = conn->Exec("ROLLBACK TO write; RELEASE write");
    }
  }
  if (status.ok()) status = WriteTotals(conn, totals);
  if (status.ok() && changes > 0 && !channel_.empty()) {
    // Delivered to every listening replica when (and only if) the batch commits.
    status = conn->Run("SELECT pg_notify($1, '')", {Param::Text(channel_)});
  }
  if (status.ok()) {
    sent_commit = true;
    status = conn->Commit();
  }
  if (!status.ok()) {
    if (conn->healthy()) {
      conn->Exec("ROLLBACK").IgnoreError();
    } else {
      writer_.reset();
    }
  }
  return status;
}

int PostgresResourceStore::RunBatch(std::vector<PendingWrite>& batch) {
  absl::Duration backoff = absl::Milliseconds(10);
  for (int attempt = 1;; ++attempt) {
    int changes = 0;
    bool sent_commit = false;
    const bool had_connection = writer_ != nullptr;
    absl::Status status = TryBatch(batch, changes, sent_commit);
    if (status.ok()) return changes;
    // Run again: serialization failures and deadlocks, and a connection that had died
    // while idle (the server restarted since the last batch) before COMMIT was sent.
    const bool stale_connection =
        had_connection && !sent_commit && absl::IsUnavailable(status) && writer_ == nullptr;
    if (attempt < options_.max_attempts && (pg::IsRetryable(status) || stale_connection)) {
      if (!stale_connection) {
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Milliseconds(500));
      }
      continue;
    }
    if (absl::IsUnavailable(status) && sent_commit) {
      status = absl::UnavailableError(absl::StrCat(
          status.message(), " (during COMMIT: the write may or may not have been kept)"));
    }
    // Whatever the writes returned, none of them committed.
    for (PendingWrite& w : batch) w.result = status;
    return 0;
  }
}

absl::StatusOr<std::vector<OutboxEntry>> PostgresResourceStore::ReadOutbox(int limit) {
  std::vector<OutboxEntry> entries;
  absl::Status status = Read([&](ReadView& view) -> absl::Status {
    absl::StatusOr<pg::Result> rows = dynamic_cast<PgReadView&>(view).conn()->Query(
        "SELECT sequence, record FROM outbox ORDER BY sequence LIMIT $1",
        {Param::Int(limit)});
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->rows(); ++i) entries.push_back({rows->Int(i, 0), rows->Bytes(i, 1)});
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return entries;
}

absl::Status PostgresResourceStore::AckOutbox(int64_t up_to_sequence) {
  return Write([&](WriteTransaction& tx) {
    return dynamic_cast<PgWriteTransaction&>(tx).DeleteOutboxUpTo(up_to_sequence);
  });
}

absl::StatusOr<int64_t> PostgresResourceStore::OutboxBacklog() {
  int64_t backlog = 0;
  absl::Status status = Read([&](ReadView& view) {
    absl::StatusOr<int64_t> n = dynamic_cast<PgReadView&>(view).CountOutbox();
    if (!n.ok()) return n.status();
    backlog = *n;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return backlog;
}

absl::StatusOr<AuditPage> PostgresResourceStore::ListAudit(const AuditQuery& query) {
  AuditPage page;
  absl::Status status = Read([&](ReadView& view) {
    absl::StatusOr<AuditPage> read = dynamic_cast<PgReadView&>(view).ListAudit(query);
    if (!read.ok()) return read.status();
    page = *std::move(read);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return page;
}

void PostgresResourceStore::SetCommitListener(std::function<void()> listener) {
  commits_.SetCommitListener(std::move(listener));
}

absl::Status PostgresResourceStore::Ping() {
  return Read([](ReadView& view) { return view.Count("counters", {}).status(); });
}

absl::StatusOr<bool> PostgresResourceStore::HoldsRelayLease() {
  absl::MutexLock lock(&lease_mu_);
  if (lease_conn_ != nullptr && lease_held_) {
    // Still held while the session lives: one round trip tells.
    if (lease_conn_->Exec("SELECT 1").ok()) return true;
    lease_held_ = false;
    lease_conn_.reset();
  }
  if (lease_conn_ != nullptr && !lease_conn_->healthy()) lease_conn_.reset();
  if (lease_conn_ == nullptr) {
    absl::StatusOr<std::unique_ptr<pg::Connection>> conn = Connect();
    if (!conn.ok()) return conn.status();
    lease_conn_ = *std::move(conn);
  }
  absl::StatusOr<pg::Result> rows = lease_conn_->Query(
      "SELECT pg_try_advisory_lock($1)", {Param::Int(RelayLeaseKey(options_.service))});
  if (!rows.ok()) {
    if (!lease_conn_->healthy()) lease_conn_.reset();
    return rows.status();
  }
  lease_held_ = rows->Int(0, 0) != 0;
  return lease_held_;
}

}  // namespace sanhak::store
