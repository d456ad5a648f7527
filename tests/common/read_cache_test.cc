// crud::ReadCache over the real SQLite store: a hit never returns what a later commit
// changed, and a value read while a write committed is not kept.
#include <string>

#include "common/crud.h"
#include "common/sqlite_resource_store.h"
#include "google/protobuf/api.pb.h"
#include "gtest/gtest.h"
#include "tests/support/test_support.h"

namespace sanhak::crud {
namespace {

class ReadCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteResourceStore::Open({dir_.File("c.db"), ""});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void Write(const std::string& name, const std::string& data) {
    ASSERT_TRUE(store_
                    ->Write([&](store::WriteTransaction& tx) {
                      store::Resource r;
                      r.name = name;
                      r.collection = "things";
                      r.data = data;
                      return tx.Put(r, {}, "").status();
                    })
                    .ok());
  }

  // Reads through the store, counting loads.
  absl::StatusOr<std::string> Read(ReadCache<std::string>& cache, const std::string& name) {
    return cache.Get(name, [&]() -> absl::StatusOr<std::string> {
      ++loads_;
      std::string data;
      absl::Status s = store_->Read([&](store::ReadView& view) {
        auto got = view.Get(name);
        if (!got.ok()) return got.status();
        if (!got->has_value()) return absl::NotFoundError(name);
        data = (*got)->data;
        return absl::OkStatus();
      });
      if (!s.ok()) return s;
      return data;
    });
  }

  sanhak::testing::TempDir dir_;
  std::unique_ptr<store::SqliteResourceStore> store_;
  int loads_ = 0;
};

TEST_F(ReadCacheTest, HitsUntilTheNextCommit) {
  Write("things/a", "one");
  ReadCache<std::string> cache(store_.get());
  EXPECT_EQ(*Read(cache, "things/a"), "one");
  EXPECT_EQ(*Read(cache, "things/a"), "one");
  EXPECT_EQ(loads_, 1);
  Write("things/b", "unrelated");  // any commit empties the cache
  Write("things/a", "two");
  EXPECT_EQ(*Read(cache, "things/a"), "two");
  EXPECT_EQ(loads_, 2);
}

TEST_F(ReadCacheTest, AValueReadWhileAWriteCommittedIsNotKept) {
  Write("things/a", "one");
  ReadCache<std::string> cache(store_.get());
  auto read = cache.Get("things/a", [&]() -> absl::StatusOr<std::string> {
    ++loads_;
    Write("things/a", "two");  // commits between the load and the caching
    return std::string("one");
  });
  EXPECT_EQ(*read, "one");
  EXPECT_EQ(*Read(cache, "things/a"), "two");
  EXPECT_EQ(loads_, 2);
}

// Bounded in bytes (key plus value): a value that would pass the bound is served but not
// kept; smaller ones still are.
TEST_F(ReadCacheTest, AValuePastTheByteBoundIsServedButNotKept) {
  Write("things/big", std::string(1000, 'x'));
  Write("things/small", "s");
  ReadCache<std::string> cache(store_.get(), /*max_entries=*/100, /*max_bytes=*/500);
  EXPECT_EQ(Read(cache, "things/big")->size(), 1000u);
  EXPECT_EQ(Read(cache, "things/big")->size(), 1000u);
  EXPECT_EQ(loads_, 2);
  EXPECT_EQ(*Read(cache, "things/small"), "s");
  EXPECT_EQ(*Read(cache, "things/small"), "s");
  EXPECT_EQ(loads_, 3);
}

TEST_F(ReadCacheTest, ErrorsAreNotCached) {
  ReadCache<std::string> cache(store_.get());
  EXPECT_FALSE(Read(cache, "things/missing").ok());
  EXPECT_FALSE(Read(cache, "things/missing").ok());
  EXPECT_EQ(loads_, 2);
}

// StoredDeleted reads delete_time's tag without parsing the resource; the tag reader
// agrees with a parse on a message field set, unset, set empty, among others, and cut.
TEST(HasLengthDelimitedFieldTest, AgreesWithAParse) {
  google::protobuf::Api api;
  api.set_name("a");
  api.set_version("v1");
  EXPECT_FALSE(HasLengthDelimitedField(api.SerializeAsString(), 5));  // source_context
  api.mutable_source_context();  // set, empty
  api.add_mixins()->set_name("m");
  std::string bytes = api.SerializeAsString();
  EXPECT_TRUE(HasLengthDelimitedField(bytes, 5));
  api.mutable_source_context()->set_file_name("f.proto");
  bytes = api.SerializeAsString();
  EXPECT_TRUE(HasLengthDelimitedField(bytes, 5));
  EXPECT_FALSE(HasLengthDelimitedField(bytes, 3));  // options: none
  // A length-delimited field read as another number is not it.
  EXPECT_FALSE(HasLengthDelimitedField(bytes, 15));
  // Cut inside the field's bytes: no parse would have it.
  const size_t at = bytes.find("f.proto");
  ASSERT_NE(at, std::string::npos);
  EXPECT_FALSE(HasLengthDelimitedField(bytes.substr(0, at + 3), 5));
  EXPECT_FALSE(HasLengthDelimitedField("", 5));
}

TEST(StoredDeletedTest, ATypeWithoutDeleteTimeIsNeverDeleted) {
  google::protobuf::Api api;
  api.mutable_source_context()->set_file_name("f.proto");
  store::Resource r;
  r.data = api.SerializeAsString();
  EXPECT_FALSE(StoredDeleted<google::protobuf::Api>(r));
}

}  // namespace
}  // namespace sanhak::crud
