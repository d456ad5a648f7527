// The PostgreSQL store against a real PostgreSQL server (tests/support/postgres_server.h):
// what only a shared, networked database shows. Several store objects (replicas) on one
// database write at once; a request recorded by one is found by the other; exactly one
// holds the relay lease and another takes it over; the server killed mid-burst fails
// writes UNAVAILABLE (never INTERNAL), loses no acknowledged write and leaves nothing
// half-written. The behaviours both engines share are the conformance suite's.
#include "common/postgres_resource_store.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/change_record.h"
#include "common/crud.h"
#include "common/postgres.h"
#include "common/store_factory.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"

namespace sanhak::store {
namespace {

using ::sanhak::testing::PostgresServer;

Resource MakeResource(std::string name, std::string collection, std::string data) {
  Resource r;
  r.name = std::move(name);
  r.collection = std::move(collection);
  r.data = std::move(data);
  r.type = "test.Thing";
  return r;
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new PostgresServer();
    if (!server_->Start()) {
      ADD_FAILURE() << "postgres did not start: " << server_->Log();
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(server_->running()) << server_->Log();
    const std::string name = absl::AsciiStrToLower(absl::StrCat(
        "t_", ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    absl::StatusOr<std::string> uri = server_->CreateDatabase(name);
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
  }

  std::unique_ptr<PostgresResourceStore> OpenStore(int max_queued_writes = 4096) {
    PostgresStoreOptions options;
    options.uri = uri_;
    options.service = "registry";
    options.max_readers = 4;
    options.max_queued_writes = max_queued_writes;
    absl::StatusOr<std::unique_ptr<PostgresResourceStore>> store =
        PostgresResourceStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // One column of every row of `sql`, as an operator's psql shows it.
  std::vector<std::string> Column(const std::string& sql) {
    absl::StatusOr<std::vector<std::vector<std::string>>> rows = server_->Query(uri_, sql);
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::vector<std::string> out;
    if (rows.ok()) {
      for (const auto& row : *rows) out.push_back(row.empty() ? "" : row[0]);
    }
    return out;
  }
  int64_t QueryInt(const std::string& sql) {
    std::vector<std::string> column = Column(sql);
    int64_t value = -1;
    if (column.size() != 1 || !absl::SimpleAtoi(column[0], &value)) {
      ADD_FAILURE() << sql << " gave " << column.size() << " rows";
    }
    return value;
  }

  static absl::StatusOr<Resource> Put(ResourceStore& store, Resource resource,
                                      const std::vector<IndexEntry>& index = {},
                                      absl::string_view search = "") {
    absl::StatusOr<Resource> out = absl::UnknownError("not run");
    absl::Status status = store.Write([&](WriteTransaction& tx) {
      out = tx.Put(resource, index, search);
      return out.status();
    });
    if (!status.ok()) return status;
    return out;
  }

  static absl::StatusOr<std::optional<Resource>> Get(ResourceStore& store,
                                                     const std::string& name) {
    std::optional<Resource> out;
    absl::Status status = store.Read([&](ReadView& view) {
      absl::StatusOr<std::optional<Resource>> got = view.Get(name);
      if (!got.ok()) return got.status();
      out = *got;
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return out;
  }

  static PostgresServer* server_;
  std::string uri_;
};

PostgresServer* PostgresStoreTest::server_ = nullptr;

// The basics end to end on the real server (the conformance suite has the rest): bytes
// and times round-trip, order is bytewise (Korean names too), filters, totals, keyset
// pages.
TEST_F(PostgresStoreTest, RoundTripOrderFiltersAndPages) {
  std::unique_ptr<PostgresResourceStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string data("\x00\x01\xff\x80 bytes", 10);
  absl::StatusOr<Resource> put =
      Put(*store, MakeResource("councils/a", "councils", data), {{"region", "seoul"}}, "미래모빌리티");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->revision, 1);
  absl::StatusOr<std::optional<Resource>> got = Get(*store, "councils/a");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->data, data);
  EXPECT_EQ((*got)->type, "test.Thing");
  EXPECT_EQ((*got)->create_time, put->create_time);
  EXPECT_EQ((*got)->update_time, put->update_time);

  // Bytewise order: "Z" < "a" < "가" < "나" (a locale's order would differ).
  for (const char* name : {"councils/나", "councils/Z", "councils/가", "councils/b"}) {
    ASSERT_TRUE(Put(*store, MakeResource(name, "councils", "x"),
                    {{"region", "busan"}, {"kind", "k"}, {"region", "busan"}},
                    "모빌리티 x")
                    .ok());
  }
  std::vector<std::string> names;
  ListQuery query;
  query.collection = "councils";
  query.limit = 2;
  int64_t total = -1;
  for (int page = 0; page < 10; ++page) {
    ListResult result;
    ASSERT_TRUE(store
                    ->Read([&](ReadView& view) {
                      absl::StatusOr<ListResult> listed = view.List(query);
                      if (!listed.ok()) return listed.status();
                      result = *std::move(listed);
                      return absl::OkStatus();
                    })
                    .ok());
    total = result.total;
    for (const Resource& r : result.resources) names.push_back(r.name);
    if (!result.more) break;
    query.after_name = result.resources.back().name;
  }
  EXPECT_EQ(total, 5);
  EXPECT_EQ(names, (std::vector<std::string>{"councils/Z", "councils/a", "councils/b",
                                              "councils/가", "councils/나"}));

  ListQuery filtered;
  filtered.collection = "councils";
  filtered.all_of = {{"kind", "k"}, {"region", "busan"}};
  filtered.text = "모빌";
  ListResult result;
  ASSERT_TRUE(store
                  ->Read([&](ReadView& view) {
                    absl::StatusOr<ListResult> listed = view.List(filtered);
                    if (!listed.ok()) return listed.status();
                    result = *std::move(listed);
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(result.total, 4);
  EXPECT_FALSE(result.more);
  // A repeated entry is kept once.
  EXPECT_EQ(QueryInt("SELECT count(*) FROM resource_index"), 1 + 4 * 2);

  absl::Status deleted =
      store->Write([](WriteTransaction& tx) { return tx.Delete("councils/nobody"); });
  EXPECT_EQ(deleted.code(), absl::StatusCode::kNotFound) << deleted;
}

// A write that fails rolls back alone (its savepoint), and one that carries on after a
// refused RecordRequest still commits (a failed statement does not poison the batch).
TEST_F(PostgresStoreTest, FailedWriteRollsBackAloneInItsBatch) {
  std::unique_ptr<PostgresResourceStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write([](WriteTransaction& tx) {
                     return tx.RecordRequest("req-1", "fp", "resp");
                   }).ok());
  absl::Notification release;
  absl::Notification holding;
  store->WriteAsync(
      [&](WriteTransaction&) {
        holding.Notify();
        release.WaitForNotification();
        return absl::OkStatus();
      },
      [](absl::Status s) { EXPECT_TRUE(s.ok()) << s; });
  holding.WaitForNotification();
  // These three queue behind the held one and share the next batch.
  std::atomic<int> outstanding{3};
  absl::Notification all_done;
  absl::Status failed, refused_then_put, plain;
  auto done = [&](absl::Status* out) {
    return [&, out](absl::Status s) {
      *out = s;
      if (outstanding.fetch_sub(1) == 1) all_done.Notify();
    };
  };
  store->WriteAsync(
      [](WriteTransaction& tx) {
        absl::StatusOr<Resource> r = tx.Put(MakeResource("items/failed", "items", "x"), {}, "");
        if (!r.ok()) return r.status();
        return absl::AbortedError("changed my mind");
      },
      done(&failed));
  store->WriteAsync(
      [](WriteTransaction& tx) {
        absl::Status again = tx.RecordRequest("req-1", "fp2", "other");
        EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
        return tx.Put(MakeResource("items/after-refusal", "items", "x"), {}, "").status();
      },
      done(&refused_then_put));
  store->WriteAsync(
      [](WriteTransaction& tx) {
        return tx.Put(MakeResource("items/plain", "items", "x"), {}, "").status();
      },
      done(&plain));
  release.Notify();
  all_done.WaitForNotification();
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(refused_then_put.ok()) << refused_then_put;
  EXPECT_TRUE(plain.ok()) << plain;
  EXPECT_EQ(Column("SELECT name FROM resources ORDER BY name"),
            (std::vector<std::string>{"items/after-refusal", "items/plain"}));
  // The failed write's revision and change record rolled back too: no gap.
  EXPECT_EQ(Column("SELECT revision FROM resources ORDER BY revision"),
            (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(Column("SELECT sequence FROM outbox ORDER BY sequence"),
            (std::vector<std::string>{"1", "2"}));
  // And its count: the batch's kept counts hold only what committed.
  EXPECT_EQ(Column("SELECT n FROM index_counts WHERE collection = 'items' AND key = ''"),
            (std::vector<std::string>{"2"}));
}

// One transaction that writes thousands of resources updates each counters row and each
// kept count's row once, at its end, not once per resource: PostgreSQL keeps a version
// of a row per update until the transaction ends and each later update walks them all,
// so per-resource updates made an import of 10,000 twice as slow per resource as one of
// 500, and 100,000 stalled (bench/README.md, "Data scale"). Told by the server's own
// statistics of updated rows, not by a clock.
TEST_F(PostgresStoreTest, ALargeTransactionUpdatesEachCountRowOnce) {
  std::unique_ptr<PostgresResourceStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  constexpr int kResources = 2000;
  int64_t counted_inside = -1;
  ASSERT_TRUE(store->Write([&](WriteTransaction& tx) -> absl::Status {
                     for (int i = 0; i < kResources; ++i) {
                       absl::StatusOr<Resource> put = tx.Put(
                           MakeResource(absl::StrFormat("items/%05d", i), "items", "x"),
                           {{"parity", absl::StrCat(i % 2)}, {"all", "yes"}}, "");
                       if (!put.ok()) return put.status();
                     }
                     // Counts read inside the write see its own writes.
                     absl::StatusOr<int64_t> n = tx.Count("items", {{"parity", "1"}});
                     if (!n.ok()) return n.status();
                     counted_inside = *n;
                     return absl::OkStatus();
                   }).ok());
  EXPECT_EQ(counted_inside, kResources / 2);
  EXPECT_EQ(QueryInt("SELECT max(revision) FROM resources"), kResources);
  EXPECT_EQ(QueryInt("SELECT value FROM counters WHERE name = 'outbox'"), kResources);
  EXPECT_EQ(Column("SELECT key || '=' || value || ':' || n FROM index_counts"
                   " WHERE collection = 'items' ORDER BY key, value"),
            (std::vector<std::string>{"=:2000", "all=yes:2000", "parity=0:1000",
                                      "parity=1:1000"}));
  // A backend reports its statistics when idle, within about a second: wait until they
  // show the inserts, then read the updates.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (QueryInt("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'resources'") <
             kResources &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(QueryInt("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'resources'"),
            kResources);
  // Once per counter (revision, outbox) and once per count row (4), give or take the
  // migrations' own.
  EXPECT_LE(QueryInt("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'counters'"),
            4);
  EXPECT_LE(QueryInt("SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables"
                     " WHERE relname = 'index_counts'"),
            8);
}

// A writer that does not keep the counts itself (a replica of the previous release,
// during a rolling update, or an operator's SQL) is still counted, by migration 4's
// triggers, alongside the store's own counting.
TEST_F(PostgresStoreTest, WritesOfAPreviousReleaseAreStillCounted) {
  std::unique_ptr<PostgresResourceStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Put(*store, MakeResource("items/new", "items", "x"), {{"k", "v"}}).ok());
  ASSERT_TRUE(server_
                  ->Query(uri_,
                          "INSERT INTO resources VALUES('items/old', 'items', 'x', 99, 1, 1,"
                          " '', 'test.Thing'); INSERT INTO resource_index VALUES('k', 'v',"
                          " 'items/old')")
                  .ok());
  ASSERT_TRUE(Put(*store, MakeResource("items/newer", "items", "x"), {{"k", "v"}}).ok());
  int64_t all = -1, kv = -1;
  ASSERT_TRUE(store->Read([&](ReadView& view) -> absl::Status {
                     absl::StatusOr<int64_t> n = view.Count("items", {});
                     if (!n.ok()) return n.status();
                     all = *n;
                     n = view.Count("items", {{"k", "v"}});
                     if (!n.ok()) return n.status();
                     kv = *n;
                     return absl::OkStatus();
                   }).ok());
  EXPECT_EQ(all, 3);
  EXPECT_EQ(kv, 3);
  ASSERT_TRUE(store->Write([](WriteTransaction& tx) { return tx.Delete("items/old"); }).ok());
  EXPECT_EQ(Column("SELECT key || '=' || value || ':' || n FROM index_counts"
                   " WHERE collection = 'items' ORDER BY key, value"),
            (std::vector<std::string>{"=:2", "k=v:2"}));
}

// Text PostgreSQL cannot hold (invalid UTF-8) fails that write INVALID_ARGUMENT, not
// INTERNAL, and the store goes on.
TEST_F(PostgresStoreTest, TextPostgresCannotHoldIsInvalidArgument) {
  std::unique_ptr<PostgresResourceStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<Resource> bad = Put(*store, MakeResource("items/\xff", "items", "x"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_TRUE(Put(*store, MakeResource("items/ok", "items", "x")).ok());
}

// The audit trail round-trips every field (a BOOLEAN among them) and pages by sequence.
TEST_F(PostgresStoreTest, AuditEntriesRoundTripAndPage) {
  std::unique_ptr<PostgresResourceStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time t0 = absl::FromUnixMicros(1700000000123456);
  ASSERT_TRUE(store->Write([&](WriteTransaction& tx) -> absl::Status {
                     for (int i = 0; i < 3; ++i) {
                       AuditEntry e;
                       e.time = t0 + absl::Seconds(i);
                       e.principal = i == 1 ? "kim" : "lee";
                       e.role = "editor";
                       e.authenticated_by = "token";
                       e.method = "UpdateCouncil";
                       e.resource = "councils/a";
                       e.request_id = absl::StrCat("r", i);
                       e.code = i;
                       e.message = i == 0 ? "" : "refused";
                       e.fields = {"display_name", "tags"};
                       e.validate_only = i == 2;
                       if (absl::Status s = tx.AppendAudit(e); !s.ok()) return s;
                     }
                     return absl::OkStatus();
                   }).ok());
  AuditQuery query;
  query.principal = "lee";
  query.limit = 1;
  absl::StatusOr<AuditPage> page = store->ListAudit(query);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_TRUE(page->more);
  EXPECT_EQ(page->entries[0].sequence, 1);
  EXPECT_EQ(page->entries[0].time, t0);
  EXPECT_FALSE(page->entries[0].validate_only);
  query.after_sequence = page->entries[0].sequence;
  page = store->ListAudit(query);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_FALSE(page->more);
  const AuditEntry& e = page->entries[0];
  EXPECT_EQ(e.sequence, 3);
  EXPECT_EQ(e.time, t0 + absl::Seconds(2));
  EXPECT_EQ(e.principal, "lee");
  EXPECT_EQ(e.role, "editor");
  EXPECT_EQ(e.authenticated_by, "token");
  EXPECT_EQ(e.method, "UpdateCouncil");
  EXPECT_EQ(e.resource, "councils/a");
  EXPECT_EQ(e.request_id, "r2");
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.message, "refused");
  EXPECT_EQ(e.fields, (std::vector<std::string>{"display_name", "tags"}));
  EXPECT_TRUE(e.validate_only);
}

// A database at schema version 1 (before import marks, the audit trail and the kept
// counts) is brought up to date on open: its data kept and counted, the later tables there.
TEST_F(PostgresStoreTest, ADatabaseAtAnOlderSchemaIsMigratedKeepingItsData) {
  {
    pg::ConnectOptions connect;
    connect.uri = uri_;
    absl::StatusOr<std::unique_ptr<pg::Connection>> conn = pg::Connection::Open(connect);
    ASSERT_TRUE(conn.ok()) << conn.status();
    const std::vector<std::string> first = {PostgresResourceStoreMigrations()[0]};
    ASSERT_TRUE(MigratePostgres(**conn, first).ok());
    ASSERT_TRUE((*conn)
                    ->Exec("INSERT INTO resources VALUES('items/old', 'items', 'x', 7, 1, 1, '',"
                           " 'test.Thing'); UPDATE counters SET value = 7 WHERE name = 'revision'")
                    .ok());
  }
  EXPECT_EQ(Column("SELECT version FROM schema_migrations"), (std::vector<std::string>{"1"}));
  std::unique_ptr<PostgresResourceStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Column("SELECT version FROM schema_migrations ORDER BY version"),
            (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  absl::StatusOr<std::optional<Resource>> old = Get(*store, "items/old");
  ASSERT_TRUE(old.ok() && old->has_value());
  EXPECT_EQ((*old)->revision, 7);
  std::optional<int64_t> mark = 0;
  ASSERT_TRUE(store->Write([&](WriteTransaction& tx) -> absl::Status {
                     absl::StatusOr<std::optional<int64_t>> m = tx.GetImportMark("items/old");
                     if (!m.ok()) return m.status();
                     mark = *m;
                     AuditEntry e;
                     e.method = "M";
                     return tx.AppendAudit(e);
                   }).ok());
  EXPECT_FALSE(mark.has_value());
  absl::StatusOr<Resource> next = Put(*store, MakeResource("items/new", "items", "x"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->revision, 8);
  // Migration 4 counted the old row; the new one is counted as written.
  int64_t items = -1;
  ASSERT_TRUE(store->Read([&](ReadView& view) -> absl::Status {
                     absl::StatusOr<int64_t> n = view.Count("items", {});
                     if (!n.ok()) return n.status();
                     items = *n;
                     return absl::OkStatus();
                   }).ok());
  EXPECT_EQ(items, 2);
}

// Migrations: recorded once per version, not rerun by a second opener, and a database
// with a newer schema is refused rather than written.
TEST_F(PostgresStoreTest, MigrationsRunOnceAndANewerSchemaIsRefused) {
  {
    std::unique_ptr<PostgresResourceStore> first = OpenStore();
    std::unique_ptr<PostgresResourceStore> second = OpenStore();
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
  }
  EXPECT_EQ(Column("SELECT version FROM schema_migrations ORDER BY version"),
            (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  ASSERT_TRUE(server_->Query(uri_, "INSERT INTO schema_migrations(version) VALUES(99)").ok());
  PostgresStoreOptions options;
  options.uri = uri_;
  absl::StatusOr<std::unique_ptr<PostgresResourceStore>> store =
      PostgresResourceStore::Open(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
}

TEST_F(PostgresStoreTest, OpenResourceStorePicksPostgresForAUri) {
  absl::StatusOr<std::unique_ptr<ResourceStore>> store =
      OpenResourceStore({uri_, "registry", 2, 100});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->generation(), 0);
  EXPECT_TRUE((*store)->Ping().ok());
  ASSERT_TRUE(Put(**store, MakeResource("items/a", "items", "x")).ok());
  EXPECT_EQ((*store)->generation(), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM resources"), 1);
}

// The registry's read cache on one replica while another writes: a hit is served only
// while no replica committed since it was loaded (the generation is the database's
// revision, read per call), so a write acknowledged by one replica is seen by the next Get
// on the other; and with the database down nothing is served from the cache.
TEST_F(PostgresStoreTest, AReplicasReadCacheSeesWhatAnotherReplicaCommitted) {
  std::unique_ptr<PostgresResourceStore> a = OpenStore();
  std::unique_ptr<PostgresResourceStore> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(Put(*a, MakeResource("items/x", "items", "one")).ok());
  int loads = 0;
  crud::ReadCache<std::string> cache(a.get());
  auto read = [&]() {
    return cache.Get("items/x", [&]() -> absl::StatusOr<std::string> {
      ++loads;
      absl::StatusOr<std::optional<Resource>> got = Get(*a, "items/x");
      if (!got.ok()) return got.status();
      if (!got->has_value()) return absl::NotFoundError("items/x");
      return (*got)->data;
    });
  };
  EXPECT_EQ(*read(), "one");
  EXPECT_EQ(*read(), "one");
  EXPECT_EQ(loads, 1);  // cached: nothing committed in between

  const int64_t before = a->generation();
  ASSERT_TRUE(Put(*b, MakeResource("items/x", "items", "two")).ok());
  EXPECT_GT(a->generation(), before);
  EXPECT_EQ(a->generation(), b->generation());
  EXPECT_EQ(*read(), "two");
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(*read(), "two");
  EXPECT_EQ(loads, 2);
  // A write that only reindexes changes what filtered lists return: it advances the
  // generation too.
  const int64_t before_reindex = a->generation();
  ASSERT_TRUE(b->Write([](WriteTransaction& tx) {
                 return tx.Reindex("items/x", {{"kind", "k"}}, "");
               }).ok());
  EXPECT_GT(a->generation(), before_reindex);
  // Any commit of any replica empties it, a delete too.
  ASSERT_TRUE(b->Write([](WriteTransaction& tx) { return tx.Delete("items/x"); }).ok());
  EXPECT_EQ(read().status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(Put(*b, MakeResource("items/x", "items", "three")).ok());
  EXPECT_EQ(*read(), "three");
  const int loads_before_outage = loads;
  server_->Kill();
  EXPECT_EQ(a->generation(), -1);
  absl::StatusOr<std::string> during = read();
  EXPECT_EQ(during.status().code(), absl::StatusCode::kUnavailable) << during.status();
  EXPECT_GT(loads, loads_before_outage);
  ASSERT_TRUE(server_->Restart()) << server_->Log();
  EXPECT_EQ(*read(), "three");
}

// generation() shares one read among the callers that arrive while it runs, yet never
// answers a caller with a read that started before it: each value includes every commit
// acknowledged (by any replica) before the call.
TEST_F(PostgresStoreTest, ConcurrentGenerationsIncludeEveryCommitAcknowledgedBefore) {
  std::unique_ptr<PostgresResourceStore> a = OpenStore();
  std::unique_ptr<PostgresResourceStore> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::atomic<int64_t> acknowledged{0};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 200; ++i) {
      absl::StatusOr<Resource> put =
          Put(*b, MakeResource(absl::StrCat("items/", i % 7), "items", absl::StrCat(i)));
      ASSERT_TRUE(put.ok()) << put.status();
      acknowledged = put->revision;
    }
    done = true;
  });
  std::atomic<int> calls{0}, stale{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        const int64_t floor = acknowledged.load();
        const int64_t g = a->generation();
        ++calls;
        if (g < floor) ++stale;
      }
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  EXPECT_GT(calls.load(), 100);
  EXPECT_EQ(stale.load(), 0) << "of " << calls.load();
  EXPECT_EQ(a->generation(), acknowledged.load());
}

// Two replicas writing at once: every write kept; revisions and outbox sequences unique,
// gap-free and in commit order (each record's sequence is its position in the outbox).
TEST_F(PostgresStoreTest, TwoStoresWritingConcurrentlyKeepEveryWriteGapFree) {
  std::unique_ptr<PostgresResourceStore> a = OpenStore();
  std::unique_ptr<PostgresResourceStore> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kThreadsPerStore = 4;
  constexpr int kWritesPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < 2; ++s) {
    for (int t = 0; t < kThreadsPerStore; ++t) {
      threads.emplace_back([&, s, t] {
        ResourceStore& store = s == 0 ? *a : *b;
        for (int i = 0; i < kWritesPerThread; ++i) {
          absl::StatusOr<Resource> put =
              Put(store, MakeResource(absl::StrCat("items/", s, "-", t, "-", i), "items", "x"),
                  {{"store", absl::StrCat(s)}}, "");
          if (!put.ok()) {
            ADD_FAILURE() << put.status();
            ++failures;
          }
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  constexpr int kTotal = 2 * kThreadsPerStore * kWritesPerThread;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM resources"), kTotal);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT revision) FROM resources"), kTotal);
  EXPECT_EQ(QueryInt("SELECT max(revision) FROM resources"), kTotal);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM resource_index"), kTotal);
  // The kept counts agree, whichever replica's batch counted what.
  EXPECT_EQ(Column("SELECT key || '=' || value || ':' || n FROM index_counts"
                   " WHERE collection = 'items' ORDER BY key, value"),
            (std::vector<std::string>{absl::StrCat("=:", kTotal),
                                      absl::StrCat("store=0:", kTotal / 2),
                                      absl::StrCat("store=1:", kTotal / 2)}));

  absl::StatusOr<std::vector<OutboxEntry>> outbox = b->ReadOutbox(10 * kTotal);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_EQ(outbox->size(), static_cast<size_t>(kTotal));
  std::set<std::string> named;
  for (size_t i = 0; i < outbox->size(); ++i) {
    EXPECT_EQ((*outbox)[i].sequence, static_cast<int64_t>(i + 1));
    changes::v1::ChangeRecord record;
    ASSERT_TRUE(record.ParseFromString((*outbox)[i].record));
    EXPECT_EQ(record.sequence(), (*outbox)[i].sequence);
    named.insert(record.resource_name());
  }
  EXPECT_EQ(named.size(), static_cast<size_t>(kTotal));
}

// Etag-style read-modify-write from both replicas on one record: read outside the write,
// then write only if the revision is still the one read (ABORTED otherwise, and the
// client retries). Every increment counts exactly once: no lost update.
TEST_F(PostgresStoreTest, EtagReadModifyWriteFromTwoStoresLosesNoUpdate) {
  std::unique_ptr<PostgresResourceStore> a = OpenStore();
  std::unique_ptr<PostgresResourceStore> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(Put(*a, MakeResource("counters/c", "counters", "0")).ok());
  constexpr int kThreadsPerStore = 3;
  constexpr int kIncrements = 15;
  std::atomic<int> conflicts{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < 2; ++s) {
    for (int t = 0; t < kThreadsPerStore; ++t) {
      threads.emplace_back([&, s] {
        ResourceStore& store = s == 0 ? *a : *b;
        for (int i = 0; i < kIncrements; ++i) {
          for (int attempt = 0; attempt < 1000; ++attempt) {
            absl::StatusOr<std::optional<Resource>> seen = Get(store, "counters/c");
            if (!seen.ok() || !seen->has_value()) {
              ++errors;
              return;
            }
            int value = 0;
            ASSERT_TRUE(absl::SimpleAtoi((*seen)->data, &value));
            const int64_t etag = (*seen)->revision;
            absl::Status status = store.Write([&](WriteTransaction& tx) -> absl::Status {
              absl::StatusOr<std::optional<Resource>> now = tx.Get("counters/c");
              if (!now.ok()) return now.status();
              if (!now->has_value() || (*now)->revision != etag) {
                return absl::AbortedError("etag mismatch");
              }
              return tx.Put(MakeResource("counters/c", "counters", absl::StrCat(value + 1)), {},
                            "")
                  .status();
            });
            if (status.ok()) break;
            if (status.code() != absl::StatusCode::kAborted) {
              ADD_FAILURE() << status;
              ++errors;
              return;
            }
            ++conflicts;
          }
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(errors.load(), 0);
  absl::StatusOr<std::optional<Resource>> final_value = Get(*b, "counters/c");
  ASSERT_TRUE(final_value.ok() && final_value->has_value());
  EXPECT_EQ((*final_value)->data, absl::StrCat(2 * kThreadsPerStore * kIncrements));
  // Real contention happened (else the test proved nothing about concurrent updates).
  EXPECT_GT(conflicts.load(), 0);
}

// A retried create landing on another replica finds the first one's recorded answer.
TEST_F(PostgresStoreTest, RequestRecordedByOneStoreIsFoundByTheOther) {
  std::unique_ptr<PostgresResourceStore> a = OpenStore();
  std::unique_ptr<PostgresResourceStore> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::string response("\x08\x01\x00\xff", 4);
  ASSERT_TRUE(a->Write([&](WriteTransaction& tx) {
                 return tx.RecordRequest("req-7", "fingerprint", response);
               }).ok());
  std::optional<RecordedRequest> found;
  ASSERT_TRUE(b->Write([&](WriteTransaction& tx) {
                 absl::StatusOr<std::optional<RecordedRequest>> f = tx.FindRequest("req-7");
                 if (!f.ok()) return f.status();
                 found = *f;
                 return absl::OkStatus();
               }).ok());
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->fingerprint, "fingerprint");
  EXPECT_EQ(found->response, response);
  absl::Status again = b->Write([&](WriteTransaction& tx) {
    return tx.RecordRequest("req-7", "fingerprint", "second");
  });
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
}

// Exactly one of two replicas holds the relay lease; when it goes, the other takes over.
TEST_F(PostgresStoreTest, RelayLeaseIsHeldByOneAndTakenOverWhenTheHolderGoes) {
  std::unique_ptr<PostgresResourceStore> a = OpenStore();
  std::unique_ptr<PostgresResourceStore> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  absl::StatusOr<bool> a_holds = a->HoldsRelayLease();
  ASSERT_TRUE(a_holds.ok()) << a_holds.status();
  EXPECT_TRUE(*a_holds);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<bool> b_holds = b->HoldsRelayLease();
    ASSERT_TRUE(b_holds.ok()) << b_holds.status();
    EXPECT_FALSE(*b_holds);
    a_holds = a->HoldsRelayLease();
    ASSERT_TRUE(a_holds.ok()) << a_holds.status();
    EXPECT_TRUE(*a_holds);
  }
  // Another service's lease is its own.
  PostgresStoreOptions events;
  events.uri = uri_;
  events.service = "events";
  absl::StatusOr<std::unique_ptr<PostgresResourceStore>> other =
      PostgresResourceStore::Open(events);
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<bool> other_holds = (*other)->HoldsRelayLease();
  ASSERT_TRUE(other_holds.ok());
  EXPECT_TRUE(*other_holds);

  a.reset();
  bool taken_over = false;
  for (int i = 0; i < 100 && !taken_over; ++i) {
    absl::StatusOr<bool> b_holds = b->HoldsRelayLease();
    ASSERT_TRUE(b_holds.ok()) << b_holds.status();
    taken_over = *b_holds;
    if (!taken_over) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(taken_over);
}

// The replica holding the relay lease hears of change records another replica commits
// (NOTIFY), not only of its own: its relay wakes at once instead of at its next poll.
TEST_F(PostgresStoreTest, CommitListenerHearsOfAnotherStoresCommits) {
  std::unique_ptr<PostgresResourceStore> relay = OpenStore();
  std::unique_ptr<PostgresResourceStore> writer = OpenStore();
  ASSERT_NE(relay, nullptr);
  ASSERT_NE(writer, nullptr);
  // A write before the listener is set, so the listen connection is surely up.
  ASSERT_TRUE(Put(*relay, MakeResource("items/first", "items", "x")).ok());
  absl::Mutex mu;
  int woken = 0;
  relay->SetCommitListener([&] {
    absl::MutexLock lock(&mu);
    ++woken;
  });
  auto woken_now = [&] {
    absl::MutexLock lock(&mu);
    return woken;
  };
  // The listen thread may still be connecting (it wakes once when it has): wait until
  // no wake-up comes for a while, then count from there.
  int settled = -1;
  for (int i = 0; i < 40 && settled != woken_now(); ++i) {
    settled = woken_now();
    absl::SleepFor(absl::Milliseconds(300));
  }
  // A write that appends no change record wakes nobody.
  ASSERT_TRUE(writer->Write([](WriteTransaction& tx) {
                     return tx.SetImportMark("items/x", 1);
                   }).ok());
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(woken_now(), settled);
  ASSERT_TRUE(Put(*writer, MakeResource("items/second", "items", "x")).ok());
  for (int i = 0; i < 200 && woken_now() == settled; ++i) {
    absl::SleepFor(absl::Milliseconds(25));
  }
  EXPECT_GT(woken_now(), settled);
}

// Connections idle across a restart (nothing used them during the outage) are found dead
// on first use and made again: the first write, read and lease check after the restart
// succeed.
TEST_F(PostgresStoreTest, IdleConnectionsAreRemadeAfterARestartWithoutAFailure) {
  std::unique_ptr<PostgresResourceStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Put(*store, MakeResource("items/before", "items", "x")).ok());
  ASSERT_TRUE(Get(*store, "items/before").ok());
  absl::StatusOr<bool> holds = store->HoldsRelayLease();
  ASSERT_TRUE(holds.ok() && *holds);
  ASSERT_TRUE(server_->Restart()) << server_->Log();
  absl::StatusOr<Resource> after = Put(*store, MakeResource("items/after", "items", "x"));
  EXPECT_TRUE(after.ok()) << after.status();
  absl::StatusOr<std::optional<Resource>> read = Get(*store, "items/before");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->has_value());
  holds = store->HoldsRelayLease();
  ASSERT_TRUE(holds.ok()) << holds.status();
  EXPECT_TRUE(*holds);
}

// PostgreSQL killed mid-burst and started again: during the outage writes fail
// UNAVAILABLE (never INTERNAL), reads too; after the restart both succeed on the same
// store objects; every acknowledged write is there, and each write is all or nothing
// (its two resources, their index entries and change records together).
TEST_F(PostgresStoreTest, ServerKilledMidBurstFailsUnavailableAndLosesNothing) {
  std::unique_ptr<PostgresResourceStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  constexpr int kWriters = 4;
  absl::Mutex mu;
  std::vector<std::string> acknowledged;
  // Failed writes whose outcome is known (nothing committed) and those cut off in COMMIT.
  std::vector<std::string> failed_known;
  std::map<absl::StatusCode, int> failure_codes;
  std::atomic<bool> stop{false};
  std::atomic<int> acked_after_restart{0};
  std::atomic<bool> restarted{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 100000 && !stop.load(); ++i) {
        const std::string id = absl::StrCat(w, "-", i);
        absl::Status status = store->Write([&](WriteTransaction& tx) -> absl::Status {
          for (const char* kind : {"items/a-", "items/b-"}) {
            absl::StatusOr<Resource> r =
                tx.Put(MakeResource(absl::StrCat(kind, id), "items", id), {{"writer", id}}, id);
            if (!r.ok()) return r.status();
          }
          return absl::OkStatus();
        });
        absl::MutexLock lock(&mu);
        if (status.ok()) {
          acknowledged.push_back(id);
          if (restarted.load()) ++acked_after_restart;
        } else {
          ++failure_codes[status.code()];
          EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
          if (status.message().find("during COMMIT") == absl::string_view::npos) {
            failed_known.push_back(id);
          }
        }
        if (!status.ok()) absl::SleepFor(absl::Milliseconds(20));
      }
    });
  }
  auto acked = [&] {
    absl::MutexLock lock(&mu);
    return acknowledged.size();
  };
  for (int i = 0; i < 1000 && acked() < 50; ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_GE(acked(), 50u);
  // Every reader connection open (and idle) when the server goes.
  auto read_in_parallel = [&] {
    std::atomic<int> failed{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 4; ++r) {
      readers.emplace_back([&] {
        absl::Status status = store->Read([](ReadView& view) {
          absl::SleepFor(absl::Milliseconds(50));
          return view.Count("items", {}).status();
        });
        if (!status.ok()) ++failed;
      });
    }
    for (std::thread& t : readers) t.join();
    return failed.load();
  };
  ASSERT_EQ(read_in_parallel(), 0);
  // Another replica, to read during the outage (leaving `store`'s pool as it is).
  std::unique_ptr<PostgresResourceStore> other = OpenStore();
  ASSERT_NE(other, nullptr);
  server_->Kill();
  // The outage: writes and reads fail UNAVAILABLE.
  const size_t acked_at_kill = acked();
  absl::SleepFor(absl::Milliseconds(300));
  absl::StatusOr<std::optional<Resource>> during = Get(*other, "items/a-0-0");
  EXPECT_EQ(during.status().code(), absl::StatusCode::kUnavailable) << during.status();
  EXPECT_EQ(other->Ping().code(), absl::StatusCode::kUnavailable);
  {
    absl::MutexLock lock(&mu);
    EXPECT_GT(failure_codes[absl::StatusCode::kUnavailable], 0);
  }
  // A write or two may have been in flight at the kill; none succeeds during the outage.
  EXPECT_LE(acked(), acked_at_kill + kWriters);

  ASSERT_TRUE(server_->Restart()) << server_->Log();
  restarted = true;
  for (int i = 0; i < 1000 && acked_after_restart.load() < 20; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  stop = true;
  for (std::thread& t : writers) t.join();
  EXPECT_GE(acked_after_restart.load(), 20);
  // Reads after the restart succeed at once, though every pooled connection died.
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::optional<Resource>> after = Get(*store, "items/a-0-0");
    EXPECT_TRUE(after.ok()) << i << ": " << after.status();
  }
  EXPECT_EQ(read_in_parallel(), 0);
  EXPECT_TRUE(store->Ping().ok());
  EXPECT_TRUE(other->Ping().ok());

  std::set<std::string> present;
  for (const std::string& name : Column("SELECT name FROM resources")) present.insert(name);
  absl::MutexLock lock(&mu);
  for (const std::string& id : acknowledged) {
    EXPECT_TRUE(present.count(absl::StrCat("items/a-", id))) << id;
    EXPECT_TRUE(present.count(absl::StrCat("items/b-", id))) << id;
  }
  for (const std::string& id : failed_known) {
    EXPECT_FALSE(present.count(absl::StrCat("items/a-", id))) << id;
    EXPECT_FALSE(present.count(absl::StrCat("items/b-", id))) << id;
  }
  // All or nothing, whatever the outcome the writer heard: pairs, each resource with its
  // index entry and its change record; revisions and sequences gap-free.
  const int64_t resources = QueryInt("SELECT count(*) FROM resources");
  EXPECT_EQ(resources % 2, 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM resource_index"), resources);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox"), resources);
  EXPECT_EQ(QueryInt("SELECT max(sequence) FROM outbox"), resources);
  EXPECT_EQ(QueryInt("SELECT max(revision) FROM resources"), resources);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM resources r WHERE NOT EXISTS (SELECT 1 FROM "
                     "resources o WHERE o.name = 'items/b-' || substr(r.name, 9)) AND "
                     "r.name LIKE 'items/a-%'"),
            0);
}

// The error mapping callers rely on to tell an outage from a bug.
TEST(PostgresErrorsTest, SqlStatesMapToCodes) {
  EXPECT_EQ(pg::StatusForSqlState("08006", "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pg::StatusForSqlState("57P01", "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pg::StatusForSqlState("57P03", "x").code(), absl::StatusCode::kUnavailable);
  absl::Status serialization = pg::StatusForSqlState("40001", "x");
  EXPECT_EQ(serialization.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(pg::IsRetryable(serialization));
  EXPECT_TRUE(pg::IsRetryable(pg::StatusForSqlState("40P01", "x")));
  EXPECT_FALSE(pg::IsRetryable(absl::AbortedError("etag mismatch")));
  EXPECT_EQ(pg::StatusForSqlState("23505", "x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(pg::StatusForSqlState("22021", "x").code(), absl::StatusCode::kInvalidArgument);
  absl::Status other = pg::StatusForSqlState("42P01", "relation \"nope\" does not exist");
  EXPECT_EQ(other.code(), absl::StatusCode::kInternal);
  EXPECT_NE(other.message().find("nope"), absl::string_view::npos);
}

TEST(PostgresConnectTest, NoServerIsUnavailable) {
  absl::StatusOr<sanhak::testing::ReservedPort> port = sanhak::testing::ReservedPort::Pick();
  ASSERT_TRUE(port.ok());
  PostgresStoreOptions options;
  options.uri = absl::StrCat("postgresql://sanhak@127.0.0.1:", port->port(), "/x");
  absl::StatusOr<std::unique_ptr<PostgresResourceStore>> store =
      PostgresResourceStore::Open(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

}  // namespace
}  // namespace sanhak::store
