#include "common/sqlite_resource_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace sanhak::store {
namespace {

const char kGetSql[] =
    "SELECT name, collection, data, revision, create_time, update_time "
    "FROM resources WHERE name = ?1";

Resource ReadResource(const sqlite::Statement& stmt) {
  Resource r;
  r.name = stmt.Text(0);
  r.collection = stmt.Text(1);
  r.data = stmt.Blob(2);
  r.revision = stmt.Int(3);
  r.create_time = absl::FromUnixMicros(stmt.Int(4));
  r.update_time = absl::FromUnixMicros(stmt.Int(5));
  return r;
}

// "WHERE ..." for a query's filters; binds start at ?2 after the collection at ?1.
std::string FilterSql(size_t index_entries, bool has_text) {
  std::string sql = " WHERE r.collection = ?1";
  int param = 2;
  for (size_t i = 0; i < index_entries; ++i, param += 2) {
    absl::StrAppend(&sql,
                    " AND EXISTS (SELECT 1 FROM resource_index i WHERE i.key = ?", param,
                    " AND i.value = ?", param + 1, " AND i.name = r.name)");
  }
  if (has_text) absl::StrAppend(&sql, " AND instr(r.search_text, ?", param, ") > 0");
  return sql;
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
    std::string where = FilterSql(query.all_of.size(), !query.text.empty());
    {
      absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(absl::StrCat(
          "SELECT r.name, r.collection, r.data, r.revision, r.create_time, r.update_time "
          "FROM resources r",
          where, " AND r.name > ?", 2 + 2 * query.all_of.size() + !query.text.empty(),
          " ORDER BY r.name LIMIT ?", 3 + 2 * query.all_of.size() + !query.text.empty()));
      if (!stmt.ok()) return stmt.status();
      int next = BindFilters(*stmt, query.collection, query.all_of, query.text);
      stmt->Bind(next, query.after_name);
      stmt->Bind(next + 1, static_cast<int64_t>(query.limit) + 1);
      while (true) {
        absl::StatusOr<bool> row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        if (static_cast<int>(result.resources.size()) == query.limit) {
          result.more = true;
          break;
        }
        result.resources.push_back(ReadResource(*stmt));
      }
    }
    absl::StatusOr<int64_t> total = CountWhere(where, query.collection, query.all_of, query.text);
    if (!total.ok()) return total.status();
    result.total = *total;
    return result;
  }

  absl::StatusOr<int64_t> Count(absl::string_view collection,
                                const std::vector<IndexEntry>& all_of) override {
    return CountWhere(FilterSql(all_of.size(), false), collection, all_of, "");
  }

 protected:
  absl::StatusOr<int64_t> CountWhere(const std::string& where, absl::string_view collection,
                                     const std::vector<IndexEntry>& all_of,
                                     absl::string_view text) {
    absl::StatusOr<sqlite::Statement> stmt =
        conn_->Prepare(absl::StrCat("SELECT count(*) FROM resources r", where));
    if (!stmt.ok()) return stmt.status();
    BindFilters(*stmt, collection, all_of, text);
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    return stmt->Int(0);
  }

  sqlite::Connection* conn_;
};

class SqliteWriteTransaction : public SqliteReadView, public WriteTransaction {
 public:
  explicit SqliteWriteTransaction(sqlite::Connection* conn) : SqliteReadView(conn) {}

  absl::StatusOr<Resource> Put(Resource resource, const std::vector<IndexEntry>& index,
                               absl::string_view search_text) override {
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
        "INSERT OR REPLACE INTO resources(name, collection, data, revision, create_time, "
        "update_time, search_text) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, resource.name)
        .Bind(2, resource.collection)
        .BindBlob(3, resource.data)
        .Bind(4, resource.revision)
        .Bind(5, absl::ToUnixMicros(resource.create_time))
        .Bind(6, absl::ToUnixMicros(resource.update_time))
        .Bind(7, search_text);
    absl::Status status = stmt->Run();
    if (!status.ok()) return status;
    status = WriteIndex(resource.name, index);
    if (!status.ok()) return status;
    return resource;
  }

  absl::Status Reindex(absl::string_view name, const std::vector<IndexEntry>& index,
                       absl::string_view search_text) override {
    absl::StatusOr<sqlite::Statement> stmt =
        conn_->Prepare("UPDATE resources SET search_text = ?2 WHERE name = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, name).Bind(2, search_text);
    absl::Status status = stmt->Run();
    if (!status.ok()) return status;
    return WriteIndex(name, index);
  }

  absl::Status Delete(absl::string_view name) override {
    absl::StatusOr<sqlite::Statement> stmt =
        conn_->Prepare("DELETE FROM resources WHERE name = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, name);
    absl::Status status = stmt->Run();
    if (!status.ok()) return status;
    if (sqlite3_changes(conn_->raw()) == 0) {
      return absl::NotFoundError(absl::StrCat(name, " does not exist"));
    }
    return WriteIndex(name, {});
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

 private:
  absl::StatusOr<int64_t> NextRevision() {
    absl::StatusOr<sqlite::Statement> stmt = conn_->Prepare(
        "UPDATE counters SET value = value + 1 WHERE name = 'revision' RETURNING value");
    if (!stmt.ok()) return stmt.status();
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::InternalError("revision counter missing");
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
};

// Runs `fn` between BEGIN and COMMIT on `conn`, rolling back when anything fails.
absl::Status RunPrepared(sqlite::Connection* conn, absl::string_view sql) {
  absl::StatusOr<sqlite::Statement> stmt = conn->Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  return stmt->Run();
}

template <typename View, typename Fn>
absl::Status InTransaction(sqlite::Connection* conn, absl::string_view begin, Fn fn) {
  absl::Status status = RunPrepared(conn, begin);
  if (!status.ok()) return status;
  View view(conn);
  status = fn(view);
  if (status.ok()) status = RunPrepared(conn, "COMMIT");
  if (!status.ok()) RunPrepared(conn, "ROLLBACK").IgnoreError();
  return status;
}

}  // namespace

const std::vector<std::string>& ResourceStoreMigrations() {
  static const auto* migrations = new std::vector<std::string>{
      // 1: resources with their index, idempotent requests, the revision sequence.
      "CREATE TABLE resources("
      "  name TEXT PRIMARY KEY, collection TEXT NOT NULL, data BLOB NOT NULL,"
      "  revision INTEGER NOT NULL, create_time INTEGER NOT NULL,"
      "  update_time INTEGER NOT NULL, search_text TEXT NOT NULL) WITHOUT ROWID;"
      "CREATE INDEX resources_by_collection ON resources(collection, name);"
      "CREATE TABLE resource_index("
      "  key TEXT NOT NULL, value TEXT NOT NULL, name TEXT NOT NULL,"
      "  PRIMARY KEY(key, value, name)) WITHOUT ROWID;"
      "CREATE INDEX resource_index_by_name ON resource_index(name);"
      "CREATE TABLE requests("
      "  request_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, response BLOB NOT NULL,"
      "  create_time INTEGER NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
      "INSERT INTO counters VALUES('revision', 0)",
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
  absl::MutexLock lock(&store->writer_mu_);
  store->writer_ = std::move(*writer);
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
  absl::Status status = InTransaction<SqliteReadView>(
      conn->get(), "BEGIN", [&](SqliteReadView& view) { return fn(view); });
  ReleaseReader(std::move(*conn));
  return status;
}

absl::Status SqliteResourceStore::Write(
    absl::FunctionRef<absl::Status(WriteTransaction&)> fn) {
  absl::MutexLock lock(&writer_mu_);
  // IMMEDIATE takes the write lock up front, so a transaction never fails half-way
  // because another process wrote first.
  return InTransaction<SqliteWriteTransaction>(
      writer_.get(), "BEGIN IMMEDIATE",
      [&](SqliteWriteTransaction& tx) { return fn(tx); });
}

absl::Status SqliteResourceStore::Ping() {
  return Read([](ReadView& view) { return view.Count("counters", {}).status(); });
}

}  // namespace sanhak::store
