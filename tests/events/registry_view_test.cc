// The events service's view of the registry (services/events/registry_view.h): a real
// redis-server with the suite's ACL users, a real registry (in process, seeded, relaying
// its change feed as user "registry"), and the view reading that feed as user "events".
// What the view cannot answer goes to a directory that counts its calls: the registry
// over gRPC, or a fixed answer where the test needs names the registry does not hold.
#include "services/events/registry_view.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/empty.pb.h"
#include "gtest/gtest.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/events/events_server.h"
#include "services/events/registry_directory.h"
#include "services/registry/registry_server.h"
#include "tests/support/await.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_support.h"

namespace sanhak::events {
namespace {

using ::sanhak::testing::Context;
using ::sanhak::testing::RedisServer;
using ::sanhak::testing::RedisUsers;
using ::sanhak::testing::WaitUntil;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using Answer = RegistryDirectory::Answer;

constexpr char kSmartGreen[] = "councils/smart-green-mobility";  // seeded, no memberships

// Counts the calls that reach it and the names each asked, then answers through `inner`
// or, without one, with `fixed`.
class CountingDirectory : public RegistryDirectory {
 public:
  explicit CountingDirectory(RegistryDirectory* inner) : inner_(inner) {}

  void Check(const std::vector<std::string>& names, absl::Time deadline,
             CheckDone done) override {
    absl::StatusOr<RegistryDirectory::Answer> fixed;
    {
      absl::MutexLock lock(&mu_);
      asked_.push_back(names);
      fixed = fixed_;
    }
    if (inner_ != nullptr) return inner_->Check(names, deadline, std::move(done));
    // Only what was asked, as the registry answers.
    if (fixed.ok()) {
      RegistryDirectory::Answer answer;
      for (const std::string& name : names) {
        for (const std::string& m : fixed->missing) {
          if (m == name) answer.missing.push_back(name);
        }
        for (const std::string& d : fixed->deleted) {
          if (d == name) answer.deleted.push_back(name);
        }
      }
      fixed = std::move(answer);
    }
    done(std::move(fixed));
  }

  void SetAnswer(absl::StatusOr<RegistryDirectory::Answer> fixed) {
    absl::MutexLock lock(&mu_);
    fixed_ = std::move(fixed);
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(asked_.size());
  }
  std::vector<std::vector<std::string>> asked() {
    absl::MutexLock lock(&mu_);
    return asked_;
  }

 private:
  RegistryDirectory* const inner_;
  absl::Mutex mu_;
  absl::StatusOr<RegistryDirectory::Answer> fixed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<std::string>> asked_ ABSL_GUARDED_BY(mu_);
};

// What a check answered, and whether `done` had run before Check() returned.
struct Checked {
  absl::StatusOr<Answer> answer;
  bool answered_inline = false;
};

Checked CheckNames(RegistryDirectory& directory, const std::vector<std::string>& names) {
  Checked checked;
  absl::Notification done;
  bool returned = false;
  absl::Mutex mu;
  directory.Check(names, absl::Now() + absl::Seconds(5),
                  [&](absl::StatusOr<Answer> answer) {
                    absl::MutexLock lock(&mu);
                    checked.answer = std::move(answer);
                    checked.answered_inline = !returned;
                    done.Notify();
                  });
  {
    absl::MutexLock lock(&mu);
    returned = true;
  }
  done.WaitForNotification();
  return checked;
}

class RegistryViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.Start()) << redis_.Log();
    StartRegistry();
  }

  void TearDown() override {
    if (registry_ != nullptr) registry_->Shutdown();
  }

  redis::Credentials CredentialsOf(const std::string& user) {
    absl::StatusOr<redis::Credentials> c =
        redis::LoadCredentials(user, redis_.PasswordFile(user));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.value_or(redis::Credentials{});
  }

  // The registry, seeded from data/registry.textproto, relaying its change feed.
  void StartRegistry() {
    registry::RegistryConfig config;
    config.server.listen_address = "127.0.0.1:0";
    config.server.log_calls = false;
    config.server.drain_deadline = absl::Seconds(1);
    config.database_path = dir_.File("registry.db");
    config.import_path = sanhak::testing::SourceDir() + "/data/registry.textproto";
    config.redis_address = redis_.address();
    config.redis_credentials = CredentialsOf("registry");
    auto server = registry::RegistryServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    registry_ = *std::move(server);
    registry_stub_ =
        registry::v1::RegistryService::NewStub(sanhak::testing::Connect(registry_->address()));
    grpc_directory_ = std::make_unique<GrpcRegistryDirectory>(
        sanhak::testing::Connect(registry_->address()));
  }

  RegistryViewOptions ViewOptions() {
    RegistryViewOptions options;
    options.redis_address = redis_.address();
    options.redis_credentials = CredentialsOf("events");
    options.block = absl::Milliseconds(100);
    options.min_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(100);
    return options;
  }

  // Waits until the view has read the feed to its end and holds `name` as `deleted`.
  bool Knows(RegistryView& view, const std::string& name, bool deleted = false) {
    return WaitUntil([&] {
      std::optional<RegistryView::Entry> entry = view.Lookup(name);
      return view.stats().caught_up && entry.has_value() && entry->exists &&
             entry->deleted == deleted;
    });
  }

  registry::v1::Organization CreateOrganization(const std::string& id) {
    registry::v1::CreateOrganizationRequest create;
    create.set_organization_id(id);
    create.mutable_organization()->set_display_name("뷰 시험 기관 " + id);
    create.mutable_organization()->set_kind(registry::v1::COMPANY);
    registry::v1::Organization org;
    grpc::Status s = registry_stub_->CreateOrganization(Context().get(), create, &org);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return org;
  }

  RedisServer redis_{RedisUsers::kSuite};
  sanhak::testing::TempDir dir_;
  std::unique_ptr<registry::RegistryServer> registry_;
  std::unique_ptr<registry::v1::RegistryService::Stub> registry_stub_;
  std::unique_ptr<GrpcRegistryDirectory> grpc_directory_;
};

TEST_F(RegistryViewTest, NamesTheFeedDeliveredAreAnsweredWithoutARegistryCall) {
  CountingDirectory registry(grpc_directory_.get());
  RegistryView view(&registry, ViewOptions());
  // Seeded before the view started (it reads the feed from the start), and created after.
  ASSERT_TRUE(Knows(view, kSmartGreen));
  const std::string org = CreateOrganization("view-created").name();
  ASSERT_TRUE(Knows(view, org));

  Checked checked = CheckNames(view, {kSmartGreen, org});
  ASSERT_TRUE(checked.answer.ok()) << checked.answer.status();
  EXPECT_THAT(checked.answer->missing, IsEmpty());
  EXPECT_THAT(checked.answer->deleted, IsEmpty());
  EXPECT_TRUE(checked.answered_inline);
  EXPECT_EQ(registry.calls(), 0);
  RegistryView::Stats stats = view.stats();
  EXPECT_EQ(stats.local_checks, 1);
  EXPECT_EQ(stats.remote_checks, 0);
  EXPECT_TRUE(stats.redis_reachable);
  EXPECT_EQ(stats.gaps, 0);
  EXPECT_GT(stats.last_sequence, 0);
  // Only councils and organizations are held, not the seed's complexes or memberships.
  EXPECT_FALSE(view.Lookup("complexes/mipo-onsan").has_value());
}

TEST_F(RegistryViewTest, ASoftDeleteAndAnUndeleteAreReflected) {
  CountingDirectory registry(grpc_directory_.get());
  RegistryView view(&registry, ViewOptions());
  ASSERT_TRUE(Knows(view, kSmartGreen));

  google::protobuf::Empty empty;
  registry::v1::DeleteCouncilRequest del;
  del.set_name(kSmartGreen);
  ASSERT_TRUE(registry_stub_->DeleteCouncil(Context().get(), del, &empty).ok());
  ASSERT_TRUE(Knows(view, kSmartGreen, /*deleted=*/true));
  Checked deleted = CheckNames(view, {kSmartGreen});
  ASSERT_TRUE(deleted.answer.ok()) << deleted.answer.status();
  EXPECT_THAT(deleted.answer->deleted, ElementsAre(kSmartGreen));
  EXPECT_THAT(deleted.answer->missing, IsEmpty());

  registry::v1::UndeleteCouncilRequest undelete;
  undelete.set_name(kSmartGreen);
  registry::v1::Council council;
  ASSERT_TRUE(registry_stub_->UndeleteCouncil(Context().get(), undelete, &council).ok());
  ASSERT_TRUE(Knows(view, kSmartGreen, /*deleted=*/false));
  Checked live = CheckNames(view, {kSmartGreen});
  ASSERT_TRUE(live.answer.ok()) << live.answer.status();
  EXPECT_THAT(live.answer->deleted, IsEmpty());

  // An organization the same way.
  const std::string org = CreateOrganization("deleted-later").name();
  registry::v1::DeleteOrganizationRequest del_org;
  del_org.set_name(org);
  ASSERT_TRUE(registry_stub_->DeleteOrganization(Context().get(), del_org, &empty).ok());
  ASSERT_TRUE(Knows(view, org, /*deleted=*/true));
  EXPECT_THAT(CheckNames(view, {org}).answer->deleted, ElementsAre(org));
  EXPECT_EQ(registry.calls(), 0);
}

TEST_F(RegistryViewTest, UnseenNamesAskTheRegistryOnlyForThemselvesAndWhatExistsIsRemembered) {
  CountingDirectory registry(nullptr);
  Answer registry_says;
  registry_says.missing = {"councils/nowhere"};
  registry_says.deleted = {"organizations/deleted-elsewhere"};
  registry.SetAnswer(registry_says);
  RegistryView view(&registry, ViewOptions());
  ASSERT_TRUE(Knows(view, kSmartGreen));

  Checked mixed = CheckNames(view, {kSmartGreen, "organizations/elsewhere",
                                    "organizations/deleted-elsewhere", "councils/nowhere"});
  ASSERT_TRUE(mixed.answer.ok()) << mixed.answer.status();
  EXPECT_THAT(mixed.answer->missing, ElementsAre("councils/nowhere"));
  EXPECT_THAT(mixed.answer->deleted, ElementsAre("organizations/deleted-elsewhere"));
  ASSERT_EQ(registry.calls(), 1);
  EXPECT_THAT(registry.asked()[0],
              UnorderedElementsAre("organizations/elsewhere", "organizations/deleted-elsewhere",
                                   "councils/nowhere"));

  // What the registry said exists is remembered (deleted too)...
  Checked again = CheckNames(view, {"organizations/elsewhere", "organizations/deleted-elsewhere"});
  ASSERT_TRUE(again.answer.ok());
  EXPECT_THAT(again.answer->deleted, ElementsAre("organizations/deleted-elsewhere"));
  EXPECT_EQ(registry.calls(), 1);
  // ...what it said is missing is asked again: it may have been created since.
  Checked missing = CheckNames(view, {"councils/nowhere"});
  ASSERT_TRUE(missing.answer.ok());
  EXPECT_THAT(missing.answer->missing, ElementsAre("councils/nowhere"));
  EXPECT_EQ(registry.calls(), 2);
  EXPECT_EQ(view.stats().remote_checks, 2);
  EXPECT_EQ(view.stats().local_checks, 1);
}

TEST_F(RegistryViewTest, KnownNamesAreConfirmedWhileTheRegistryIsUnreachable) {
  CountingDirectory registry(grpc_directory_.get());
  RegistryView view(&registry, ViewOptions());
  ASSERT_TRUE(Knows(view, kSmartGreen));
  registry_->Shutdown();

  Checked known = CheckNames(view, {kSmartGreen});
  ASSERT_TRUE(known.answer.ok()) << known.answer.status();
  EXPECT_THAT(known.answer->missing, IsEmpty());
  EXPECT_EQ(registry.calls(), 0);
  // A name it has not seen still needs the registry.
  Checked unseen = CheckNames(view, {kSmartGreen, "councils/never-seen"});
  EXPECT_EQ(unseen.answer.status().code(), absl::StatusCode::kUnavailable)
      << unseen.answer.status();
  EXPECT_EQ(registry.calls(), 1);
}

TEST_F(RegistryViewTest, ARedisRestartedEmptyLeavesTheMapAndTheViewFollowsOn) {
  CountingDirectory registry(grpc_directory_.get());
  RegistryView view(&registry, ViewOptions());
  ASSERT_TRUE(Knows(view, kSmartGreen));
  const int64_t before = view.stats().last_sequence;

  ASSERT_TRUE(redis_.Restart()) << redis_.Log();
  std::optional<sanhak::testing::RedisReply> length =
      redis_.Command({"XLEN", "sanhak:changes:registry"});
  ASSERT_TRUE(length.has_value());
  EXPECT_EQ(length->integer, 0) << "Redis came back with the stream";
  Checked known = CheckNames(view, {kSmartGreen});
  ASSERT_TRUE(known.answer.ok()) << known.answer.status();
  EXPECT_TRUE(known.answered_inline);

  // The registry's next record goes to the empty stream as {before + 1}-0; the view,
  // reconnected, applies it.
  const std::string org = CreateOrganization("after-redis-restart").name();
  ASSERT_TRUE(Knows(view, org));
  EXPECT_EQ(view.stats().last_sequence, before + 1);
  EXPECT_EQ(view.stats().gaps, 0);
  EXPECT_TRUE(view.Lookup(kSmartGreen).has_value());
  EXPECT_EQ(registry.calls(), 0);
}

TEST_F(RegistryViewTest, TheReaderStuckOnRedisNeverHoldsACheckBack) {
  CountingDirectory registry(grpc_directory_.get());
  RegistryView view(&registry, ViewOptions());
  ASSERT_TRUE(Knows(view, kSmartGreen));
  // Every client command is held by Redis for 3 s: the reader's next XREAD waits there.
  ASSERT_TRUE(redis_.Command({"CLIENT", "PAUSE", "3000", "ALL"}).has_value());
  absl::SleepFor(absl::Milliseconds(300));  // past one `block`: the reader is waiting
  for (int i = 0; i < 100; ++i) {
    Checked checked = CheckNames(view, {kSmartGreen});
    ASSERT_TRUE(checked.answer.ok());
    ASSERT_TRUE(checked.answered_inline);
  }
  EXPECT_EQ(registry.calls(), 0);
}

// The view on a stream written by hand (as the registry's relay writes it), to lose
// records on purpose.
class RegistryViewFeedTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.Start()) << redis_.Log(); }

  void Add(int64_t sequence, const std::string& name, bool deleted = false) {
    changes::v1::ChangeRecord record;
    record.set_service("registry");
    record.set_sequence(sequence);
    record.set_resource_name(name);
    record.set_collection(name.substr(0, name.find('/')));
    record.set_kind(changes::v1::CREATED);
    if (record.collection() == "councils") {
      registry::v1::Council c;
      c.set_name(name);
      if (deleted) c.mutable_delete_time()->set_seconds(1);
      record.mutable_state()->PackFrom(c);
    } else {
      registry::v1::Organization o;
      o.set_name(name);
      if (deleted) o.mutable_delete_time()->set_seconds(1);
      record.mutable_state()->PackFrom(o);
    }
    std::optional<sanhak::testing::RedisReply> added =
        redis_.Command({"XADD", "sanhak:changes:registry", std::to_string(sequence) + "-0",
                        "record", record.SerializeAsString()});
    ASSERT_TRUE(added.has_value());
    ASSERT_EQ(added->str, std::to_string(sequence) + "-0");
  }

  RegistryViewOptions ViewOptions() {
    RegistryViewOptions options;
    options.redis_address = redis_.address();
    options.block = absl::Milliseconds(100);
    options.min_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(100);
    return options;
  }

  RedisServer redis_;
};

TEST_F(RegistryViewFeedTest, AGapMakesTheViewForgetWhatItKnewAndLearnAgain) {
  CountingDirectory registry(nullptr);
  registry.SetAnswer(Answer{});
  RegistryView view(&registry, ViewOptions());
  Add(1, "councils/a");
  Add(2, "organizations/b");
  ASSERT_TRUE(WaitUntil([&] { return view.stats().last_sequence == 2; }));
  ASSERT_TRUE(view.Lookup("councils/a").has_value());

  // Records 3 and 4 are lost to the view (Redis lost them, or the stream was trimmed
  // past it): one of them could have deleted councils/a.
  ASSERT_TRUE(redis_.Command({"DEL", "sanhak:changes:registry"}).has_value());
  Add(5, "councils/c", /*deleted=*/true);
  ASSERT_TRUE(WaitUntil([&] { return view.stats().last_sequence == 5; }));
  EXPECT_EQ(view.stats().gaps, 1);
  EXPECT_FALSE(view.Lookup("councils/a").has_value());
  EXPECT_FALSE(view.Lookup("organizations/b").has_value());
  ASSERT_TRUE(view.Lookup("councils/c").has_value());
  EXPECT_TRUE(view.Lookup("councils/c")->deleted);
  Checked checked = CheckNames(view, {"councils/a", "councils/c"});
  ASSERT_TRUE(checked.answer.ok());
  EXPECT_THAT(checked.answer->deleted, ElementsAre("councils/c"));
  ASSERT_EQ(registry.calls(), 1);
  EXPECT_THAT(registry.asked()[0], ElementsAre("councils/a"));

  // A stream rebuilt below what the view applied (a restored registry database): the
  // view starts over from its first entry.
  ASSERT_TRUE(redis_.Command({"DEL", "sanhak:changes:registry"}).has_value());
  Add(1, "organizations/restored");
  ASSERT_TRUE(WaitUntil([&] {
    return view.stats().last_sequence == 1 && view.Lookup("organizations/restored");
  }));
  EXPECT_FALSE(view.Lookup("councils/c").has_value());
}

TEST_F(RegistryViewFeedTest, PastItsBoundTheViewAsksTheRegistryInstead) {
  CountingDirectory registry(nullptr);
  registry.SetAnswer(Answer{});
  RegistryViewOptions options = ViewOptions();
  options.max_entries = 2;
  RegistryView view(&registry, options);
  Add(1, "councils/a");
  Add(2, "councils/b");
  Add(3, "councils/c");
  Add(4, "councils/a", /*deleted=*/true);
  ASSERT_TRUE(WaitUntil([&] { return view.stats().last_sequence == 4; }));
  EXPECT_EQ(view.stats().entries, 2);
  // Held names still follow the feed.
  ASSERT_TRUE(view.Lookup("councils/a").has_value());
  EXPECT_TRUE(view.Lookup("councils/a")->deleted);
  EXPECT_FALSE(view.Lookup("councils/c").has_value());
  Checked checked = CheckNames(view, {"councils/c"});
  ASSERT_TRUE(checked.answer.ok());
  EXPECT_EQ(registry.calls(), 1);
  // Nor does the registry's answer go past the bound.
  CheckNames(view, {"councils/c"});
  EXPECT_EQ(registry.calls(), 2);
}

// The registry and events servers as they run, sharing one Redis with the suite's users.
TEST_F(RegistryViewTest, AnActivityNamingAKnownCouncilIsCreatedWhileTheRegistryIsDown) {
  EventsConfig config;
  config.server.listen_address = "127.0.0.1:0";
  config.server.log_calls = false;
  config.server.drain_deadline = absl::Seconds(1);
  config.database_path = dir_.File("events.db");
  config.registry_address = registry_->address();
  config.redis_address = redis_.address();
  config.redis_credentials = CredentialsOf("events");
  auto events = EventsServer::Start(config);
  ASSERT_TRUE(events.ok()) << events.status();
  RegistryView* view = (*events)->registry_view();
  ASSERT_NE(view, nullptr);
  ASSERT_TRUE(Knows(*view, kSmartGreen));
  auto stub = v1::EventsService::NewStub(sanhak::testing::Connect((*events)->address()));

  registry_->Shutdown();
  v1::CreateActivityRequest create;
  create.set_activity_id("during-registry-outage");
  create.mutable_activity()->set_kind(v1::SEMINAR);
  create.mutable_activity()->set_title("레지스트리 점검 중 세미나");
  create.mutable_activity()->add_councils(kSmartGreen);
  v1::Activity created;
  grpc::Status status = stub->CreateActivity(Context().get(), create, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(created.councils(), ElementsAre(kSmartGreen));
  // A council the view never saw still needs the registry, which is away.
  create.set_activity_id("naming-an-unseen-council");
  create.mutable_activity()->set_councils(0, "councils/never-in-the-feed");
  status = stub->CreateActivity(Context().get(), create, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_GE(view->stats().local_checks, 1);
  (*events)->Shutdown();

  // Without Redis there is no view: every check asks the registry, as before.
  EventsConfig plain = config;
  plain.redis_address.clear();
  plain.database_path = dir_.File("events-plain.db");
  auto without = EventsServer::Start(plain);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ((*without)->registry_view(), nullptr);
}

}  // namespace
}  // namespace sanhak::events
