// The change-feed consumer on a real redis-server, signed in as the analytics ACL user as
// deployed; the services' streams are written as their relays write them (an entry with a
// `record` field), by the harness's administrator.
#include "services/analytics/change_feed.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/redis_server.h"

namespace sanhak::analytics {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kEvents[] = "sanhak:changes:events";
constexpr char kRegistry[] = "sanhak:changes:registry";

std::vector<std::string> Records(const std::vector<ChangeEntry>& entries) {
  std::vector<std::string> out;
  for (const ChangeEntry& e : entries) out.push_back(e.stream + " " + e.record);
  return out;
}

class ChangeFeedTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.Start()) << redis_.Log(); }

  std::unique_ptr<redis::Connection> Connect() {
    auto c = redis::Connection::Connect(redis_.address(), absl::Seconds(5),
                                        {"analytics", redis_.Password("analytics")});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }
  void Append(const std::string& stream, const std::string& record) {
    std::optional<testing::RedisReply> r = redis_.Command({"XADD", stream, "*", "record", record});
    ASSERT_TRUE(r.has_value());
    ASSERT_NE(r->type, testing::RedisReply::Type::kError) << r->str;
  }
  // Runs the acknowledgements as the applier's transaction would.
  void Acknowledge(redis::Connection& c, const std::vector<ChangeEntry>& entries) {
    std::map<std::string, std::vector<std::string>> acks;
    for (const ChangeEntry& e : entries) acks[e.stream].push_back(e.entry_id);
    for (const auto& command : RedisChangeFeed::AckCommands(acks)) {
      absl::StatusOr<redis::Reply> r = c.Command(command);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_NE(r->type, redis::Reply::Type::kError) << r->str;
    }
  }

  testing::RedisServer redis_{testing::RedisUsers::kSuite};
};

TEST_F(ChangeFeedTest, EachNewEntryIsReadOnceInStreamOrder) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  RedisChangeFeed feed(c.get(), {"registry", "events"}, "replica-a");
  Append(kEvents, "e1");  // written before the group existed: read from the start
  ASSERT_TRUE(feed.EnsureGroups().ok());
  ASSERT_TRUE(feed.EnsureGroups().ok()) << "again: the group exists, nothing changes";
  Append(kRegistry, "r1");
  Append(kEvents, "e2");
  absl::StatusOr<std::vector<ChangeEntry>> read = feed.ReadNew(absl::Milliseconds(50));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(Records(*read), ElementsAre(absl::StrCat(kRegistry, " r1"),
                                          absl::StrCat(kEvents, " e1"),
                                          absl::StrCat(kEvents, " e2")));
  read = feed.ReadNew(absl::Milliseconds(50));
  ASSERT_TRUE(read.ok());
  EXPECT_THAT(*read, IsEmpty());
}

TEST_F(ChangeFeedTest, WhatACrashedConsumerLeftUnacknowledgedIsClaimedByTheNext) {
  auto a = Connect(), b = Connect();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  RedisChangeFeed first(a.get(), {"events"}, "replica-a");
  ASSERT_TRUE(first.EnsureGroups().ok());
  Append(kEvents, "e1");
  Append(kEvents, "e2");
  Append(kEvents, "e3");
  absl::StatusOr<std::vector<ChangeEntry>> read = first.ReadNew(absl::Milliseconds(50));
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 3u);
  Acknowledge(*a, {(*read)[0]});  // e1's effect was written; then replica-a died
  a.reset();

  RedisChangeFeed next(b.get(), {"events"}, "replica-b");
  ASSERT_TRUE(next.EnsureGroups().ok());
  std::vector<ChangeEntry> claimed;
  ASSERT_TRUE(next.ClaimPending([&](const std::vector<ChangeEntry>& batch) {
                    claimed.insert(claimed.end(), batch.begin(), batch.end());
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_THAT(Records(claimed), ElementsAre(absl::StrCat(kEvents, " e2"),
                                            absl::StrCat(kEvents, " e3")));
  // An apply that fails stops the claim; what it could not apply stays pending.
  EXPECT_EQ(next.ClaimPending([](const std::vector<ChangeEntry>&) {
                  return absl::UnavailableError("write failed");
                }).code(),
            absl::StatusCode::kUnavailable);
  Acknowledge(*b, claimed);
  int batches = 0;
  ASSERT_TRUE(next.ClaimPending([&](const std::vector<ChangeEntry>&) {
                    ++batches;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(batches, 0) << "nothing is pending once acknowledged";
}

TEST_F(ChangeFeedTest, AGroupLostWithTheStreamsIsNotFoundUntilCreatedAgain) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  RedisChangeFeed feed(c.get(), {"events"}, "replica-a");
  ASSERT_TRUE(feed.EnsureGroups().ok());
  ASSERT_TRUE(redis_.Command({"DEL", kEvents}).has_value());  // Redis lost the stream
  EXPECT_EQ(feed.ReadNew(absl::Milliseconds(50)).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(feed.EnsureGroups().ok());
  Append(kEvents, "after");
  absl::StatusOr<std::vector<ChangeEntry>> read = feed.ReadNew(absl::Milliseconds(50));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(Records(*read), ElementsAre(absl::StrCat(kEvents, " after")));
}

}  // namespace
}  // namespace sanhak::analytics
