// The store conformance suite: every behaviour the services rely on (revisions, keyset
// pagination, filters, all-or-nothing writes, the outbox, request-id idempotency, import
// marks, the audit trail, durability across reopen, migrations from an older schema,
// reads beside the writer, the bounded write queue), run against both engines: a real
// SQLite file and a real PostgreSQL database (tests/support/postgres_server.h). What
// only one engine has is tested beside it: sqlite_resource_store_test.cc (WAL, files),
// postgres_store_test.cc (several stores on one database, restarts).
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/overload.h"
#include "common/resource_names.h"
#include "common/resource_store.h"
#include "common/sqlite_resource_store.h"
#include "common/store_factory.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_support.h"

namespace sanhak::store {
namespace {

using ::sanhak::testing::TempDir;

Resource MakeResource(std::string name, std::string collection, std::string data) {
  Resource r;
  r.name = std::move(name);
  r.collection = std::move(collection);
  r.data = std::move(data);
  return r;
}

std::vector<std::string> Names(const std::vector<Resource>& resources) {
  std::vector<std::string> names;
  for (const Resource& r : resources) names.push_back(r.name);
  return names;
}

// Runs a raw SQL query returning one value on its own connection, as an operator's
// sqlite3 shell would.
std::string SqliteQueryOne(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text != nullptr) out = reinterpret_cast<const char*>(text);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

void SqliteExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr),
            SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

// The same as an operator's psql would: the first column of the first row.
std::string PostgresQueryOne(const std::string& uri, const std::string& sql) {
  PGconn* conn = PQconnectdb(uri.c_str());
  EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  PGresult* result = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  EXPECT_TRUE(status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
      << sql << ": " << PQresultErrorMessage(result);
  std::string out;
  if (status == PGRES_TUPLES_OK && PQntuples(result) > 0 && !PQgetisnull(result, 0, 0)) {
    out = PQgetvalue(result, 0, 0);
  }
  PQclear(result);
  PQfinish(conn);
  return out;
}

std::string EngineName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

// The schema version both engines reach: one migration per step, the same steps.
const int64_t kSchemaVersion = static_cast<int64_t>(ResourceStoreMigrations().size());

// Parameterized by engine: "sqlite" (a file in a temp dir) or "postgresql" (a fresh
// database on the run's server).
class ResourceStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    if (postgres()) {
      absl::StatusOr<std::string> uri = ::sanhak::testing::FreshPostgresDatabase();
      ASSERT_TRUE(uri.ok()) << uri.status();
      database_ = *uri;
    } else {
      database_ = dir_.File("store.db");
    }
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  bool postgres() const { return GetParam() == "postgresql"; }

  std::unique_ptr<ResourceStore> OpenStore(int max_readers = 8, int max_queued_writes = 4096) {
    absl::StatusOr<std::unique_ptr<ResourceStore>> store =
        OpenResourceStore({database_, "test", max_readers, max_queued_writes});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Raw SQL on a connection of its own, as an operator's shell; the first value.
  std::string QueryOne(const std::string& sql) {
    return postgres() ? PostgresQueryOne(database_, sql) : SqliteQueryOne(database_, sql);
  }
  void ExecRaw(const std::string& sql) {
    if (postgres()) {
      PostgresQueryOne(database_, sql);
    } else {
      SqliteExec(database_, sql);
    }
  }

  // The schema version the database records.
  std::string SchemaVersion() {
    return QueryOne(postgres() ? "SELECT max(version) FROM schema_migrations"
                               : "PRAGMA user_version");
  }
  // Plays a database an older release left: drops `tables` and records `version`.
  void DowngradeSchema(int64_t version, const std::vector<std::string>& tables) {
    std::string sql;
    // Migration 4's kept counts: their triggers, then their table.
    if (version < 4) {
      absl::StrAppend(
          &sql, postgres()
                    ? "DROP TRIGGER resource_counted ON resources; "
                      "DROP TRIGGER index_entry_counted ON resource_index; "
                      "DROP FUNCTION sanhak_count_resource(); "
                      "DROP FUNCTION sanhak_count_index_entry(); "
                    : "DROP TRIGGER resource_counted; DROP TRIGGER resource_uncounted; "
                      "DROP TRIGGER index_entry_counted; DROP TRIGGER index_entry_uncounted; ",
          "DROP TABLE index_counts; ");
    }
    for (const std::string& t : tables) absl::StrAppend(&sql, "DROP TABLE ", t, "; ");
    if (postgres()) {
      absl::StrAppend(&sql, "DELETE FROM schema_migrations WHERE version > ", version);
    } else {
      absl::StrAppend(&sql, "DELETE FROM sqlite_sequence; PRAGMA user_version=", version);
    }
    ExecRaw(sql);
  }
  // Plays a database a newer release migrated.
  void RecordNewerSchema() {
    ExecRaw(postgres() ? absl::StrCat("INSERT INTO schema_migrations(version) VALUES(",
                                      kSchemaVersion + 1, ")")
                       : absl::StrCat("PRAGMA user_version=", kSchemaVersion + 1));
  }
  absl::StatusOr<Resource> Put(Resource resource, const std::vector<IndexEntry>& index = {},
                               absl::string_view search = "") {
    absl::StatusOr<Resource> out = absl::UnknownError("not run");
    absl::Status status = store_->Write([&](WriteTransaction& tx) {
      out = tx.Put(resource, index, search);
      return out.status();
    });
    if (!status.ok()) return status;
    return out;
  }

  std::optional<Resource> Get(const std::string& name) {
    std::optional<Resource> out;
    absl::Status status = store_->Read([&](ReadView& view) {
      absl::StatusOr<std::optional<Resource>> got = view.Get(name);
      if (!got.ok()) return got.status();
      out = *got;
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return out;
  }

  ListResult List(const ListQuery& query) {
    ListResult out;
    absl::Status status = store_->Read([&](ReadView& view) {
      absl::StatusOr<ListResult> listed = view.List(query);
      if (!listed.ok()) return listed.status();
      out = *std::move(listed);
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return out;
  }

  int64_t Count(const std::string& collection, const std::vector<IndexEntry>& all_of) {
    int64_t out = -1;
    absl::Status status = store_->Read([&](ReadView& view) {
      absl::StatusOr<int64_t> n = view.Count(collection, all_of);
      if (!n.ok()) return n.status();
      out = *n;
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return out;
  }

  TempDir dir_;
  // A SQLite path or a PostgreSQL URI.
  std::string database_;
  std::unique_ptr<ResourceStore> store_;
};

TEST_P(ResourceStoreTest, PingOnFreshStore) { EXPECT_TRUE(store_->Ping().ok()); }

TEST_P(ResourceStoreTest, GetAbsentIsEmpty) {
  EXPECT_FALSE(Get("councils/nobody").has_value());
}

TEST_P(ResourceStoreTest, PutGetRoundTrip) {
  // Serialized protos are binary: NUL and high bytes must survive.
  const std::string data("\x0a\x00\xff미래", 9);
  absl::StatusOr<Resource> put =
      Put(MakeResource("councils/smart-green", "councils", data));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_GT(put->revision, 0);
  EXPECT_EQ(put->create_time, put->update_time);
  EXPECT_GT(put->create_time, absl::Now() - absl::Minutes(1));

  std::optional<Resource> got = Get("councils/smart-green");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->name, "councils/smart-green");
  EXPECT_EQ(got->collection, "councils");
  EXPECT_EQ(got->data, data);
  EXPECT_EQ(got->revision, put->revision);
  // What a create returns must be what a later get returns (clients compare them).
  EXPECT_EQ(got->create_time, put->create_time);
  EXPECT_EQ(got->update_time, put->update_time);
}

// Text a store keeps as text (names, index keys and values, search text) with a NUL or
// invalid UTF-8 is refused INVALID_ARGUMENT, naming the part, on every engine (PostgreSQL
// cannot hold it; SQLite alone would keep it), and nothing of the write is kept. Korean
// text is kept as it is.
TEST_P(ResourceStoreTest, TextAStoreCannotKeepIsInvalidArgumentOnEveryEngine) {
  struct Case {
    const char* what;
    Resource resource;
    std::vector<IndexEntry> index;
    std::string search;
  };
  const std::vector<Case> cases = {
      {"resource name", MakeResource("councils/\xff", "councils", "x"), {}, ""},
      {"resource name", MakeResource(std::string("councils/a\0b", 12), "councils", "x"), {}, ""},
      {"index value of field", MakeResource("councils/a", "councils", "x"),
       {{"field", std::string("f\0", 2)}}, ""},
      {"index key", MakeResource("councils/a", "councils", "x"), {{"\xc0\xaf", "v"}}, ""},
      {"search text", MakeResource("councils/a", "councils", "x"), {}, "\xed\xa0\x80"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Resource> put = Put(c.resource, c.index, c.search);
    EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(put.status().message().find(c.what), absl::string_view::npos) << put.status();
  }
  EXPECT_FALSE(Get("councils/a").has_value());
  absl::Status reindex = store_->Write([](WriteTransaction& tx) {
    return tx.Reindex("councils/a", {{"field", "\xff"}}, "");
  });
  EXPECT_EQ(reindex.code(), absl::StatusCode::kInvalidArgument) << reindex;
  ASSERT_TRUE(Put(MakeResource("councils/a", "councils", "x"), {{"field", "미래차"}},
                  "미래형 자동차")
                  .ok());
  ASSERT_TRUE(Get("councils/a").has_value());
}

TEST_P(ResourceStoreTest, ReplaceBumpsRevisionAndKeepsCreateTime) {
  absl::StatusOr<Resource> first = Put(MakeResource("councils/a", "councils", "v1"));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::SleepFor(absl::Milliseconds(5));
  absl::StatusOr<Resource> second = Put(MakeResource("councils/a", "councils", "v2"));
  ASSERT_TRUE(second.ok()) << second.status();

  EXPECT_GT(second->revision, first->revision);
  EXPECT_EQ(second->create_time, first->create_time);
  EXPECT_GT(second->update_time, first->update_time);

  std::optional<Resource> got = Get("councils/a");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->data, "v2");
  EXPECT_EQ(got->revision, second->revision);
  EXPECT_EQ(got->create_time, first->create_time);
  EXPECT_EQ(got->update_time, second->update_time);
}

TEST_P(ResourceStoreTest, RevisionIsSharedAndNeverRepeats) {
  // One sequence across names and across delete + re-create, so an etag taken before a
  // delete can never match the re-created resource.
  absl::StatusOr<Resource> a = Put(MakeResource("councils/a", "councils", "x"));
  absl::StatusOr<Resource> b = Put(MakeResource("regions/b", "regions", "x"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(b->revision, a->revision);
  ASSERT_TRUE(store_->Write([](WriteTransaction& tx) { return tx.Delete("councils/a"); }).ok());
  absl::StatusOr<Resource> again = Put(MakeResource("councils/a", "councils", "x"));
  ASSERT_TRUE(again.ok());
  EXPECT_GT(again->revision, b->revision);
}

TEST_P(ResourceStoreTest, SeveralPutsInOneWriteGetDistinctRevisions) {
  std::vector<int64_t> revisions;
  ASSERT_TRUE(store_
                  ->Write([&](WriteTransaction& tx) {
                    for (const char* name : {"councils/a", "councils/b", "councils/c"}) {
                      absl::StatusOr<Resource> r =
                          tx.Put(MakeResource(name, "councils", "x"), {}, "");
                      if (!r.ok()) return r.status();
                      revisions.push_back(r->revision);
                    }
                    // The transaction reads its own writes.
                    absl::StatusOr<std::optional<Resource>> got = tx.Get("councils/b");
                    if (!got.ok()) return got.status();
                    EXPECT_TRUE(got->has_value());
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_EQ(revisions.size(), 3u);
  EXPECT_LT(revisions[0], revisions[1]);
  EXPECT_LT(revisions[1], revisions[2]);
}

TEST_P(ResourceStoreTest, ListOrdersByNameWithinCollection) {
  for (const char* name : {"councils/d", "councils/b", "councils/a", "councils/c"}) {
    ASSERT_TRUE(Put(MakeResource(name, "councils", name)).ok());
  }
  // Another collection whose names sort in between must not leak in.
  ASSERT_TRUE(Put(MakeResource("councils-extra/x", "regions", "r")).ok());
  ASSERT_TRUE(Put(MakeResource("regions/a", "regions", "r")).ok());

  ListQuery query;
  query.collection = "councils";
  ListResult result = List(query);
  EXPECT_EQ(Names(result.resources),
            (std::vector<std::string>{"councils/a", "councils/b", "councils/c", "councils/d"}));
  EXPECT_FALSE(result.more);
  EXPECT_EQ(result.total, 4);
  EXPECT_EQ(result.resources[2].data, "councils/c");
}

TEST_P(ResourceStoreTest, KeysetPagination) {
  for (char c = 'a'; c <= 'e'; ++c) {
    ASSERT_TRUE(Put(MakeResource(absl::StrCat("councils/", std::string(1, c)), "councils",
                                 "x"))
                    .ok());
  }
  ListQuery query;
  query.collection = "councils";
  query.limit = 2;

  ListResult page1 = List(query);
  EXPECT_EQ(Names(page1.resources), (std::vector<std::string>{"councils/a", "councils/b"}));
  EXPECT_TRUE(page1.more);
  EXPECT_EQ(page1.total, 5);

  query.after_name = page1.resources.back().name;
  ListResult page2 = List(query);
  EXPECT_EQ(Names(page2.resources), (std::vector<std::string>{"councils/c", "councils/d"}));
  EXPECT_TRUE(page2.more);
  EXPECT_EQ(page2.total, 5);  // Total ignores the page position.

  query.after_name = page2.resources.back().name;
  ListResult page3 = List(query);
  EXPECT_EQ(Names(page3.resources), std::vector<std::string>{"councils/e"});
  EXPECT_FALSE(page3.more);
  EXPECT_EQ(page3.total, 5);
}

TEST_P(ResourceStoreTest, PageExactlyFullHasNoMore) {
  // `more` must not be set just because the page is full; an empty next page would
  // otherwise be handed out with a token.
  for (const char* name : {"councils/a", "councils/b"}) {
    ASSERT_TRUE(Put(MakeResource(name, "councils", "x")).ok());
  }
  ListQuery query;
  query.collection = "councils";
  query.limit = 2;
  ListResult result = List(query);
  EXPECT_EQ(result.resources.size(), 2u);
  EXPECT_FALSE(result.more);
}

TEST_P(ResourceStoreTest, PaginationSkipsNothingWhenRowsAreInsertedBehind) {
  // Keyset pagination: a row inserted before the cursor does not shift the next page.
  for (const char* name : {"councils/b", "councils/d", "councils/f"}) {
    ASSERT_TRUE(Put(MakeResource(name, "councils", "x")).ok());
  }
  ListQuery query;
  query.collection = "councils";
  query.limit = 1;
  ListResult page1 = List(query);
  ASSERT_EQ(Names(page1.resources), std::vector<std::string>{"councils/b"});
  ASSERT_TRUE(Put(MakeResource("councils/a", "councils", "x")).ok());
  query.after_name = "councils/b";
  ListResult page2 = List(query);
  EXPECT_EQ(Names(page2.resources), std::vector<std::string>{"councils/d"});
  EXPECT_EQ(page2.total, 4);
}

class IndexedStoreTest : public ResourceStoreTest {
 protected:
  void SetUp() override {
    ResourceStoreTest::SetUp();
    struct Row {
      const char* name;
      std::vector<IndexEntry> index;
      const char* search;
    };
    const Row rows[] = {
        {"memberships/1", {{"council", "councils/a"}, {"org", "organizations/x"}},
         "미래 모빌리티"},
        {"memberships/2", {{"council", "councils/a"}, {"org", "organizations/y"}},
         "Smart Green"},
        {"memberships/3", {{"council", "councils/b"}, {"org", "organizations/x"}},
         "미래 에너지"},
        {"memberships/4", {{"council", "councils/b"}, {"org", "organizations/y"}},
         "서울 모빌리티 허브"},
    };
    for (const Row& row : rows) {
      ASSERT_TRUE(Put(MakeResource(row.name, "memberships", "x"), row.index,
                      NormalizeSearchText(row.search))
                      .ok());
    }
    // Same index entries on another collection must never match a memberships query.
    ASSERT_TRUE(Put(MakeResource("notes/1", "notes", "x"), {{"council", "councils/a"}},
                    NormalizeSearchText("미래 모빌리티"))
                    .ok());
  }

  ListResult ListMemberships(std::vector<IndexEntry> all_of, std::string text = "") {
    ListQuery query;
    query.collection = "memberships";
    query.all_of = std::move(all_of);
    query.text = NormalizeSearchText(text);
    return List(query);
  }
};

TEST_P(IndexedStoreTest, OneIndexEntry) {
  ListResult result = ListMemberships({{"council", "councils/a"}});
  EXPECT_EQ(Names(result.resources),
            (std::vector<std::string>{"memberships/1", "memberships/2"}));
  EXPECT_EQ(result.total, 2);
}

TEST_P(IndexedStoreTest, AllOfIsAnd) {
  ListResult result = ListMemberships({{"council", "councils/b"}, {"org", "organizations/x"}});
  EXPECT_EQ(Names(result.resources), std::vector<std::string>{"memberships/3"});
  EXPECT_EQ(result.total, 1);
  // Two values of one key: nothing carries both.
  EXPECT_TRUE(ListMemberships({{"council", "councils/a"}, {"council", "councils/b"}})
                  .resources.empty());
  EXPECT_TRUE(ListMemberships({{"council", "councils/zzz"}}).resources.empty());
}

TEST_P(IndexedStoreTest, TextMatchesNormalizedSubstring) {
  EXPECT_EQ(Names(ListMemberships({}, "미래 모빌리티").resources),
            std::vector<std::string>{"memberships/1"});
  EXPECT_EQ(Names(ListMemberships({}, "모빌리티").resources),
            (std::vector<std::string>{"memberships/1", "memberships/4"}));
  EXPECT_EQ(Names(ListMemberships({}, "smart GREEN").resources),
            std::vector<std::string>{"memberships/2"});
  EXPECT_EQ(Names(ListMemberships({}, "미래").resources),
            (std::vector<std::string>{"memberships/1", "memberships/3"}));
  EXPECT_TRUE(ListMemberships({}, "부산").resources.empty());
}

TEST_P(IndexedStoreTest, TextAndIndexTogetherWithPagination) {
  ListQuery query;
  query.collection = "memberships";
  query.all_of = {{"org", "organizations/x"}};
  query.text = NormalizeSearchText("미래");
  query.limit = 1;
  ListResult page1 = List(query);
  EXPECT_EQ(Names(page1.resources), std::vector<std::string>{"memberships/1"});
  EXPECT_TRUE(page1.more);
  EXPECT_EQ(page1.total, 2);
  query.after_name = "memberships/1";
  ListResult page2 = List(query);
  EXPECT_EQ(Names(page2.resources), std::vector<std::string>{"memberships/3"});
  EXPECT_FALSE(page2.more);
  EXPECT_EQ(page2.total, 2);
}

TEST_P(IndexedStoreTest, Count) {
  EXPECT_EQ(Count("memberships", {}), 4);
  EXPECT_EQ(Count("memberships", {{"org", "organizations/y"}}), 2);
  EXPECT_EQ(Count("memberships", {{"org", "organizations/y"}, {"council", "councils/b"}}), 1);
  EXPECT_EQ(Count("memberships", {{"org", "organizations/none"}}), 0);
  EXPECT_EQ(Count("notes", {{"council", "councils/a"}}), 1);
  EXPECT_EQ(Count("nothing", {}), 0);
}

// CountEach answers what Count would for each value, in the order asked: values matched
// by nothing, asked twice, or only in another collection included; Korean values too.
TEST_P(IndexedStoreTest, CountEachIsCountForEveryValueInOrder) {
  ASSERT_TRUE(Put(MakeResource("memberships/5", "memberships", "x"),
                  {{"council", "councils/부산"}, {"org", "organizations/x"}}, "")
                  .ok());
  const std::vector<std::string> councils = {"councils/b", "councils/none", "councils/a",
                                             "councils/부산", "councils/b"};
  for (const std::vector<IndexEntry>& all_of :
       std::vector<std::vector<IndexEntry>>{{}, {{"org", "organizations/x"}}}) {
    std::vector<int64_t> each;
    absl::Status status = store_->Read([&](ReadView& view) {
      absl::StatusOr<std::vector<int64_t>> n =
          view.CountEach("memberships", "council", councils, all_of);
      if (!n.ok()) return n.status();
      each = *std::move(n);
      return absl::OkStatus();
    });
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(each.size(), councils.size());
    for (size_t i = 0; i < councils.size(); ++i) {
      std::vector<IndexEntry> filter = {{"council", councils[i]}};
      filter.insert(filter.end(), all_of.begin(), all_of.end());
      EXPECT_EQ(each[i], Count("memberships", filter)) << councils[i];
    }
    EXPECT_EQ(each[0], all_of.empty() ? 2 : 1);
    EXPECT_EQ(each[1], 0);
    EXPECT_EQ(each[3], 1);
  }
  absl::Status empty = store_->Read([&](ReadView& view) {
    absl::StatusOr<std::vector<int64_t>> n = view.CountEach("memberships", "council", {}, {});
    if (!n.ok()) return n.status();
    EXPECT_TRUE(n->empty());
    return absl::OkStatus();
  });
  EXPECT_TRUE(empty.ok()) << empty;
}

// A list's total over more than one filter (or with text) reads at most
// kCountedCandidates candidates of the first filter: exact while there are no more, then
// scaled from the share of them that match (AIP-158 allows an estimate). Count, which
// guards deletes and feeds figures, stays exact.
TEST_P(ResourceStoreTest, ListTotalsReadAtMostTheCountedCandidatesAndCountStaysExact) {
  constexpr int kItems = store::kCountedCandidates + 500;
  ASSERT_TRUE(store_
                  ->Write([&](WriteTransaction& tx) -> absl::Status {
                    for (int i = 0; i < kItems; ++i) {
                      absl::StatusOr<Resource> put = tx.Put(
                          MakeResource(absl::StrFormat("items/%05d", i), "items", "x"),
                          {{"all", "yes"},
                           {"parity", absl::StrCat(i % 2)},
                           {"late", i >= store::kCountedCandidates ? "yes" : "no"}},
                          i % 3 == 0 ? "three" : "other");
                      if (!put.ok()) return put.status();
                      if (i < store::kCountedCandidates - 1) {
                        put = tx.Put(MakeResource(absl::StrFormat("few/%05d", i), "few", "x"),
                                     {{"all", "yes"}, {"parity", absl::StrCat(i % 2)}}, "");
                        if (!put.ok()) return put.status();
                      }
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  ListQuery query;
  query.collection = "items";
  query.limit = 10;
  // One filter: the kept count, exact.
  query.all_of = {{"parity", "1"}};
  EXPECT_EQ(List(query).total, kItems / 2);
  // Two: half of the first 1,000 candidates match, scaled to the 1,500: 750, as it is.
  query.all_of = {{"all", "yes"}, {"parity", "1"}};
  ListResult page = List(query);
  EXPECT_EQ(page.total, 750);
  ASSERT_EQ(page.resources.size(), 10u);
  // The next page's total is the same estimate.
  query.after_name = page.resources.back().name;
  EXPECT_EQ(List(query).total, 750);
  query.after_name.clear();
  // None of the first 1,000 candidates is late: the estimate says 0 while 500 are. Count
  // says 500.
  query.all_of = {{"all", "yes"}, {"late", "yes"}};
  EXPECT_EQ(List(query).total, 0);
  EXPECT_EQ(Count("items", {{"all", "yes"}, {"late", "yes"}}), 500);
  EXPECT_EQ(List(query).resources.size(), 10u);
  // Text: 334 of the first 1,000 say "three": 501 of the 1,500 (500 do).
  query.all_of = {{"all", "yes"}};
  query.text = "three";
  EXPECT_EQ(List(query).total, 501);
  query.all_of.clear();
  EXPECT_EQ(List(query).total, 501);
  // 999 candidates: every one is read, and the total is exact.
  query.collection = "few";
  query.text.clear();
  query.all_of = {{"all", "yes"}, {"parity", "1"}};
  EXPECT_EQ(List(query).total, (store::kCountedCandidates - 1) / 2);
}

// A page that filters beyond its first index filter (a second filter, or text) reads at
// most ListQuery::scan_limit candidates: where few match, it ends early at the last
// candidate read (`more`, `resume_after`) instead of reading every candidate, and a walk
// that follows resume_after still finds every match once.
TEST_P(ResourceStoreTest, AScanLimitEndsASparsePageAtTheLastCandidateRead) {
  constexpr int kItems = 2500;
  const std::set<int> rare = {500, 999, 2300};
  ASSERT_TRUE(store_
                  ->Write([&](WriteTransaction& tx) -> absl::Status {
                    for (int i = 0; i < kItems; ++i) {
                      const bool is_rare = rare.count(i) > 0;
                      absl::StatusOr<Resource> put = tx.Put(
                          MakeResource(absl::StrFormat("items/%05d", i), "items", "x"),
                          {{"all", "yes"}, {"rare", is_rare ? "yes" : "no"}},
                          is_rare ? "드문" : "흔한");
                      if (!put.ok()) return put.status();
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  for (const bool by_text : {false, true}) {
    SCOPED_TRACE(by_text ? "text" : "second filter");
    ListQuery query;
    query.collection = "items";
    query.limit = 10;
    query.count_total = false;
    if (by_text) {
      query.text = NormalizeSearchText("드문");
    } else {
      query.all_of = {{"all", "yes"}, {"rare", "yes"}};
    }
    // Without a bound the first page reads on until it holds every match.
    EXPECT_EQ(Names(List(query).resources),
              (std::vector<std::string>{"items/00500", "items/00999", "items/02300"}));

    query.scan_limit = 1000;
    ListResult first = List(query);
    EXPECT_EQ(Names(first.resources),
              (std::vector<std::string>{"items/00500", "items/00999"}));
    EXPECT_TRUE(first.more);
    EXPECT_EQ(first.resume_after, "items/00999");
    query.after_name = first.resume_after;
    ListResult second = List(query);
    EXPECT_TRUE(second.resources.empty());
    EXPECT_TRUE(second.more);
    EXPECT_EQ(second.resume_after, "items/01999");
    query.after_name = second.resume_after;
    ListResult third = List(query);
    EXPECT_EQ(Names(third.resources), std::vector<std::string>{"items/02300"});
    EXPECT_FALSE(third.more);

    // A page that fills before its bound ends at its last resource, as without one.
    query.after_name.clear();
    query.limit = 1;
    ListResult full = List(query);
    EXPECT_EQ(Names(full.resources), std::vector<std::string>{"items/00500"});
    EXPECT_TRUE(full.more);
    EXPECT_EQ(full.resume_after, "items/00500");
  }
  // One filter alone returns every candidate it reads: the bound changes nothing.
  ListQuery one;
  one.collection = "items";
  one.all_of = {{"rare", "no"}};
  one.limit = 10;
  one.scan_limit = 5;
  ListResult page = List(one);
  EXPECT_EQ(page.resources.size(), 10u);
  EXPECT_TRUE(page.more);
  EXPECT_EQ(page.resume_after, "items/00009");
}

TEST_P(IndexedStoreTest, ReindexChangesIndexNotRevision) {
  std::optional<Resource> before = Get("memberships/1");
  ASSERT_TRUE(before.has_value());
  ASSERT_TRUE(store_
                  ->Write([](WriteTransaction& tx) {
                    return tx.Reindex("memberships/1",
                                      {{"council", "councils/c"}, {"org", "organizations/x"}},
                                      NormalizeSearchText("부산 항만"));
                  })
                  .ok());
  std::optional<Resource> after = Get("memberships/1");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->revision, before->revision);
  EXPECT_EQ(after->update_time, before->update_time);
  EXPECT_EQ(after->data, before->data);

  EXPECT_EQ(Names(ListMemberships({{"council", "councils/a"}}).resources),
            std::vector<std::string>{"memberships/2"});
  EXPECT_EQ(Names(ListMemberships({{"council", "councils/c"}}).resources),
            std::vector<std::string>{"memberships/1"});
  EXPECT_EQ(Names(ListMemberships({}, "부산").resources),
            std::vector<std::string>{"memberships/1"});
  EXPECT_EQ(Names(ListMemberships({}, "미래").resources),
            std::vector<std::string>{"memberships/3"});
}

TEST_P(IndexedStoreTest, PutReplacesIndex) {
  ASSERT_TRUE(Put(MakeResource("memberships/1", "memberships", "y"),
                  {{"council", "councils/b"}}, "")
                  .ok());
  EXPECT_EQ(Count("memberships", {{"council", "councils/a"}}), 1);
  EXPECT_EQ(Count("memberships", {{"council", "councils/b"}}), 3);
  EXPECT_EQ(Count("memberships", {{"org", "organizations/x"}}), 1);
}

TEST_P(IndexedStoreTest, DeleteRemovesResourceAndIndex) {
  ASSERT_TRUE(
      store_->Write([](WriteTransaction& tx) { return tx.Delete("memberships/1"); }).ok());
  EXPECT_FALSE(Get("memberships/1").has_value());
  EXPECT_EQ(Names(ListMemberships({{"council", "councils/a"}}).resources),
            std::vector<std::string>{"memberships/2"});
  EXPECT_EQ(Count("memberships", {}), 3);
  // No orphaned index rows are left behind in the file.
  EXPECT_EQ(QueryOne(
                     "SELECT count(*) FROM resource_index WHERE name = 'memberships/1'"),
            "0");
}

TEST_P(ResourceStoreTest, DeleteAbsentIsNotFound) {
  absl::Status status =
      store_->Write([](WriteTransaction& tx) { return tx.Delete("councils/nobody"); });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("councils/nobody"), absl::string_view::npos);
}

TEST_P(ResourceStoreTest, FailedWriteRollsBackEverything) {
  absl::StatusOr<Resource> kept = Put(MakeResource("councils/kept", "councils", "v1"),
                                      {{"k", "v"}}, "kept");
  ASSERT_TRUE(kept.ok());

  absl::Status status = store_->Write([](WriteTransaction& tx) {
    for (const char* name : {"councils/x", "councils/y"}) {
      absl::StatusOr<Resource> r = tx.Put(MakeResource(name, "councils", "x"), {{"k", "v"}},
                                          "rolled back");
      if (!r.ok()) return r.status();
    }
    absl::StatusOr<Resource> r =
        tx.Put(MakeResource("councils/kept", "councils", "v2"), {}, "changed");
    if (!r.ok()) return r.status();
    if (absl::Status s = tx.Delete("councils/x"); !s.ok()) return s;
    if (absl::Status s = tx.RecordRequest("req-1", "fp", "resp"); !s.ok()) return s;
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(status.message(), "changed my mind");

  EXPECT_FALSE(Get("councils/x").has_value());
  EXPECT_FALSE(Get("councils/y").has_value());
  std::optional<Resource> got = Get("councils/kept");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->data, "v1");
  EXPECT_EQ(got->revision, kept->revision);
  EXPECT_EQ(Count("councils", {{"k", "v"}}), 1);
  ListQuery query;
  query.collection = "councils";
  query.text = "kept";
  EXPECT_EQ(List(query).total, 1);

  std::optional<RecordedRequest> recorded;
  ASSERT_TRUE(store_
                  ->Write([&](WriteTransaction& tx) {
                    absl::StatusOr<std::optional<RecordedRequest>> found =
                        tx.FindRequest("req-1");
                    if (!found.ok()) return found.status();
                    recorded = *found;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_FALSE(recorded.has_value());

  // The revision counter rolled back too, and the store still takes writes.
  absl::StatusOr<Resource> next = Put(MakeResource("councils/z", "councils", "z"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->revision, kept->revision + 1);
}

TEST_P(ResourceStoreTest, RecordAndFindRequest) {
  const std::string response("\x08\x01\x00\xff", 4);
  absl::Status status = store_->Write([&](WriteTransaction& tx) {
    absl::StatusOr<std::optional<RecordedRequest>> before = tx.FindRequest("req-1");
    if (!before.ok()) return before.status();
    EXPECT_FALSE(before->has_value());
    return tx.RecordRequest("req-1", "fingerprint-1", response);
  });
  ASSERT_TRUE(status.ok()) << status;

  status = store_->Write([&](WriteTransaction& tx) {
    absl::StatusOr<std::optional<RecordedRequest>> found = tx.FindRequest("req-1");
    if (!found.ok()) return found.status();
    EXPECT_TRUE(found->has_value());
    if (found->has_value()) {
      EXPECT_EQ((*found)->fingerprint, "fingerprint-1");
      EXPECT_EQ((*found)->response, response);
    }
    absl::StatusOr<std::optional<RecordedRequest>> other = tx.FindRequest("req-2");
    if (!other.ok()) return other.status();
    EXPECT_FALSE(other->has_value());
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;

  // A request id is answered once; recording it again is a conflict, not an overwrite.
  status = store_->Write([](WriteTransaction& tx) {
    return tx.RecordRequest("req-1", "fingerprint-2", "other");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(ResourceStoreTest, DataSurvivesReopen) {
  absl::StatusOr<Resource> put = Put(MakeResource("councils/a", "councils", "persisted"),
                                     {{"region", "regions/seoul"}}, "미래모빌리티");
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(store_
                  ->Write([](WriteTransaction& tx) {
                    return tx.RecordRequest("req-1", "fp", "resp");
                  })
                  .ok());
  store_.reset();

  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  std::optional<Resource> got = Get("councils/a");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->data, "persisted");
  EXPECT_EQ(got->revision, put->revision);
  EXPECT_EQ(got->create_time, put->create_time);
  EXPECT_EQ(Count("councils", {{"region", "regions/seoul"}}), 1);
  ListQuery query;
  query.collection = "councils";
  query.text = "모빌리티";
  EXPECT_EQ(List(query).total, 1);

  // The revision sequence continues instead of restarting (etags stay unique).
  absl::StatusOr<Resource> next = Put(MakeResource("councils/b", "councils", "x"));
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->revision, put->revision);

  absl::Status status = store_->Write([](WriteTransaction& tx) {
    absl::StatusOr<std::optional<RecordedRequest>> found = tx.FindRequest("req-1");
    if (!found.ok()) return found.status();
    EXPECT_TRUE(found->has_value());
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
}

// Import marks (what the last import left, WriteTransaction::GetImportMark): kept across
// restarts, written and rolled back with their transaction, outliving the resource they
// mark, and invisible to the change feed.
class ImportMarkTest : public ResourceStoreTest {
 protected:
  std::optional<int64_t> Mark(const std::string& name) {
    std::optional<int64_t> out;
    absl::Status status = store_->Write([&](WriteTransaction& tx) {
      absl::StatusOr<std::optional<int64_t>> mark = tx.GetImportMark(name);
      if (!mark.ok()) return mark.status();
      out = *mark;
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return out;
  }

  absl::Status SetMark(const std::string& name, int64_t revision) {
    return store_->Write(
        [&](WriteTransaction& tx) { return tx.SetImportMark(name, revision); });
  }
};

TEST_P(ImportMarkTest, AbsentUntilSetThenReplaced) {
  EXPECT_FALSE(Mark("councils/a").has_value());
  ASSERT_TRUE(SetMark("councils/a", 7).ok());
  EXPECT_EQ(Mark("councils/a"), 7);
  ASSERT_TRUE(SetMark("councils/a", 9).ok());
  EXPECT_EQ(Mark("councils/a"), 9);
  EXPECT_FALSE(Mark("councils/b").has_value());
}

TEST_P(ImportMarkTest, SurviveReopen) {
  absl::StatusOr<Resource> put = Put(MakeResource("councils/a", "councils", "imported"));
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(SetMark("councils/a", put->revision).ok());
  store_.reset();
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Mark("councils/a"), put->revision);
}

TEST_P(ImportMarkTest, RolledBackWithAFailedWrite) {
  ASSERT_TRUE(SetMark("councils/a", 1).ok());
  absl::Status status = store_->Write([](WriteTransaction& tx) {
    if (absl::Status s = tx.SetImportMark("councils/a", 2); !s.ok()) return s;
    if (absl::Status s = tx.SetImportMark("councils/b", 3); !s.ok()) return s;
    // Read back inside the transaction: what it wrote so far.
    absl::StatusOr<std::optional<int64_t>> mark = tx.GetImportMark("councils/a");
    if (!mark.ok()) return mark.status();
    EXPECT_EQ(*mark, 2);
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Mark("councils/a"), 1);
  EXPECT_FALSE(Mark("councils/b").has_value());
}

TEST_P(ImportMarkTest, OutliveTheResourceAndAppendNoChangeRecord) {
  absl::StatusOr<Resource> put = Put(MakeResource("councils/a", "councils", "imported"));
  ASSERT_TRUE(put.ok());
  absl::StatusOr<int64_t> backlog = store_->OutboxBacklog();
  ASSERT_TRUE(backlog.ok());
  ASSERT_TRUE(SetMark("councils/a", put->revision).ok());
  absl::StatusOr<int64_t> after_mark = store_->OutboxBacklog();
  ASSERT_TRUE(after_mark.ok());
  EXPECT_EQ(*after_mark, *backlog);

  // A Put elsewhere moves the revision, not the mark; a Delete leaves the mark in place,
  // so the next import can tell a deleted record from one that never existed.
  absl::StatusOr<Resource> edited = Put(MakeResource("councils/a", "councils", "edited"));
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ(Mark("councils/a"), put->revision);
  ASSERT_TRUE(store_->Write([](WriteTransaction& tx) { return tx.Delete("councils/a"); }).ok());
  EXPECT_FALSE(Get("councils/a").has_value());
  EXPECT_EQ(Mark("councils/a"), put->revision);
  // Not a resource: no collection lists it.
  ListQuery query;
  query.collection = "import_marks";
  EXPECT_EQ(List(query).total, 0);
}

TEST_P(ImportMarkTest, ADatabaseFromBeforeMarksIsMigratedWithNone) {
  absl::StatusOr<Resource> put = Put(MakeResource("councils/a", "councils", "old"));
  ASSERT_TRUE(put.ok());
  store_.reset();
  // The schema as the release before marks left it.
  DowngradeSchema(1, {"import_marks", "audit"});
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(SchemaVersion(), absl::StrCat(kSchemaVersion));
  EXPECT_TRUE(Get("councils/a").has_value());
  EXPECT_FALSE(Mark("councils/a").has_value());
  ASSERT_TRUE(SetMark("councils/a", put->revision).ok());
  EXPECT_EQ(Mark("councils/a"), put->revision);
}

// The audit trail (WriteTransaction::AppendAudit): kept iff its transaction commits,
// listed with filters and keyset pages, never a resource or a change record.
AuditEntry MakeEntry(std::string principal, std::string resource, absl::Time time) {
  AuditEntry e;
  e.time = time;
  e.principal = std::move(principal);
  e.role = "editor";
  e.authenticated_by = "certificate";
  e.method = "UpdateCouncil";
  e.resource = std::move(resource);
  e.fields = {"display_name", "field"};
  return e;
}

TEST_P(ResourceStoreTest, AuditEntryIsRolledBackWithItsWrite) {
  absl::Status status = store_->Write([&](WriteTransaction& tx) -> absl::Status {
    if (absl::Status s = tx.Put(MakeResource("councils/a", "councils", "x"), {}, "").status();
        !s.ok()) {
      return s;
    }
    if (absl::Status s = tx.AppendAudit(MakeEntry("p", "councils/a", absl::Now())); !s.ok()) {
      return s;
    }
    return absl::InternalError("failed after the entry");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(Get("councils/a").has_value());
  absl::StatusOr<AuditPage> page = store_->ListAudit({});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->entries.empty());

  ASSERT_TRUE(store_->Write([&](WriteTransaction& tx) -> absl::Status {
    if (absl::Status s = tx.Put(MakeResource("councils/a", "councils", "x"), {}, "").status();
        !s.ok()) {
      return s;
    }
    return tx.AppendAudit(MakeEntry("p", "councils/a", absl::Now()));
  }).ok());
  page = store_->ListAudit({});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->entries[0].principal, "p");
  EXPECT_EQ(page->entries[0].fields, (std::vector<std::string>{"display_name", "field"}));
  // One change record (the Put), none for the entry.
  EXPECT_EQ(*store_->OutboxBacklog(), 1);
}

TEST_P(ResourceStoreTest, AuditEntriesFilterAndPageBySequence) {
  const absl::Time t0 = absl::FromUnixSeconds(1750000000);
  ASSERT_TRUE(store_->Write([&](WriteTransaction& tx) -> absl::Status {
    for (int i = 0; i < 10; ++i) {
      absl::Status s = tx.AppendAudit(MakeEntry(i % 2 ? "odd" : "even",
                                                absl::StrCat("councils/c", i % 3),
                                                t0 + absl::Seconds(i)));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }).ok());
  AuditQuery query;
  query.limit = 3;
  std::vector<int64_t> sequences;
  for (int pages = 0; pages < 10; ++pages) {
    absl::StatusOr<AuditPage> page = store_->ListAudit(query);
    ASSERT_TRUE(page.ok());
    for (const AuditEntry& e : page->entries) sequences.push_back(e.sequence);
    if (!page->more) break;
    query.after_sequence = page->entries.back().sequence;
  }
  ASSERT_EQ(sequences.size(), 10u);
  EXPECT_TRUE(std::is_sorted(sequences.begin(), sequences.end()));
  query = {};
  query.principal = "odd";
  EXPECT_EQ(store_->ListAudit(query)->entries.size(), 5u);
  query.resource = "councils/c0";  // i = 3, 9
  EXPECT_EQ(store_->ListAudit(query)->entries.size(), 2u);
  query = {};
  query.start_time = t0 + absl::Seconds(2);
  query.end_time = t0 + absl::Seconds(5);
  EXPECT_EQ(store_->ListAudit(query)->entries.size(), 3u);
}

TEST_P(ResourceStoreTest, ADatabaseFromBeforeTheAuditTrailIsMigratedWithAnEmptyOne) {
  absl::StatusOr<Resource> put = Put(MakeResource("councils/a", "councils", "old"));
  ASSERT_TRUE(put.ok());
  store_.reset();
  // The schema as the release before the audit trail left it.
  DowngradeSchema(2, {"audit"});
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(SchemaVersion(), absl::StrCat(kSchemaVersion));
  EXPECT_TRUE(Get("councils/a").has_value());
  EXPECT_TRUE(store_->ListAudit({})->entries.empty());
  ASSERT_TRUE(store_->Write([](WriteTransaction& tx) {
    return tx.AppendAudit(MakeEntry("p", "councils/a", absl::Now()));
  }).ok());
  EXPECT_EQ(store_->ListAudit({})->entries.size(), 1u);
}

// The kept counts (migration 4) of a database written before them are counted once, on
// upgrade; from then on every write keeps them: totals and counts as a scan finds them.
TEST_P(ResourceStoreTest, ADatabaseFromBeforeKeptCountsIsCountedOnUpgrade) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Put(MakeResource(absl::StrCat("items/", i), "items", "x"),
                    {{"parity", i % 2 == 0 ? "even" : "odd"}, {"all", "yes"}})
                    .ok());
  }
  ASSERT_TRUE(Put(MakeResource("others/1", "others", "x"), {{"parity", "even"}}).ok());
  store_.reset();
  DowngradeSchema(3, {});
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(SchemaVersion(), absl::StrCat(kSchemaVersion));
  EXPECT_EQ(Count("items", {}), 5);
  EXPECT_EQ(Count("items", {{"parity", "even"}}), 3);
  EXPECT_EQ(Count("others", {{"parity", "even"}}), 1);
  // Writes after the upgrade: a replace that moves an entry, a delete, a new one.
  ASSERT_TRUE(Put(MakeResource("items/0", "items", "y"), {{"parity", "odd"}}).ok());
  ASSERT_TRUE(store_->Write([](WriteTransaction& tx) { return tx.Delete("items/1"); }).ok());
  ASSERT_TRUE(Put(MakeResource("items/9", "items", "x"), {{"parity", "odd"}}).ok());
  EXPECT_EQ(Count("items", {}), 5);
  EXPECT_EQ(Count("items", {{"parity", "even"}}), 2);
  EXPECT_EQ(Count("items", {{"parity", "odd"}}), 3);
  EXPECT_EQ(Count("items", {{"all", "yes"}}), 3);
  // The two-entry count scans; it must agree.
  EXPECT_EQ(Count("items", {{"parity", "even"}, {"all", "yes"}}), 2);
  ListQuery odd;
  odd.collection = "items";
  odd.all_of = {{"parity", "odd"}};
  odd.limit = 1;
  odd.count_total = true;
  EXPECT_EQ(List(odd).total, 3);
}

TEST_P(ResourceStoreTest, MigrationsRunOnce) {
  const std::string expected = absl::StrCat(kSchemaVersion);
  EXPECT_EQ(SchemaVersion(), expected);
  ASSERT_TRUE(Put(MakeResource("councils/a", "councils", "x")).ok());
  store_.reset();

  // Re-running migration 1 would fail on CREATE TABLE or reset the revision counter.
  for (int i = 0; i < 2; ++i) {
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
    store_.reset();
  }
  EXPECT_EQ(SchemaVersion(), expected);
  EXPECT_EQ(QueryOne("SELECT value FROM counters WHERE name = 'revision'"), "1");
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_TRUE(Get("councils/a").has_value());
}

TEST_P(ResourceStoreTest, NewerSchemaIsRefused) {
  store_.reset();
  // A database migrated by a newer release: an older binary must not write to it.
  RecordNewerSchema();
  absl::StatusOr<std::unique_ptr<ResourceStore>> store = OpenResourceStore({database_, ""});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SchemaVersion(), absl::StrCat(kSchemaVersion + 1));
}

TEST_P(ResourceStoreTest, ConcurrentOpensOfAFreshDatabaseAllSucceed) {
  // A server and the importer (or replicas) may start together on a database that has
  // no schema yet; the schema must be created once, not twice.
  store_.reset();
  for (int round = 0; round < 5; ++round) {
    TempDir dir;
    std::string path = dir.File("store.db");
    if (postgres()) {
      absl::StatusOr<std::string> uri = ::sanhak::testing::FreshPostgresDatabase();
      ASSERT_TRUE(uri.ok()) << uri.status();
      path = *uri;
    }
    database_ = path;
    std::atomic<int> ready{0};
    absl::Status results[2];
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < 2) std::this_thread::yield();
        results[i] = OpenResourceStore({path, ""}).status();
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_TRUE(results[0].ok()) << results[0];
    EXPECT_TRUE(results[1].ok()) << results[1];
    EXPECT_EQ(SchemaVersion(), absl::StrCat(kSchemaVersion));
  }
}

TEST_P(ResourceStoreTest, ReadsRunBesideWriterAndSeeConsistentSnapshots) {
  // Fewer reader connections than reader threads, so some reads wait for the pool.
  store_ = OpenStore(/*max_readers=*/3);
  ASSERT_NE(store_, nullptr);
  constexpr int kWrites = 200;
  constexpr int kReaders = 5;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<int> reads{0};

  std::thread writer([&] {
    for (int i = 0; i < kWrites; ++i) {
      // Each write adds one item and updates a tally in the same transaction; a reader
      // that saw one without the other would be seeing a torn write.
      absl::Status status = store_->Write([&](WriteTransaction& tx) {
        absl::StatusOr<Resource> item =
            tx.Put(MakeResource(absl::StrCat("items/", 10000 + i), "items", "x"),
                   {{"parity", i % 2 == 0 ? "even" : "odd"}}, "");
        if (!item.ok()) return item.status();
        return tx.Put(MakeResource("tallies/items", "tallies", absl::StrCat(i + 1)), {}, "")
            .status();
      });
      if (!status.ok()) {
        ADD_FAILURE() << status;
        failures.fetch_add(1);
      }
    }
    done.store(true);
  });

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      int64_t last_seen = 0;
      while (!done.load()) {
        absl::Status status = store_->Read([&](ReadView& view) {
          absl::StatusOr<std::optional<Resource>> tally = view.Get("tallies/items");
          if (!tally.ok()) return tally.status();
          int64_t expected = 0;
          if (tally->has_value() && !absl::SimpleAtoi((*tally)->data, &expected)) {
            return absl::InternalError("bad tally");
          }
          absl::StatusOr<int64_t> count = view.Count("items", {});
          if (!count.ok()) return count.status();
          absl::StatusOr<int64_t> even = view.Count("items", {{"parity", "even"}});
          if (!even.ok()) return even.status();
          if (*count != expected || *even != (expected + 1) / 2) {
            return absl::InternalError(
                absl::StrCat("torn read: tally ", expected, " count ", *count));
          }
          // Snapshots only move forward.
          if (expected < last_seen) return absl::InternalError("went back in time");
          last_seen = expected;
          return absl::OkStatus();
        });
        if (!status.ok()) {
          ADD_FAILURE() << status;
          failures.fetch_add(1);
          return;
        }
        reads.fetch_add(1);
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(Count("items", {}), kWrites);
}

TEST_P(ResourceStoreTest, ConcurrentWritersAreSerialized) {
  constexpr int kThreads = 4;
  constexpr int kWritesEach = 25;
  std::vector<std::vector<int64_t>> revisions(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesEach; ++i) {
        absl::StatusOr<Resource> r =
            Put(MakeResource(absl::StrCat("items/", t, "-", i), "items", "x"));
        EXPECT_TRUE(r.ok()) << r.status();
        if (r.ok()) revisions[t].push_back(r->revision);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int64_t> all;
  for (const auto& v : revisions) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "repeated revision";
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kWritesEach));
  EXPECT_EQ(Count("items", {}), kThreads * kWritesEach);
}

// The group commit takes at most 256 queued writes per transaction. Far more writers than
// that wait at once here (the first write holds the committer until all have queued), and
// each writes again as soon as it is answered, so new writes keep arriving while hundreds
// wait: each write must run exactly once, and every acknowledged one must be stored. (A
// writer that arrived to a long queue with no leader once led a batch of the first 256
// without itself, acknowledged its own write unrun, and left its entry dangling in the
// queue for a later leader to call into a dead stack frame.)
TEST_P(ResourceStoreTest, FarMoreWritersThanOneBatchEachRunOnceAndAllAreKept) {
  constexpr int kWriters = 700;
  constexpr int kWritesEach = 4;
  constexpr int kWrites = kWriters * kWritesEach;
  absl::Notification all_started;
  std::atomic<int> started{0};
  std::vector<std::atomic<int>> runs(kWrites);
  std::vector<absl::Status> results(kWrites);
  std::vector<std::thread> threads;
  // Holds the committer (or, formerly, the leader) until every writer has queued.
  std::thread holder([&] {
    absl::Status s = store_->Write([&](WriteTransaction& tx) {
      all_started.WaitForNotification();
      return tx.Put(MakeResource("items/holder", "items", "h"), {}, "").status();
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      started.fetch_add(1);
      for (int k = 0; k < kWritesEach; ++k) {
        const int i = t * kWritesEach + k;
        results[i] = store_->Write([&, i](WriteTransaction& tx) {
          runs[i].fetch_add(1);
          return tx.Put(MakeResource(absl::StrCat("items/w", i), "items", "x"), {}, "")
              .status();
        });
      }
    });
  }
  while (started.load() < kWriters) std::this_thread::yield();
  // Started is not queued: give the last threads a moment to reach the queue.
  absl::SleepFor(absl::Milliseconds(300));
  all_started.Notify();
  for (auto& t : threads) t.join();
  holder.join();
  int acknowledged_unrun = 0, acknowledged_missing = 0;
  for (int i = 0; i < kWrites; ++i) {
    EXPECT_TRUE(results[i].ok()) << i << ": " << results[i];
    if (runs[i].load() != 1) ++acknowledged_unrun;
    if (results[i].ok() && !Get(absl::StrCat("items/w", i)).has_value()) {
      ++acknowledged_missing;
    }
  }
  EXPECT_EQ(acknowledged_unrun, 0) << "writes that did not run exactly once";
  EXPECT_EQ(acknowledged_missing, 0) << "acknowledged writes not stored";
  EXPECT_EQ(Count("items", {}), kWrites + 1);
}

// Asynchronous writes: `done` hears back only once the write is committed (a new
// connection reads it), and a queue at its bound refuses at once with RetryInfo, running
// nothing of the refused writes.
TEST_P(ResourceStoreTest, QueueAtItsBoundRefusesAtOnceWithRetryInfo) {
  store_.reset();
  store_ = OpenStore(8, /*max_queued_writes=*/100);
  ASSERT_NE(store_, nullptr);
  absl::Notification release;
  absl::Notification holding;
  store_->WriteAsync(
      [&](WriteTransaction&) {
        holding.Notify();
        release.WaitForNotification();
        return absl::OkStatus();
      },
      [](absl::Status s) { EXPECT_TRUE(s.ok()) << s; });
  holding.WaitForNotification();
  constexpr int kWrites = 300;
  absl::Mutex mu;
  int accepted = 0, refused = 0, committed_and_visible = 0;
  absl::Notification all_done;
  std::atomic<int> outstanding{kWrites};
  for (int i = 0; i < kWrites; ++i) {
    const std::string name = absl::StrCat("items/a", i);
    store_->WriteAsync(
        [&, name](WriteTransaction& tx) {
          return tx.Put(MakeResource(name, "items", "x"), {}, "").status();
        },
        [&, name](absl::Status s) {
          {
            absl::MutexLock lock(&mu);
            if (s.ok()) {
              ++accepted;
              // Read through the operator's own connection: committed means on disk.
              if (QueryOne(absl::StrCat("SELECT count(*) FROM resources WHERE name='",
                                               name, "'")) == "1") {
                ++committed_and_visible;
              }
            } else {
              EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
              EXPECT_GT(RetryDelayOf(s), absl::ZeroDuration()) << s;
              ++refused;
            }
          }
          if (outstanding.fetch_sub(1) == 1) all_done.Notify();
        });
  }
  {
    // The queue is full while the committer is held: the writes beyond the bound have
    // already been refused.
    absl::MutexLock lock(&mu);
    EXPECT_EQ(refused, kWrites - 100);
    EXPECT_EQ(accepted, 0);
  }
  release.Notify();
  all_done.WaitForNotification();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(accepted, 100);
  EXPECT_EQ(committed_and_visible, 100);
  EXPECT_EQ(Count("items", {}), 100);
}

// --db picks the engine; what is logged of it never holds the password.
TEST(StoreFactoryTest, PicksTheEngineAndRedactsThePassword) {
  EXPECT_TRUE(IsPostgresUri("postgresql://u:p@db:5432/registry"));
  EXPECT_TRUE(IsPostgresUri("postgres://db/registry"));
  EXPECT_FALSE(IsPostgresUri("registry.db"));
  EXPECT_FALSE(IsPostgresUri("/var/lib/sanhak/postgresql.db"));
  EXPECT_EQ(RedactedDatabase("postgresql://registry:s3cret@db:5432/registry?sslmode=require"),
            "postgresql://registry:***@db:5432/registry?sslmode=require");
  EXPECT_EQ(RedactedDatabase("postgresql://registry@db/registry"),
            "postgresql://registry@db/registry");
  EXPECT_EQ(RedactedDatabase("postgresql://db:5432/x?user=u&password=p&sslmode=require"),
            "postgresql://db:5432/x?user=u&password=***&sslmode=require");
  EXPECT_EQ(RedactedDatabase("registry.db"), "registry.db");
}

INSTANTIATE_TEST_SUITE_P(Engines, ResourceStoreTest,
                         ::testing::Values("sqlite", "postgresql"), EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, IndexedStoreTest,
                         ::testing::Values("sqlite", "postgresql"), EngineName);
INSTANTIATE_TEST_SUITE_P(Engines, ImportMarkTest,
                         ::testing::Values("sqlite", "postgresql"), EngineName);

}  // namespace
}  // namespace sanhak::store
