// What only the embedded store has: a SQLite file in WAL mode, refused when a newer
// release or another program made it, and an error for a directory that is not there.
// Everything both engines do is in resource_store_conformance_test.cc.
#include "common/sqlite_resource_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/overload.h"
#include "common/resource_names.h"
#include "common/resource_store.h"
#include "gtest/gtest.h"
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

// Runs a raw SQL query returning one value on its own connection, as an operator's
// sqlite3 shell would.
std::string QueryOne(const std::string& path, const std::string& sql) {
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

void ExecRaw(const std::string& path, const std::string& sql) {
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

class SqliteResourceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.File("store.db");
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  std::unique_ptr<SqliteResourceStore> OpenStore(int max_readers = 8,
                                                 int max_queued_writes = 4096) {
    absl::StatusOr<std::unique_ptr<SqliteResourceStore>> store =
        SqliteResourceStore::Open({path_, "test", max_readers, max_queued_writes});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
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
  std::string path_;
  std::unique_ptr<SqliteResourceStore> store_;
};

// A walk over every match (crud::ForEachMatching) asks for no total: counting every
// match on each of its pages made the walk cost O(matches^2 / page).
TEST_F(SqliteResourceStoreTest, ListCountsTheTotalOnlyWhenAsked) {
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(Put(MakeResource(absl::StrCat("councils/", id), "councils", "x")).ok());
  }
  ListQuery query;
  query.collection = "councils";
  query.limit = 2;
  ListResult counted = List(query);
  EXPECT_EQ(counted.total, 3);
  query.count_total = false;
  ListResult page = List(query);
  EXPECT_EQ(page.total, 0);
  ASSERT_EQ(page.resources.size(), 2u);
  EXPECT_EQ(page.resources[1].name, "councils/b");
  EXPECT_TRUE(page.more);
}

TEST_F(SqliteResourceStoreTest, FileIsInWalMode) {
  ASSERT_TRUE(Put(MakeResource("councils/a", "councils", "x")).ok());
  // journal_mode=WAL is persistent in the file, so any new connection reports it.
  EXPECT_EQ(QueryOne(path_, "PRAGMA journal_mode"), "wal");
}

TEST(SqliteResourceStoreOpenTest, NewerSchemaOnForeignFileIsRefused) {
  TempDir dir;
  const std::string path = dir.File("future.db");
  ExecRaw(path, "CREATE TABLE future(x); PRAGMA user_version=999");
  absl::StatusOr<std::unique_ptr<SqliteResourceStore>> store =
      SqliteResourceStore::Open({path});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SqliteResourceStoreOpenTest, MissingDirectoryIsAnError) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<SqliteResourceStore>> store =
      SqliteResourceStore::Open({dir.File("no/such/dir/store.db")});
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace sanhak::store
