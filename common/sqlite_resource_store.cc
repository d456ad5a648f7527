#include "common/sqlite_resource_store.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/change_record.h"
#include "common/overload.h"

namespace sanhak::store {
namespace {

const char kGetSql[] =
    "SELECT name, collection, data, revision, create_time, update_time, type "
    "FROM resources WHERE name = ?1";

Resource ReadResource(const sqlite::Statement& stmt) {
  Resource r;
  r.name = stmt.Text(0);
  r.collection = stmt.Text(1);
  r.data = stmt.Blob(2);
  r.revision = stmt.Int(3);
  r.create_time = absl::FromUnixMicros(stmt.Int(4));
  r.update_time = absl::FromUnixMicros(stmt.Int(5));
  r.type = stmt.Text(6);
  return r;
}

// "FROM ... WHERE ..." for a query's filters; binds start at ?2 after the collection at
// ?1. With index filters the scan is driven by the first one's index range (ordered by
// name, so keyset pagination needs no sort); the rest are probed per row.
struct FilterSql {
  std::string from_where;
  // The column to order and page by.
  std::string name_column;
};

// " AND ..." conditions on a row `r` for index entries `first` to `index_entries` - 1
// and the text, their binds from ?`param` on (as BindFilters numbers them).
std::string RestSql(size_t first, size_t index_entries, bool has_text, int param) {
  std::string out;
  for (size_t i = first; i < index_entries; ++i, param += 2) {
    absl::StrAppend(&out, " AND EXISTS (SELECT 1 FROM resource_index i WHERE i.key = ?", param,
                    " AND i.value = ?", param + 1, " AND i.name = r.name)");
  }
  if (has_text) absl::StrAppend(&out, " AND instr(r.search_text, ?", param, ") > 0");
  return out;
}

FilterSql MakeFilterSql(size_t index_entries, bool has_text) {
  FilterSql out;
  if (index_entries == 0) {
    out.from_where = " FROM resources r WHERE r.collection = ?1";
    out.name_column = "r.name";
    absl::StrAppend(&out.from_where, RestSql(0, 0, has_text, 2));
    return out;
  }
  // CROSS JOIN fixes the loop order (SQLite's rule for CROSS JOIN): without table
  // statistics the planner otherwise scanned the whole collection for counts.
  out.from_where =
      " FROM resource_index i0 CROSS JOIN resources r ON r.name = i0.name"
      " WHERE i0.key = ?2 AND i0.value = ?3 AND r.collection = ?1";
  out.name_column = "i0.name";
  absl::StrAppend(&out.from_where, RestSql(1, index_entries, has_text, 4));
  return out;
}

int BindFilters(sqlite::Statement& stmt, absl::string_view collection,
                const std::vector<IndexEntry>& all_of, absl::string_view text) {
  stmt.Bind(1, collection);
  int param = 2;
  for (const IndexEntry& e : all_of) {
    stmt.Bind(param++, e.key);
    stmt.Bind(param++, e.value);
  }
  if (!text.empty()) stmt.Bind(param++, text);
  return param;
}

// Reads shared by snapshots and write transactions.
class SqliteReadView : public virtual ReadView {
 public:
  explicit SqliteReadView(sqlite::Connection* conn) : conn_(conn) {}

  absl::StatusOr<std::optional<Resource>> Get(absl::string_view name) override {
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(kGetSql);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, name);
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return ReadResource(*stmt);
  }

  absl::StatusOr<ListResult> List(const ListQuery& query) override {
    ListResult result;
    const FilterSql filter = MakeFilterSql(query.all_of.size(), !query.text.empty());
    const int next_param = 2 + 2 * query.all_of.size() + !query.text.empty();
    // Bounded only where filters past the first (or text) may reject candidates: else
    // every candidate read is returned and `limit` bounds the scan already.
    const bool bounded =
        query.scan_limit > 0 && (query.all_of.size() > 1 || !query.text.empty());
    std::string sql;
    if (bounded) {
      // The first filter's candidates in name order, at most scan_limit, each with
      // whether the other filters and the text match it: stepped one by one, so the scan
      // stops as soon as the page is full, and only matches' columns are read.
      const FilterSql first = MakeFilterSql(std::min<size_t>(query.all_of.size(), 1), false);
      sql = absl::StrCat(
          "SELECT r.name, r.collection, r.data, r.revision, r.create_time, r.update_time, "
          "r.type, (1",
          RestSql(query.all_of.empty() ? 0 : 1, query.all_of.size(), !query.text.empty(),
                  query.all_of.empty() ? 2 : 4),
          ") AS hit", first.from_where, " AND ", first.name_column, " > ?", next_param,
          " ORDER BY ", first.name_column, " LIMIT ?", next_param + 1);
    } else {
      sql = absl::StrCat("SELECT r.name, r.collection, r.data, r.revision, r.create_time, "
                         "r.update_time, r.type",
                         filter.from_where, " AND ", filter.name_column, " > ?", next_param,
                         " ORDER BY ", filter.name_column, " LIMIT ?", next_param + 1);
    }
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    const int next = BindFilters(*stmt, query.collection, query.all_of, query.text);
    stmt->Bind(next, query.after_name);
    stmt->Bind(next + 1, bounded ? static_cast<int64_t>(query.scan_limit)
                                 : static_cast<int64_t>(query.limit) + 1);
    int64_t scanned = 0;
    std::string last_scanned;
    while (true) {
      absl::StatusOr<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (bounded) {
        ++scanned;
        last_scanned = stmt->Text(0);
        if (stmt->Int(7) == 0) continue;
      }
      if (static_cast<int>(result.resources.size()) == query.limit) {
        result.more = true;
        break;
      }
      result.resources.push_back(ReadResource(*stmt));
    }
    if (result.more) {
      result.resume_after = result.resources.back().name;
    } else if (bounded && scanned >= query.scan_limit) {
      // The scan stopped at its bound before the page was full.
      result.more = true;
      result.resume_after = std::move(last_scanned);
    }
    if (!query.count_total) return result;
    absl::StatusOr<int64_t> total = CountWhere(filter, query.collection, query.all_of, query.text,
                                                 /*estimate=*/true);
    if (!total.ok()) return total.status();
    result.total = *total;
    return result;
  }

  absl::StatusOr<int64_t> Count(absl::string_view collection,
                                const std::vector<IndexEntry>& all_of) override {
    return CountWhere(MakeFilterSql(all_of.size(), false), collection, all_of, "", /*estimate=*/false);
  }

  absl::StatusOr<AuditPage> ListAudit(const AuditQuery& query) {
    // Each filter narrows by its own index (principal or resource, each with sequence),
    // so a page costs what it returns, whatever the trail's length.
    std::string sql =
        "SELECT sequence, time, principal, role, authenticated_by, method, resource,"
        " request_id, code, message, fields, validate_only FROM audit WHERE sequence > ?1"
        " AND time >= ?2 AND time < ?3";
    if (!query.principal.empty()) absl::StrAppend(&sql, " AND principal = ?4");
    if (!query.resource.empty()) absl::StrAppend(&sql, " AND resource = ?5");
    absl::StrAppend(&sql, " ORDER BY sequence LIMIT ?6");
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    auto micros = [](absl::Time t) {
      if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
      if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
      return absl::ToUnixMicros(t);
    };
    stmt->Bind(1, query.after_sequence)
        .Bind(2, micros(query.start_time))
        .Bind(3, micros(query.end_time))
        .Bind(6, static_cast<int64_t>(query.limit) + 1);
    if (!query.principal.empty()) stmt->Bind(4, query.principal);
    if (!query.resource.empty()) stmt->Bind(5, query.resource);
    AuditPage page;
    while (true) {
      absl::StatusOr<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (static_cast<int>(page.entries.size()) == query.limit) {
        page.more = true;
        break;
      }
      AuditEntry e;
      e.sequence = stmt->Int(0);
      e.time = absl::FromUnixMicros(stmt->Int(1));
      e.principal = stmt->Text(2);
      e.role = stmt->Text(3);
      e.authenticated_by = stmt->Text(4);
      e.method = stmt->Text(5);
      e.resource = stmt->Text(6);
      e.request_id = stmt->Text(7);
      e.code = static_cast<int>(stmt->Int(8));
      e.message = stmt->Text(9);
      std::string fields = stmt->Text(10);
      if (!fields.empty()) e.fields = absl::StrSplit(fields, ',');
      e.validate_only = stmt->Int(11) != 0;
      page.entries.push_back(std::move(e));
    }
    return page;
  }

  absl::StatusOr<int64_t> CountOutbox() {
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare("SELECT count(*) FROM outbox");
    if (!stmt.ok()) return stmt.status();
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    return stmt->Int(0);
  }

 protected:
  absl::StatusOr<int64_t> CountWhere(const FilterSql& filter, absl::string_view collection,
                                     const std::vector<IndexEntry>& all_of,
                                     absl::string_view text, bool estimate) {
    // A whole collection, or one index entry of it: the kept count (migration 4).
    if (text.empty() && all_of.size() <= 1) {
      absl::StatusOr<sqlite::Statement> kept = conn_->Prepare(
          "SELECT n FROM index_counts WHERE collection = ?1 AND key = ?2 AND value = ?3");
      if (!kept.ok()) return kept.status();
      kept->Bind(1, collection)
          .Bind(2, all_of.empty() ? "" : all_of[0].key)
          .Bind(3, all_of.empty() ? "" : all_of[0].value);
      absl::StatusOr<bool> row = kept->Step();
      if (!row.ok()) return row.status();
      return *row ? kept->Int(0) : 0;
    }
    if (!estimate) {
      absl::StatusOr<sqlite::Statement> stmt =
          conn_->Prepare(absl::StrCat("SELECT count(*)", filter.from_where));
      if (!stmt.ok()) return stmt.status();
      BindFilters(*stmt, collection, all_of, text);
      absl::StatusOr<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      return stmt->Int(0);
    }
    // Otherwise, for a list's total, the first kCountedCandidates candidates of the
    // first filter and how many of them match the rest (see there); every match for a
    // count that must be exact (ReadView::Count).
    const size_t first = all_of.empty() ? 0 : 1;
    const FilterSql candidates = MakeFilterSql(first, false);
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(absl::StrCat(
        "SELECT count(*), coalesce(sum(CASE WHEN 1",
        RestSql(first, all_of.size(), !text.empty(), first == 0 ? 2 : 4),
        " THEN 1 ELSE 0 END), 0) FROM (SELECT r.name AS name, r.search_text AS search_text",
        candidates.from_where, " ORDER BY ", candidates.name_column, " LIMIT ",
        kCountedCandidates, ") r"));
    if (!stmt.ok()) return stmt.status();
    BindFilters(*stmt, collection, all_of, text);
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    const int64_t sampled = stmt->Int(0);
    const int64_t matched = stmt->Int(1);
    if (sampled < kCountedCandidates) return matched;
    const std::vector<IndexEntry> first_only(all_of.begin(), all_of.begin() + first);
    absl::StatusOr<int64_t> all = CountWhere(filter, collection, first_only, "", false);
    if (!all.ok()) return all.status();
    return (all.value() * matched + kCountedCandidates / 2) / kCountedCandidates;
  }

  sqlite::Connection* conn_;
};

class SqliteWriteTransaction : public SqliteReadView, public WriteTransaction {
 public:
  // `service` names the change records; empty writes none.
  SqliteWriteTransaction(sqlite::Connection* conn, const std::string& service)
      : SqliteReadView(conn), service_(service) {}

  // Change records this transaction wrote (the relay is woken when > 0).
  int changes() const { return changes_; }

  absl::StatusOr<Resource> Put(Resource resource, const std::vector<IndexEntry>& index,
                               absl::string_view search_text) override {
    if (absl::Status s = CheckStorableText(resource.name, resource.collection, resource.type,
                                           index, search_text);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<int64_t> revision = NextRevision();
    if (!revision.ok()) return revision.status();
    resource.revision = *revision;
    // Stored as microseconds; truncated here too so what Put returns equals what a later
    // Get reads back.
    absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
    absl::StatusOr<std::optional<Resource>> existing = Get(resource.name);
    if (!existing.ok()) return existing.status();
    resource.create_time = existing->has_value() ? (*existing)->create_time : now;
    resource.update_time = now;
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(
        "INSERT INTO resources(name, collection, data, revision, create_time, "
        "update_time, search_text, type) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
        // An update, not INSERT OR REPLACE: a replace would fire the insert trigger that
        // counts a new resource (migration 4).
        "ON CONFLICT(name) DO UPDATE SET collection = excluded.collection, "
        "data = excluded.data, revision = excluded.revision, "
        "create_time = excluded.create_time, update_time = excluded.update_time, "
        "search_text = excluded.search_text, type = excluded.type");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, resource.name)
        .Bind(2, resource.collection)
        .BindBlob(3, resource.data)
        .Bind(4, resource.revision)
        .Bind(5, absl::ToUnixMicros(resource.create_time))
        .Bind(6, absl::ToUnixMicros(resource.update_time))
        .Bind(7, search_text)
        .Bind(8, resource.type);
    absl::Status status = stmt->Run();
    if (!status.ok()) return status;
    status = WriteIndex(resource.name, index);
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
    absl::StatusOr<sqlite::Statement> stmt =
        conn_->Prepare("UPDATE resources SET search_text = ?2 WHERE name = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, name).Bind(2, search_text);
    absl::Status status = stmt->Run();
    if (!status.ok()) return status;
    return WriteIndex(name, index);
  }

  absl::Status Delete(absl::string_view name) override {
    absl::StatusOr<std::optional<Resource>> existing = Get(name);
    if (!existing.ok()) return existing.status();
    if (!existing->has_value()) {
      return absl::NotFoundError(absl::StrCat(name, " does not exist"));
    }
    // The index first: its rows are uncounted under the resource's collection (migration
    // 4), which is known while the resource row exists.
    absl::Status status = WriteIndex(name, {});
    if (!status.ok()) return status;
    absl::StatusOr<sqlite::Statement> stmt =
        conn_->Prepare("DELETE FROM resources WHERE name = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, name);
    status = stmt->Run();
    if (!status.ok()) return status;
    // The record carries a revision of its own, newer than the resource's last one, as
    // the change feed's contract says ("the revision after the change").
    absl::StatusOr<int64_t> revision = NextRevision();
    if (!revision.ok()) return revision.status();
    Resource last = **existing;
    last.revision = *revision;
    return AppendChange(changes::v1::DELETED, last, nullptr);
  }

  absl::StatusOr<std::optional<RecordedRequest>> FindRequest(
      absl::string_view request_id) override {
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(
        "SELECT fingerprint, response FROM requests WHERE request_id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, request_id);
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return RecordedRequest{stmt->Text(0), stmt->Blob(1)};
  }

  absl::Status RecordRequest(absl::string_view request_id, absl::string_view fingerprint,
                             absl::string_view response) override {
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(
        "INSERT INTO requests(request_id, fingerprint, response, create_time) "
        "VALUES(?1, ?2, ?3, ?4)");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, request_id)
        .Bind(2, fingerprint)
        .BindBlob(3, response)
        .Bind(4, absl::ToUnixMicros(absl::Now()));
    return stmt->Run();
  }

  absl::StatusOr<std::optional<int64_t>> GetImportMark(absl::string_view name) override {
    absl::StatusOr<sqlite::Statement> stmt =
        conn_->Prepare("SELECT revision FROM import_marks WHERE name = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, name);
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return stmt->Int(0);
  }

  absl::Status SetImportMark(absl::string_view name, int64_t revision) override {
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(
        "INSERT OR REPLACE INTO import_marks(name, revision) VALUES(?1, ?2)");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, name).Bind(2, revision);
    return stmt->Run();
  }

  absl::Status AppendAudit(const AuditEntry& e) override {
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(
        "INSERT INTO audit(time, principal, role, authenticated_by, method, resource,"
        " request_id, code, message, fields, validate_only)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, absl::ToUnixMicros(e.time))
        .Bind(2, e.principal)
        .Bind(3, e.role)
        .Bind(4, e.authenticated_by)
        .Bind(5, e.method)
        .Bind(6, e.resource)
        .Bind(7, e.request_id)
        .Bind(8, int64_t{e.code})
        .Bind(9, e.message)
        .Bind(10, absl::StrJoin(e.fields, ","))
        .Bind(11, int64_t{e.validate_only});
    return stmt->Run();
  }

  absl::Status DeleteOutboxUpTo(int64_t sequence) {
    absl::StatusOr<sqlite::Statement> stmt =
        conn_->Prepare("DELETE FROM outbox WHERE sequence <= ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, sequence);
    return stmt->Run();
  }

 private:
  // The change record of a write, in the same transaction as the write (the outbox).
  absl::Status AppendChange(changes::v1::ChangeKind kind, const Resource& resource,
                            const Resource* before) {
    if (service_.empty()) return absl::OkStatus();
    absl::StatusOr<int64_t> sequence = NextValue("outbox");
    if (!sequence.ok()) return sequence.status();
    changes::v1::ChangeRecord record = MakeChangeRecord(service_, *sequence, kind, resource,
                                                        before);
    absl::StatusOr<sqlite::Statement> stmt =
        conn_->Prepare("INSERT INTO outbox(sequence, record) VALUES(?1, ?2)");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, *sequence).BindBlob(2, record.SerializeAsString());
    absl::Status status = stmt->Run();
    if (status.ok()) ++changes_;
    return status;
  }

  absl::StatusOr<int64_t> NextRevision() { return NextValue("revision"); }

  absl::StatusOr<int64_t> NextValue(const char* counter) {
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(
        "UPDATE counters SET value = value + 1 WHERE name = ?1 RETURNING value");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, counter);
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::InternalError(absl::StrCat(counter, " counter missing"));
    int64_t value = stmt->Int(0);
    absl::Status done = stmt->Run();
    if (!done.ok()) return done;
    return value;
  }

  absl::Status WriteIndex(absl::string_view name, const std::vector<IndexEntry>& index) {
    absl::StatusOr<sqlite::Statement> clear =
        conn_->Prepare("DELETE FROM resource_index WHERE name = ?1");
    if (!clear.ok()) return clear.status();
    clear->Bind(1, name);
    absl::Status status = clear->Run();
    if (!status.ok()) return status;
    for (const IndexEntry& e : index) {
      absl::StatusOr<sqlite::Statement> insert = conn_->Prepare(
          "INSERT OR IGNORE INTO resource_index(key, value, name) VALUES(?1, ?2, ?3)");
      if (!insert.ok()) return insert.status();
      insert->Bind(1, e.key).Bind(2, e.value).Bind(3, name);
      status = insert->Run();
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  const std::string& service_;
  int changes_ = 0;
};

absl::Status RunPrepared(sqlite::Connection* conn, absl::string_view sql) {
  absl::StatusOr<sqlite::Statement> stmt = conn->Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  return stmt->Run();
}

}  // namespace

const std::vector<std::string>& ResourceStoreMigrations() {
  static const auto* migrations = new std::vector<std::string>{
      // 1: resources with their index, idempotent requests, the counters, the outbox.
      "CREATE TABLE resources("
      "  name TEXT PRIMARY KEY, collection TEXT NOT NULL, data BLOB NOT NULL,"
      "  revision INTEGER NOT NULL, create_time INTEGER NOT NULL,"
      "  update_time INTEGER NOT NULL, search_text TEXT NOT NULL,"
      "  type TEXT NOT NULL) WITHOUT ROWID;"
      "CREATE INDEX resources_by_collection ON resources(collection, name);"
      "CREATE TABLE resource_index("
      "  key TEXT NOT NULL, value TEXT NOT NULL, name TEXT NOT NULL,"
      "  PRIMARY KEY(key, value, name)) WITHOUT ROWID;"
      "CREATE INDEX resource_index_by_name ON resource_index(name);"
      "CREATE TABLE requests("
      "  request_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, response BLOB NOT NULL,"
      "  create_time INTEGER NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
      "INSERT INTO counters VALUES('revision', 0);"
      "INSERT INTO counters VALUES('outbox', 0);"
      "CREATE TABLE outbox(sequence INTEGER PRIMARY KEY, record BLOB NOT NULL)",
      // 2: import marks (WriteTransaction::GetImportMark). A database from before them
      // starts with none: its next import marks the records identical to its data file
      // and leaves the others as they are.
      "CREATE TABLE import_marks(name TEXT PRIMARY KEY, revision INTEGER NOT NULL)"
      " WITHOUT ROWID",
      // 3: the audit trail (WriteTransaction::AppendAudit). A database from before it
      // starts with an empty trail. AUTOINCREMENT: a sequence is never reused.
      "CREATE TABLE audit("
      "  sequence INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
      "  principal TEXT NOT NULL, role TEXT NOT NULL, authenticated_by TEXT NOT NULL,"
      "  method TEXT NOT NULL, resource TEXT NOT NULL, request_id TEXT NOT NULL,"
      "  code INTEGER NOT NULL, message TEXT NOT NULL, fields TEXT NOT NULL,"
      "  validate_only INTEGER NOT NULL);"
      "CREATE INDEX audit_by_principal ON audit(principal, sequence);"
      "CREATE INDEX audit_by_resource ON audit(resource, sequence)",
      // 4: how many resources each collection holds (key and value '') and how many of
      // them carry each index entry, kept by triggers in every write's transaction, so a
      // total over a collection or one index entry is one row read, not a count of every
      // match. A database from before it is counted once, here. An index entry is counted
      // under its resource's collection: a resource row is written before its index rows
      // and deleted after them (Put, Delete).
      "CREATE TABLE index_counts(collection TEXT NOT NULL, key TEXT NOT NULL,"
      "  value TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(collection, key, value))"
      "  WITHOUT ROWID;"
      "INSERT INTO index_counts SELECT collection, '', '', count(*) FROM resources"
      "  GROUP BY collection;"
      "INSERT INTO index_counts SELECT r.collection, i.key, i.value, count(*)"
      "  FROM resource_index i JOIN resources r ON r.name = i.name"
      "  GROUP BY r.collection, i.key, i.value;"
      "CREATE TRIGGER resource_counted AFTER INSERT ON resources BEGIN"
      "  INSERT INTO index_counts VALUES(NEW.collection, '', '', 1)"
      "    ON CONFLICT(collection, key, value) DO UPDATE SET n = n + 1;"
      "END;"
      "CREATE TRIGGER resource_uncounted AFTER DELETE ON resources BEGIN"
      "  UPDATE index_counts SET n = n - 1"
      "    WHERE collection = OLD.collection AND key = '' AND value = '';"
      "END;"
      "CREATE TRIGGER index_entry_counted AFTER INSERT ON resource_index BEGIN"
      "  INSERT INTO index_counts SELECT collection, NEW.key, NEW.value, 1 FROM resources"
      "    WHERE name = NEW.name"
      "    ON CONFLICT(collection, key, value) DO UPDATE SET n = n + 1;"
      "END;"
      "CREATE TRIGGER index_entry_uncounted AFTER DELETE ON resource_index BEGIN"
      "  UPDATE index_counts SET n = n - 1 WHERE key = OLD.key AND value = OLD.value"
      "    AND collection = (SELECT collection FROM resources WHERE name = OLD.name);"
      "END",
      // 5: nothing here. On PostgreSQL the store keeps the counts per batch instead of
      // the triggers (a row updated many times in one transaction slows every later
      // update of it there); SQLite updates a row in place, so its triggers stay. Kept so
      // that both engines number their schemas alike.
      "SELECT 1",
  };
  return *migrations;
}

absl::StatusOr<std::unique_ptr<SqliteResourceStore>> SqliteResourceStore::Open(
    const SqliteStoreOptions& options) {
  std::unique_ptr<SqliteResourceStore> store(new SqliteResourceStore(options));
  absl::StatusOr<std::unique_ptr<sqlite::Connection>> writer =
      sqlite::Connection::Open(options.path);
  if (!writer.ok()) return writer.status();
  absl::Status status = sqlite::Migrate(**writer, ResourceStoreMigrations());
  if (!status.ok()) return status;
  store->writer_ = std::move(*writer);
  store->commits_.Start([s = store.get()](std::vector<PendingWrite>& batch) {
    return s->RunBatch(batch);
  });
  return store;
}

absl::StatusOr<std::unique_ptr<sqlite::Connection>> SqliteResourceStore::AcquireReader() {
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
  absl::StatusOr<std::unique_ptr<sqlite::Connection>> conn =
      sqlite::Connection::Open(options_.path);
  if (!conn.ok()) {
    absl::MutexLock lock(&readers_mu_);
    --open_readers_;
  }
  return conn;
}

void SqliteResourceStore::ReleaseReader(std::unique_ptr<sqlite::Connection> conn) {
  absl::MutexLock lock(&readers_mu_);
  idle_readers_.push_back(std::move(conn));
}

absl::Status SqliteResourceStore::Read(absl::FunctionRef<absl::Status(ReadView&)> fn) {
  absl::StatusOr<std::unique_ptr<sqlite::Connection>> conn = AcquireReader();
  if (!conn.ok()) return conn.status();
  absl::Status status = RunPrepared(conn->get(), "BEGIN");
  if (status.ok()) {
    SqliteReadView view(conn->get());
    status = fn(view);
    absl::Status end = RunPrepared(conn->get(), "COMMIT");
    if (status.ok()) status = end;
    if (!end.ok()) RunPrepared(conn->get(), "ROLLBACK").IgnoreError();
  }
  ReleaseReader(std::move(*conn));
  return status;
}

// Group commit (common/group_commit.h): the committer runs up to kMaxBatch queued writes
// in one SQLite transaction, each inside its own savepoint, and commits once.
void SqliteResourceStore::WriteAsync(WriteFn fn, WriteDone done) {
  commits_.Submit(std::move(fn), std::move(done));
}

// Stops the committer before the connections it uses go.
SqliteResourceStore::~SqliteResourceStore() { commits_.Stop(); }

int SqliteResourceStore::RunBatch(std::vector<PendingWrite>& batch) {
  sqlite::Connection* conn = writer_.get();
  auto fail_all = [&](const absl::Status& status) {
    for (PendingWrite& w : batch) w.result = status;
    RunPrepared(conn, "ROLLBACK").IgnoreError();
    return 0;
  };
  // IMMEDIATE takes the write lock up front, so a transaction never fails half-way
  // because another process wrote first.
  absl::Status status = RunPrepared(conn, "BEGIN IMMEDIATE");
  if (!status.ok()) {
    for (PendingWrite& w : batch) w.result = status;
    return 0;
  }
  int changes = 0;
  for (PendingWrite& w : batch) {
    status = RunPrepared(conn, "SAVEPOINT write");
    if (!status.ok()) return fail_all(status);
    SqliteWriteTransaction tx(conn, options_.service);
    w.result = w.fn(tx);
    if (w.result.ok()) {
      changes += tx.changes();
    } else {
      status = RunPrepared(conn, "ROLLBACK TO write");
      if (!status.ok()) return fail_all(status);
    }
    status = RunPrepared(conn, "RELEASE write");
    if (!status.ok()) return fail_all(status);
  }
  status = RunPrepared(conn, "COMMIT");
  if (!status.ok()) return fail_all(status);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return changes;
}

absl::StatusOr<std::vector<OutboxEntry>> SqliteResourceStore::ReadOutbox(int limit) {
  std::vector<OutboxEntry> entries;
  absl::StatusOr<std::unique_ptr<sqlite::Connection>> conn = AcquireReader();
  if (!conn.ok()) return conn.status();
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<sqlite::Statement> stmt = (*conn)->Prepare(
        "SELECT sequence, record FROM outbox ORDER BY sequence LIMIT ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, static_cast<int64_t>(limit));
    while (true) {
      absl::StatusOr<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      entries.push_back({stmt->Int(0), stmt->Blob(1)});
    }
  }();
  ReleaseReader(std::move(*conn));
  if (!status.ok()) return status;
  return entries;
}

absl::Status SqliteResourceStore::AckOutbox(int64_t up_to_sequence) {
  return Write([&](WriteTransaction& tx) {
    return dynamic_cast<SqliteWriteTransaction&>(tx).DeleteOutboxUpTo(up_to_sequence);
  });
}

absl::StatusOr<int64_t> SqliteResourceStore::OutboxBacklog() {
  int64_t backlog = 0;
  absl::Status status = Read([&](ReadView& view) {
    absl::StatusOr<int64_t> n = dynamic_cast<SqliteReadView&>(view).CountOutbox();
    if (!n.ok()) return n.status();
    backlog = *n;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return backlog;
}

absl::StatusOr<AuditPage> SqliteResourceStore::ListAudit(const AuditQuery& query) {
  AuditPage page;
  absl::Status status = Read([&](ReadView& view) {
    absl::StatusOr<AuditPage> read = dynamic_cast<SqliteReadView&>(view).ListAudit(query);
    if (!read.ok()) return read.status();
    page = *std::move(read);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return page;
}

void SqliteResourceStore::SetCommitListener(std::function<void()> listener) {
  commits_.SetCommitListener(std::move(listener));
}

absl::Status SqliteResourceStore::Ping() {
  return Read([](ReadView& view) { return view.Count("counters", {}).status(); });
}

}  // namespace sanhak::store
