// The launchers every process-level test and the benchmark use: a port another process
// takes between the pick and the bind costs a retry, not the test (the race behind
// "bind: Address already in use" in AnalyticsTest); a restart keeps its port; children
// started on short-lived threads outlive them.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"
#include "tests/support/ports.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_process.h"
#include "tests/support/redis_server.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_support.h"

namespace sanhak::testing {
namespace {

using ::testing::HasSubstr;

// Another process's listening socket on 127.0.0.1:port, closed on destruction.
class Squatter {
 public:
  explicit Squatter(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    // Only to bind over the TIME_WAIT a killed server leaves; the listen still blocks it.
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    listening_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                 listen(fd_, 8) == 0;
  }
  ~Squatter() { close(fd_); }
  bool listening() const { return listening_; }

 private:
  int fd_ = -1;
  bool listening_ = false;
};

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

RedisOptions OptionsIn(const TempDir& dir) {
  RedisOptions options;
  options.dir = dir.path();
  return options;
}

// The race as it happened: the port was free when picked, another process bound it
// before redis-server did.
TEST(RedisServerTest, StartsWhenItsPortIsTakenBetweenThePickAndTheStart) {
  RedisServer redis;
  const int picked = redis.port();
  Squatter other(picked);
  ASSERT_TRUE(other.listening());
  ASSERT_TRUE(redis.Start()) << redis.Log();
  EXPECT_NE(redis.port(), picked);
  EXPECT_THAT(redis.Log(), HasSubstr("Address already in use"));
  std::optional<RedisReply> pong = redis.Command({"PING"});
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->str, "PONG");
}

TEST(RedisProcessTest, MovesToAFreshPortEachTimeItsPortIsTaken) {
  TempDir dir;
  std::vector<std::unique_ptr<Squatter>> others;
  std::set<int> taken;
  RedisOptions options = OptionsIn(dir);
  options.before_launch = [&](int port) {
    if (others.size() < 3) {
      others.push_back(std::make_unique<Squatter>(port));
      taken.insert(port);
    }
  };
  RedisProcess redis(options);
  ASSERT_TRUE(redis.Start().ok()) << redis.Log();
  EXPECT_EQ(redis.launches(), 4);
  EXPECT_EQ(taken.size(), 3u);
  EXPECT_EQ(taken.count(redis.port()), 0u);
  EXPECT_EQ(Count(redis.Log(), "Address already in use"), 3) << redis.Log();
  auto [first, last] = ReservablePorts();
  EXPECT_GE(redis.port(), first);
  EXPECT_LE(redis.port(), last);
}

TEST(RedisProcessTest, GivesUpAfterABoundedNumberOfTakenPorts) {
  TempDir dir;
  std::vector<std::unique_ptr<Squatter>> others;
  RedisOptions options = OptionsIn(dir);
  options.before_launch = [&](int port) { others.push_back(std::make_unique<Squatter>(port)); };
  RedisProcess redis(options);
  absl::Status started = redis.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kUnavailable) << started;
  EXPECT_THAT(std::string(started.message()), HasSubstr("port taken 8 times"));
  EXPECT_EQ(redis.launches(), RedisProcess::kMaxLaunches);
  EXPECT_FALSE(redis.running());
}

// Clients hold the address of a Redis that answered once: killed (kill -9) and started
// again, it must come back on the same port, even if the port is briefly held.
TEST(RedisProcessTest, ARestartKeepsThePortAndWaitsUntilItIsFree) {
  TempDir dir;
  RedisProcess redis(OptionsIn(dir));
  ASSERT_TRUE(redis.Start().ok()) << redis.Log();
  const int port = redis.port();
  const pid_t first_pid = redis.pid();
  redis.Kill();
  auto other = std::make_unique<Squatter>(port);
  ASSERT_TRUE(other->listening());
  std::thread leaves([&] {
    absl::SleepFor(absl::Milliseconds(500));
    other.reset();
  });
  absl::Status restarted = redis.Start();
  leaves.join();
  ASSERT_TRUE(restarted.ok()) << restarted << redis.Log();
  EXPECT_EQ(redis.port(), port);
  EXPECT_NE(redis.pid(), first_pid);
  EXPECT_GE(redis.launches(), 3);  // the first start, at least one refused, the one that ran
}

TEST(RedisProcessTest, ARestartWhosePortStaysTakenFailsAndSaysWhy) {
  TempDir dir;
  RedisOptions options = OptionsIn(dir);
  options.same_port_limit = absl::Seconds(1);
  RedisProcess redis(options);
  ASSERT_TRUE(redis.Start().ok()) << redis.Log();
  const int port = redis.port();
  redis.Kill();
  Squatter other(port);
  ASSERT_TRUE(other.listening());
  absl::Status restarted = redis.Restart();
  EXPECT_EQ(restarted.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(restarted.message()),
              HasSubstr(absl::StrCat("restart on port ", port, " (which its clients know)")));
  EXPECT_EQ(redis.port(), port);
}

// Each from its own thread, which ends before the servers are used: they must outlive
// it (a child forked on a thread dies with that thread under PR_SET_PDEATHSIG).
TEST(RedisServerTest, EightStartedAtOnceFromThreadsAllAnswer) {
  constexpr int kServers = 8;
  std::vector<std::unique_ptr<RedisServer>> servers(kServers);
  std::vector<std::string> failures(kServers);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kServers; ++i) {
      threads.emplace_back([&, i] {
        servers[i] = std::make_unique<RedisServer>();
        if (!servers[i]->Start()) failures[i] = servers[i]->Log();
      });
    }
    for (auto& t : threads) t.join();
  }
  std::set<int> ports;
  for (int i = 0; i < kServers; ++i) {
    EXPECT_EQ(failures[i], "") << "server " << i;
    ports.insert(servers[i]->port());
    ASSERT_TRUE(servers[i]->Command({"SET", "k", absl::StrCat(i)}).has_value()) << i;
  }
  EXPECT_EQ(ports.size(), static_cast<size_t>(kServers));
  // Each answers as itself: no two tests share a Redis.
  for (int i = 0; i < kServers; ++i) {
    std::optional<RedisReply> value = servers[i]->Command({"GET", "k"});
    ASSERT_TRUE(value.has_value());
    EXPECT_EQ(value->str, absl::StrCat(i));
  }
}

TEST(ReservedPortTest, NoTwoHeldAtOnceShareAPortAndEachCanBeListenedOn) {
  std::vector<ReservedPort> held;
  std::set<int> ports;
  auto [first, last] = ReservablePorts();
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<ReservedPort> port = ReservedPort::Pick();
    ASSERT_TRUE(port.ok()) << port.status();
    EXPECT_GE(port->port(), first);
    EXPECT_LE(port->port(), last);
    EXPECT_TRUE(ports.insert(port->port()).second) << port->port() << " handed out twice";
    Squatter listener(port->port());
    EXPECT_TRUE(listener.listening()) << port->port();
    held.push_back(*std::move(port));
  }
}

TEST(ChildProcessTest, SaysWhyAProgramCannotRun) {
  ChildProcess child;
  absl::Status started = child.Start({"/nonexistent/sanhak-program"});
  EXPECT_EQ(started.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(started.message()), HasSubstr("No such file or directory"));
  EXPECT_FALSE(child.running());
}

TEST(ChildProcessTest, ReportsTheExitStatusAndOutlivesTheThreadThatStartedIt) {
  TempDir dir;
  ChildProcess sleeper;
  ChildProcess exiter;
  std::thread starter([&] {
    ASSERT_TRUE(sleeper.Start({"/bin/sleep", "30"}).ok());
    ChildStreams streams;
    streams.stdout_path = dir.File("out");
    ASSERT_TRUE(exiter.Start({"/bin/sh", "-c", "echo said; exit 3"}, streams).ok());
  });
  starter.join();
  EXPECT_EQ(exiter.WaitExit(absl::Seconds(10)), 3);
  EXPECT_EQ(sleeper.WaitExit(absl::Milliseconds(300)), -1) << "died with its thread";
  EXPECT_TRUE(sleeper.running());
  sleeper.Kill();
  EXPECT_EQ(sleeper.exit_status(), 128 + SIGKILL);
  std::ifstream out(dir.File("out"));
  std::string said;
  std::getline(out, said);
  EXPECT_EQ(said, "said");
}

// A fork of the test process (gtest's "fast" death tests) has none of its parent's
// threads, the forking one included: it must still start children.
TEST(ChildProcessDeathTest, StartsChildrenInAForkOfTheTestProcess) {
  GTEST_FLAG_SET(death_test_style, "fast");
  ChildProcess before;
  ASSERT_TRUE(before.Start({"/bin/true"}).ok());
  EXPECT_EQ(before.WaitExit(absl::Seconds(10)), 0);
  EXPECT_EXIT(
      {
        alarm(30);  // a hang fails the test instead of stalling the run
        ChildProcess child;
        _exit(child.Start({"/bin/sh", "-c", "exit 7"}).ok()
                  ? child.WaitExit(absl::Seconds(10))
                  : 99);
      },
      ::testing::ExitedWithCode(7), "");
}

// A service child binds 127.0.0.1:0 and says where: no port is picked before the bind.
TEST(ServerProcessTest, ServesWhereThePrintedAddressSaysAcrossRestarts) {
  TempDir dir;
  ServerProcess server(SANHAK_REGISTRY_BINARY,
                       {"--db=" + dir.File("r.db"), "--metrics_listen=127.0.0.1:0"},
                       dir.File("r.log"));
  for (int life = 0; life < 2; ++life) {
    ASSERT_TRUE(server.Start());
    ASSERT_TRUE(server.WaitServing()) << server.Log();
    ASSERT_TRUE(absl::StartsWith(server.address(), "127.0.0.1:")) << server.address();
    EXPECT_NE(server.address(), "127.0.0.1:0");
    EXPECT_THAT(server.Log(), HasSubstr("registry listening on " + server.address() + "\n"));
    EXPECT_THAT(server.Log(),
                HasSubstr("registry metrics on http://" + server.metrics_address() + "/metrics"));
    EXPECT_NE(server.metrics_address(), server.address());
    auto health = grpc::health::v1::Health::NewStub(Connect(server.address()));
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(Context().get(), {}, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
    server.Kill();
  }
  // The second life's address came from the second life's line, not the first's.
  EXPECT_EQ(Count(server.Log(), "registry listening on "), 2);
}

TEST(ServerProcessTest, AProcessThatEndsBeforeListeningIsNotWaitedFor) {
  TempDir dir;
  ServerProcess server(SANHAK_REGISTRY_BINARY, {"--db=" + dir.File("missing/dir/r.db")},
                       dir.File("r.log"));
  ASSERT_TRUE(server.Start());
  const absl::Time start = absl::Now();
  EXPECT_FALSE(server.WaitServing(std::chrono::seconds(30))) << server.Log();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  EXPECT_EQ(server.address(), "");
}

// The cluster engine's server: started (as nobody when the tests run as root), a fresh
// database per name, data kept across a crash-like Kill() and the Restart() after it.
TEST(PostgresServerTest, StartsCreatesDatabasesAndKeepsDataAcrossACrash) {
  PostgresServer server;
  ASSERT_TRUE(server.Start()) << server.Log();
  absl::StatusOr<std::string> uri = server.CreateDatabase("t1");
  ASSERT_TRUE(uri.ok()) << uri.status();
  ASSERT_TRUE(server.Query(*uri, "CREATE TABLE k(v text); INSERT INTO k VALUES('산학연')").ok());
  server.Kill();
  EXPECT_FALSE(server.Query(*uri, "SELECT 1").ok());
  ASSERT_TRUE(server.Restart()) << server.Log();
  auto rows = server.Query(*uri, "SELECT v FROM k");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0][0], "산학연");
  // A database created again starts empty.
  ASSERT_TRUE(server.CreateDatabase("t1").ok());
  EXPECT_FALSE(server.Query(*uri, "SELECT v FROM k").ok());
}

}  // namespace
}  // namespace sanhak::testing
