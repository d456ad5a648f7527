// Redis with the suite's ACL users (deploy/base/redis-users.acl, as scripts/run.sh and
// deploy/ run it), a real redis-server: each service's user can do what its service does
// (the real outbox relay, as the registry and events run it; analytics' own path runs as
// its user in tests/analytics), and is refused what its service does not do; the default
// user is off; a wrong password is a clear UNAUTHENTICATED that names the user, never the
// password, and a relay that is refused keeps its records instead of crashing.
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/outbox_relay.h"
#include "common/redis.h"
#include "common/sqlite_resource_store.h"
#include "gmock/gmock.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "tests/support/await.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_support.h"

namespace sanhak {
namespace {

using ::sanhak::testing::RedisReply;
using ::sanhak::testing::RedisServer;
using ::sanhak::testing::RedisUsers;
using ::sanhak::testing::WaitUntil;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A real message type, so change records carry a real state.
store::Resource Stamp(int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  store::Resource r;
  r.name = "stamps/" + std::to_string(seconds);
  r.collection = "stamps";
  r.type = "google.protobuf.Timestamp";
  r.data = t.SerializeAsString();
  return r;
}

absl::Status Put(store::ResourceStore& store, const store::Resource& r) {
  return store.Write([&](store::WriteTransaction& tx) { return tx.Put(r, {}, "").status(); });
}

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return static_cast<bool>(out);
}

class RedisAclTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.Start()) << redis_.Log(); }

  // `args` as `user` with its own password.
  RedisReply As(const std::string& user, const std::vector<std::string>& args) {
    std::optional<RedisReply> reply = redis_.CommandAs(user, redis_.Password(user), args);
    EXPECT_TRUE(reply.has_value()) << "Redis at " << redis_.address() << " did not answer";
    return reply.value_or(RedisReply{});
  }

  redis::Credentials CredentialsOf(const std::string& user) {
    absl::StatusOr<redis::Credentials> c = redis::LoadCredentials(user, redis_.PasswordFile(user));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.value_or(redis::Credentials{});
  }

  RedisServer redis_{RedisUsers::kSuite};
  sanhak::testing::TempDir dir_;
};

// A registry's or events' store writing one record, relayed as its service's user.
class RelayAsServiceUser : public RedisAclTest,
                           public ::testing::WithParamInterface<std::string> {};

TEST_P(RelayAsServiceUser, RelaysItsChangeFeed) {
  const std::string service = GetParam();
  auto store = store::SqliteResourceStore::Open({dir_.File(service + ".db"), service});
  ASSERT_TRUE(store.ok()) << store.status();
  RelayOptions options;
  options.redis_address = redis_.address();
  options.redis_credentials = CredentialsOf(service);
  options.stream = ChangeStreamKey(service);
  options.min_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(100);
  options.poll_interval = absl::Milliseconds(50);
  OutboxRelay relay(store->get(), options);

  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(Put(**store, Stamp(i)).ok());
  // The relay's whole path ran as the service's user: XREVRANGE, XRANGE for what may be
  // there already, XADD, and the outbox drained.
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<int64_t> backlog = (*store)->OutboxBacklog();
    return backlog.ok() && *backlog == 0;
  })) << "the relay did not drain the outbox as user " << service;
  std::vector<sanhak::testing::StreamEntry> entries;
  ASSERT_TRUE(redis_.ReadStream(ChangeStreamKey(service), &entries));
  EXPECT_EQ(entries.size(), 3u);
  EXPECT_TRUE(relay.stats().redis_reachable);

  // A relay restarted on the same stream confirms what is there (XRANGE) and goes on.
  relay.Stop();
  OutboxRelay again(store->get(), options);
  ASSERT_TRUE(Put(**store, Stamp(4)).ok());
  EXPECT_TRUE(WaitUntil([&] {
    return redis_.ReadStream(ChangeStreamKey(service), &entries) && entries.size() == 4;
  }));
}

INSTANTIATE_TEST_SUITE_P(Services, RelayAsServiceUser,
                         ::testing::Values("registry", "events"));

TEST_F(RedisAclTest, TheRegistryUserTouchesOnlyTheRegistryStream) {
  EXPECT_EQ(As("registry", {"XADD", "sanhak:changes:registry", "1-0", "record", "x"}).str,
            "1-0");
  // Another service's feed, analytics' keys, anything else.
  for (const std::vector<std::string>& refused : std::vector<std::vector<std::string>>{
           {"XADD", "sanhak:changes:events", "1-0", "record", "forged"},
           {"XRANGE", "sanhak:changes:events", "-", "+"},
           {"GET", "sanhak:analytics:epoch"},
           {"HGETALL", "sanhak:analytics:mirror"},
           {"XRANGE", "sanhak:analytics:updates", "-", "+"},
           {"DEL", "sanhak:changes:registry"},
           {"KEYS", "*"},
           {"SUBSCRIBE", "anything"}}) {
    RedisReply reply = As("registry", refused);
    EXPECT_EQ(reply.type, RedisReply::Type::kError) << refused[0] << " " << refused[1];
    EXPECT_THAT(reply.str, HasSubstr("NOPERM")) << refused[0] << " " << refused[1];
  }
  EXPECT_THAT(As("events", {"XADD", "sanhak:changes:registry", "2-0", "record", "forged"}).str,
              HasSubstr("NOPERM"));
}

// The events service follows the registry's feed (services/events/registry_view.h): it
// reads that stream, as it reads it (XREVRANGE for the top, XREAD BLOCK for what follows),
// and can change nothing there.
TEST_F(RedisAclTest, TheEventsUserReadsTheRegistryFeedButCannotForgeOrTrimIt) {
  ASSERT_EQ(As("registry", {"XADD", "sanhak:changes:registry", "1-0", "record", "r1"}).str,
            "1-0");
  RedisReply read = As("events", {"XREAD", "COUNT", "10", "BLOCK", "10", "STREAMS",
                                  "sanhak:changes:registry", "0-0"});
  ASSERT_EQ(read.type, RedisReply::Type::kArray) << read.str;
  ASSERT_EQ(read.elements.size(), 1u);
  ASSERT_EQ(read.elements[0].elements.size(), 2u);
  ASSERT_EQ(read.elements[0].elements[1].elements.size(), 1u);
  EXPECT_EQ(read.elements[0].elements[1].elements[0].elements[0].str, "1-0");
  RedisReply top = As("events", {"XREVRANGE", "sanhak:changes:registry", "+", "-", "COUNT", "1"});
  ASSERT_EQ(top.type, RedisReply::Type::kArray) << top.str;
  EXPECT_EQ(top.elements.size(), 1u);
  for (const std::vector<std::string>& refused : std::vector<std::vector<std::string>>{
           {"XADD", "sanhak:changes:registry", "2-0", "record", "forged"},
           {"XTRIM", "sanhak:changes:registry", "MAXLEN", "0"},
           {"XDEL", "sanhak:changes:registry", "1-0"},
           {"DEL", "sanhak:changes:registry"},
           {"XGROUP", "CREATE", "sanhak:changes:registry", "g", "0"},
           {"XREAD", "STREAMS", "sanhak:analytics:updates", "0-0"}}) {
    RedisReply reply = As("events", refused);
    EXPECT_EQ(reply.type, RedisReply::Type::kError) << refused[0] << " " << refused[1];
    EXPECT_THAT(reply.str, HasSubstr("NOPERM")) << refused[0] << " " << refused[1];
  }
  // The registry still cannot read the events' feed.
  EXPECT_THAT(As("registry", {"XREAD", "STREAMS", "sanhak:changes:events", "0-0"}).str,
              HasSubstr("NOPERM"));
  std::optional<RedisReply> length = redis_.Command({"XLEN", "sanhak:changes:registry"});
  ASSERT_TRUE(length.has_value());
  EXPECT_EQ(length->integer, 1);
}

TEST_F(RedisAclTest, TheAnalyticsUserReadsTheFeedsButCannotForgeThem) {
  EXPECT_EQ(As("analytics", {"XGROUP", "CREATE", "sanhak:changes:events", "analytics", "0",
                             "MKSTREAM"}).str,
            "OK");
  EXPECT_EQ(As("analytics", {"SET", "sanhak:analytics:epoch", "e1"}).str, "OK");
  for (const std::vector<std::string>& refused : std::vector<std::vector<std::string>>{
           {"XADD", "sanhak:changes:registry", "1-0", "record", "forged"},
           {"DEL", "sanhak:changes:events"},
           {"XGROUP", "DESTROY", "sanhak:changes:events", "analytics"},
           {"XTRIM", "sanhak:changes:events", "MAXLEN", "0"},
           {"SET", "elsewhere", "x"}}) {
    RedisReply reply = As("analytics", refused);
    EXPECT_THAT(reply.str, HasSubstr("NOPERM")) << refused[0] << " " << refused[1];
  }
  // Its scripts (the lease) run with its own permissions: one key of its own, nothing else.
  EXPECT_EQ(As("analytics", {"EVAL", "return redis.call('SET', KEYS[1], 'a')", "1",
                             "sanhak:analytics:leader"})
                .str,
            "OK");
  for (const std::vector<std::string>& refused : std::vector<std::vector<std::string>>{
           {"EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", "elsewhere"},
           {"EVAL", "return redis.call('DEL', KEYS[1])", "1", "sanhak:changes:events"}}) {
    RedisReply reply = As("analytics", refused);
    EXPECT_EQ(reply.type, RedisReply::Type::kError) << refused[1];
    EXPECT_THAT(reply.str, AnyOf(HasSubstr("NOPERM"), HasSubstr("can't run"),
                                 HasSubstr("no permissions")))
        << refused[1];
  }
  EXPECT_EQ(redis_.Command({"EXISTS", "elsewhere"})->integer, 0);
}

TEST_F(RedisAclTest, NoServiceMayFlushConfigureOrAdministerRedis) {
  ASSERT_TRUE(redis_.Command({"SET", "sanhak:analytics:epoch", "kept"}).has_value());
  for (const char* user : {"registry", "events", "analytics", "probe"}) {
    for (const std::vector<std::string>& refused : std::vector<std::vector<std::string>>{
             {"FLUSHALL"}, {"FLUSHDB"}, {"CONFIG", "SET", "appendonly", "no"},
             {"ACL", "LIST"}, {"SHUTDOWN", "NOSAVE"}, {"CLIENT", "LIST"},
             {"EVAL", "return redis.call('FLUSHALL')", "0"}}) {
      RedisReply reply = As(user, refused);
      // A user allowed EVAL (analytics: its lease) runs the script, and Redis refuses the
      // command inside it.
      EXPECT_THAT(reply.str, AnyOf(HasSubstr("NOPERM"),
                                   HasSubstr("user executing the script can't run")))
          << user << ": " << refused[0];
      EXPECT_EQ(reply.type, RedisReply::Type::kError) << user << ": " << refused[0];
    }
  }
  std::optional<RedisReply> kept = redis_.Command({"GET", "sanhak:analytics:epoch"});
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->str, "kept");
  // The readiness probe's user answers PING and nothing else.
  EXPECT_EQ(As("probe", {"PING"}).str, "PONG");
  EXPECT_THAT(As("probe", {"GET", "sanhak:analytics:epoch"}).str, HasSubstr("NOPERM"));
}

TEST_F(RedisAclTest, TheDefaultUserIsOff) {
  // Without AUTH a connection is the default user: refused everything.
  std::optional<RedisReply> anonymous = redis_.CommandAs("", "", {"GET", "sanhak:analytics:epoch"});
  ASSERT_TRUE(anonymous.has_value());
  EXPECT_THAT(anonymous->str, HasSubstr("NOAUTH"));
  // Nor can anyone sign in as it, with or without a password.
  for (const std::string& password :
       std::vector<std::string>{"", "nopass", redis_.Password("registry")}) {
    std::optional<RedisReply> as_default = redis_.CommandAs("default", password, {"PING"});
    ASSERT_TRUE(as_default.has_value());
    EXPECT_THAT(as_default->str, HasSubstr("WRONGPASS")) << "password \"" << password << "\"";
  }
}

TEST_F(RedisAclTest, AWrongPasswordIsAClearUnauthenticatedThatNeverShowsThePassword) {
  const std::string wrong = "not-the-password-" + redis_.Password("events").substr(0, 8);
  absl::StatusOr<std::unique_ptr<redis::Connection>> refused = redis::Connection::Connect(
      redis_.address(), absl::Seconds(2), redis::Credentials{"registry", wrong});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("\"registry\""));
  EXPECT_THAT(refused.status().message(), HasSubstr("WRONGPASS"));
  EXPECT_THAT(refused.status().message(), HasSubstr("--redis_password_file"));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr(wrong)));
  // Another service's password is as wrong.
  EXPECT_EQ(redis::Connection::Connect(redis_.address(), absl::Seconds(2),
                                       {"registry", redis_.Password("events")})
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  // CheckCredentials (what a service's start runs) tells it apart from Redis being away.
  EXPECT_EQ(redis::CheckCredentials(redis_.address(), {"registry", wrong}, absl::Seconds(2))
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(redis::CheckCredentials(redis_.address(), CredentialsOf("registry"),
                                      absl::Seconds(2))
                  .ok());
  redis_.Kill();
  EXPECT_TRUE(redis::CheckCredentials(redis_.address(), {"registry", wrong}, absl::Seconds(2))
                  .ok())
      << "Redis away is no reason to refuse a start: the relay waits for it";
}

TEST_F(RedisAclTest, ARefusedRelayKeepsItsRecordsAndDeliversOnceSignedIn) {
  auto store = store::SqliteResourceStore::Open({dir_.File("r.db"), "registry"});
  ASSERT_TRUE(store.ok()) << store.status();
  RelayOptions options;
  options.redis_address = redis_.address();
  options.redis_credentials = {"registry", "wrong"};
  options.stream = ChangeStreamKey("registry");
  options.min_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(50);
  options.poll_interval = absl::Milliseconds(20);
  {
    OutboxRelay refused(store->get(), options);
    ASSERT_TRUE(Put(**store, Stamp(1)).ok());
    // Some tries later: still refused, nothing lost, nothing in Redis.
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_FALSE(refused.stats().redis_reachable);
    EXPECT_EQ((*store)->OutboxBacklog().value_or(-1), 1);
  }
  std::optional<RedisReply> length = redis_.Command({"XLEN", "sanhak:changes:registry"});
  ASSERT_TRUE(length.has_value());
  EXPECT_EQ(length->integer, 0);
  options.redis_credentials = CredentialsOf("registry");
  OutboxRelay relay(store->get(), options);
  EXPECT_TRUE(WaitUntil([&] { return (*store)->OutboxBacklog().value_or(-1) == 0; }));
}

TEST(RedisCredentialsTest, LoadsOneLineFromAFileAndSaysWhatIsMissing) {
  sanhak::testing::TempDir dir;
  const std::string file = dir.File("password");
  ASSERT_TRUE(WriteFile(file, "s3cret\n"));
  absl::StatusOr<redis::Credentials> loaded = redis::LoadCredentials("registry", file);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->user, "registry");
  EXPECT_EQ(loaded->password, "s3cret");

  EXPECT_TRUE(redis::LoadCredentials("", "").ok());
  EXPECT_TRUE(redis::LoadCredentials("", "")->user.empty());
  EXPECT_EQ(redis::LoadCredentials("registry", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(redis::LoadCredentials("", file).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status missing = redis::LoadCredentials("registry", dir.File("absent")).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.message(), HasSubstr(dir.File("absent")));
  ASSERT_TRUE(WriteFile(file, "\n"));
  absl::Status empty = redis::LoadCredentials("registry", file).status();
  EXPECT_THAT(empty.message(), HasSubstr("is empty"));
}

}  // namespace
}  // namespace sanhak
