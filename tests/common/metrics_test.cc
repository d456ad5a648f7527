// Metrics as Prometheus reads them: the text exposition format (escaping,
// cumulative histogram buckets, callbacks read at scrape time), the /metrics
// HTTP endpoint, and a real registry server whose call counters, latency
// histograms and in-flight gauges are scraped over HTTP after real gRPC calls.
// Also: the endpoint keeps serving while hostile clients hold connections, a
// caller cannot add series by calling made-up methods, the process_* figures and
// build info, and gRPC's own log lines come out as JSON.
#include "common/metrics.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/grpc_metrics.h"
#include "common/metrics_http.h"
#include "common/server.h"
#include "gmock/gmock.h"
#include "grpc/grpc.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/support/log.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "services/registry/registry_server.h"
#include "tests/support/test_support.h"

namespace sanhak::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The value of the sample whose name-and-labels part is exactly `series`, or
// nullopt.
std::optional<double> Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "#")) continue;
    if (!absl::StartsWith(line, series) || line.size() <= series.size() ||
        line[series.size()] != ' ') {
      continue;
    }
    absl::string_view value = line.substr(series.size() + 1);
    double v = 0;
    if (value == "+Inf") return std::numeric_limits<double>::infinity();
    if (!absl::SimpleAtod(value, &v)) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

// The number of samples in an exposition (lines that are not comments).
int SampleCount(const std::string& text) {
  int count = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, "#")) ++count;
  }
  return count;
}

// The sum of the samples of `name` whose labels include every one of `labels`
// (each `key="value"`).
double SumOf(const std::string& text, absl::string_view name,
             const std::vector<std::string>& labels) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, absl::StrCat(name, "{"))) continue;
    bool all = true;
    for (const std::string& label : labels) all = all && absl::StrContains(line, label);
    double v = 0;
    if (all && absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) sum += v;
  }
  return sum;
}

// GET /metrics with a client that gives up after 1 s without a connection or
// without a byte of the answer: what a scrape during an attack must meet.
httplib::Result QuickScrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(1, 0);
  client.set_write_timeout(1, 0);
  return client.Get("/metrics");
}

// A plain TCP connection to 127.0.0.1:`port`, or -1.
int ConnectTcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Whether the server has given up on `fd`: closed or reset it, or answered
// (an error status) where the client had not finished its request. Does not
// block.
bool ServerGaveUp(int fd) {
  char c;
  ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

// Hostile HTTP clients: `trickling` connections that send a request head one
// byte a second, and `silent` ones that connect and send nothing. A connection
// the server drops is opened again, so the attack lasts for as long as the
// object lives.
class SlowClients {
 public:
  SlowClients(int port, int trickling, int silent) : port_(port) {
    for (int i = 0; i < trickling + silent; ++i) {
      conns_.push_back({ConnectTcp(port_), i < trickling, 0});
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~SlowClients() {
    stop_.Notify();
    thread_.join();
    for (const Conn& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
  }
  // How many times the server dropped one of the connections.
  int dropped() const { return dropped_.load(); }

 private:
  struct Conn {
    int fd;
    bool trickling;
    size_t sent;
  };

  void Run() {
    // Never ends: an 8 KB header line would hit a size bound instead of a time
    // bound.
    const std::string head = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    while (!stop_.HasBeenNotified()) {
      for (Conn& c : conns_) {
        if (c.fd < 0 || ServerGaveUp(c.fd)) {
          if (c.fd >= 0) {
            close(c.fd);
            ++dropped_;
          }
          c.fd = ConnectTcp(port_);
          c.sent = 0;
        }
        if (c.fd >= 0 && c.trickling) {
          char byte = c.sent < head.size() ? head[c.sent] : 'a';
          if (send(c.fd, &byte, 1, MSG_NOSIGNAL) == 1) ++c.sent;
        }
      }
      stop_.WaitForNotificationWithTimeout(absl::Seconds(1));
    }
  }

  const int port_;
  std::vector<Conn> conns_;
  std::atomic<int> dropped_{0};
  absl::Notification stop_;
  std::thread thread_;
};

TEST(MetricsTextTest, CountersAndGaugesWithHelpTypeAndLabels) {
  MetricsRegistry registry;
  CounterFamily* calls = registry.AddCounter("app_calls_total", "Calls made.", {"method", "code"});
  GaugeFamily* temperature = registry.AddGauge("app_temperature_celsius", "Now.");
  calls->WithLabels({"Get", "OK"})->Increment(3);
  calls->WithLabels({"Get", "NOT_FOUND"})->Increment();
  temperature->Get()->Set(21.5);
  temperature->Get()->Add(-1);

  EXPECT_EQ(registry.Render(),
            "# HELP app_calls_total Calls made.\n"
            "# TYPE app_calls_total counter\n"
            "app_calls_total{method=\"Get\",code=\"OK\"} 3\n"
            "app_calls_total{method=\"Get\",code=\"NOT_FOUND\"} 1\n"
            "# HELP app_temperature_celsius Now.\n"
            "# TYPE app_temperature_celsius gauge\n"
            "app_temperature_celsius 20.5\n");
}

TEST(MetricsTextTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.AddCounter("x_total", "Back\\slash and\nnewline, \"quotes\" kept.", {"v"})
      ->WithLabels({"a\\b \"c\"\nd 모빌리티"})
      ->Increment();
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP x_total Back\\\\slash and\\nnewline, \"quotes\" kept.\n"));
  EXPECT_THAT(text, HasSubstr("x_total{v=\"a\\\\b \\\"c\\\"\\nd 모빌리티\"} 1\n"));
  // One sample line, not split by the newline in the value.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
}

TEST(MetricsTextTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  MetricsRegistry registry;
  HistogramFamily* latency =
      registry.AddHistogram("op_seconds", "Latency.", {"op"}, {1, 0.1, 10});  // unsorted
  Histogram* h = latency->WithLabels({"read"});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h->Observe(v);

  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE op_seconds histogram\n"));
  // le is "less than or equal": 0.1 falls in the 0.1 bucket.
  EXPECT_EQ(Sample(text, "op_seconds_bucket{op=\"read\",le=\"0.1\"}"), 2);
  EXPECT_EQ(Sample(text, "op_seconds_bucket{op=\"read\",le=\"1\"}"), 3);
  EXPECT_EQ(Sample(text, "op_seconds_bucket{op=\"read\",le=\"10\"}"), 4);
  EXPECT_EQ(Sample(text, "op_seconds_bucket{op=\"read\",le=\"+Inf\"}"), 5);
  EXPECT_EQ(Sample(text, "op_seconds_count{op=\"read\"}"), 5);
  EXPECT_DOUBLE_EQ(*Sample(text, "op_seconds_sum{op=\"read\"}"), 55.65);
  // Buckets come in ascending order of le.
  EXPECT_LT(text.find("le=\"0.1\""), text.find("le=\"1\""));
  EXPECT_LT(text.find("le=\"10\""), text.find("le=\"+Inf\""));
}

TEST(MetricsTextTest, CallbacksAreReadAtScrapeTimeAndMayBeAbsent) {
  MetricsRegistry registry;
  std::optional<double> backlog = 7;
  registry.AddCallback(MetricType::kGauge, "outbox_backlog", "Waiting.",
                       [&backlog] { return backlog; });
  registry.AddCallback(MetricType::kCounter, "relayed_total", "Relayed.",
                       [] { return std::optional<double>(12); });
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE outbox_backlog gauge\noutbox_backlog 7\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE relayed_total counter\nrelayed_total 12\n"));

  backlog = 2;
  EXPECT_EQ(Sample(registry.Render(), "outbox_backlog"), 2);
  // Unreadable: the family is described, the sample left out (never a made-up
  // value).
  backlog = std::nullopt;
  text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE outbox_backlog gauge\n"));
  EXPECT_EQ(Sample(text, "outbox_backlog"), std::nullopt);
}

TEST(MetricsTextTest, ANameRegisteredTwiceIsOneFamily) {
  MetricsRegistry registry;
  CounterFamily* a = registry.AddCounter("dup_total", "First.", {"k"});
  CounterFamily* b = registry.AddCounter("dup_total", "Second.", {"k"});
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->WithLabels({"x"}), b->WithLabels({"x"}));
  a->WithLabels({"x"})->Increment();
  std::string text = registry.Render();
  EXPECT_EQ(text.find("# TYPE dup_total"), text.rfind("# TYPE dup_total"));
}

TEST(MetricsTextTest, FormatsValuesAsPrometheusDoes) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.0005), "0.0005");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(MetricsTextTest, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry registry;
  Counter* counter = registry.AddCounter("c_total", "C.")->Get();
  Gauge* gauge = registry.AddGauge("g", "G.")->Get();
  Histogram* histogram = registry.AddHistogram("h_seconds", "H.", {}, {0.5})->Get();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        counter->Increment();
        gauge->Add(1);
        histogram->Observe(i % 2 == 0 ? 0.25 : 1);
        gauge->Add(-1);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::string text = registry.Render();
  EXPECT_EQ(Sample(text, "c_total"), 80000);
  EXPECT_EQ(Sample(text, "g"), 0);
  EXPECT_EQ(Sample(text, "h_seconds_bucket{le=\"0.5\"}"), 40000);
  EXPECT_EQ(Sample(text, "h_seconds_count"), 80000);
  EXPECT_DOUBLE_EQ(*Sample(text, "h_seconds_sum"), 40000 * 0.25 + 40000 * 1.0);
}

TEST(MetricsHttpServerTest, ServesMetricsOnAFreePortAndNothingElse) {
  MetricsRegistry registry;
  registry.AddCounter("served_total", "Served.")->Get()->Increment(5);
  auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(), absl::StrCat("127.0.0.1:", (*server)->port()));

  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result got = client.Get("/metrics");
  ASSERT_TRUE(got) << httplib::to_string(got.error());
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->get_header_value("Content-Type"), kExpositionContentType);
  EXPECT_EQ(Sample(got->body, "served_total"), 5);

  httplib::Result other = client.Get("/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);

  (*server)->Stop();
  (*server)->Stop();  // idempotent
  httplib::Client after("127.0.0.1", (*server)->port());
  after.set_connection_timeout(1, 0);
  EXPECT_FALSE(after.Get("/metrics")) << "still serving after Stop";
}

// The kubelet's probes cannot present a client certificate to the mutual-TLS gRPC port,
// so the metrics port answers them (deploy/ points httpGet probes here).
TEST(MetricsHttpServerTest, AnswersTheKubeletsProbesFromTheReadyState) {
  MetricsRegistry registry;
  std::atomic<bool> ready{false};
  auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry, [&] { return ready.load(); });
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result live = client.Get("/healthz");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  httplib::Result not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  ready = true;
  httplib::Result now_ready = client.Get("/readyz");
  ASSERT_TRUE(now_ready);
  EXPECT_EQ(now_ready->status, 200);
  EXPECT_EQ(now_ready->body, "ready\n");

  // Without a probe there is no readiness to report.
  auto bare = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(bare.ok());
  httplib::Client bare_client("127.0.0.1", (*bare)->port());
  httplib::Result none = bare_client.Get("/readyz");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
}

TEST(MetricsHttpServerTest, AnswersHeadAndRefusesOtherMethodsAndGarbage) {
  MetricsRegistry registry;
  registry.AddCounter("served_total", "Served.")->Get()->Increment(5);
  auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result head = client.Head("/metrics");
  ASSERT_TRUE(head) << httplib::to_string(head.error());
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  httplib::Result get = client.Get("/metrics?x=1");  // a query changes nothing
  ASSERT_TRUE(get) << httplib::to_string(get.error());
  EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(get->body.size()));
  httplib::Result post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post) << httplib::to_string(post.error());
  EXPECT_EQ(post->status, 405);

  int fd = ConnectTcp((*server)->port());
  ASSERT_GE(fd, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  const std::string garbage = "HELLO\r\n\r\n";
  ASSERT_EQ(send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(garbage.size()));
  char buffer[256];
  ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
  close(fd);
  ASSERT_GT(n, 0);
  EXPECT_TRUE(absl::StartsWith(absl::string_view(buffer, n), "HTTP/1.1 400 ")) << buffer;
}

TEST(MetricsHttpServerTest, StopRightAfterStartReturns) {
  MetricsRegistry registry;
  for (int i = 0; i < 20; ++i) {
    auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
    ASSERT_TRUE(server.ok()) << server.status();
    (*server)->Stop();
  }
}

TEST(MetricsHttpServerTest, ABusyPortOrBadAddressIsAnError) {
  MetricsRegistry registry;
  auto first = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = MetricsHttpServer::Start(absl::StrCat("127.0.0.1:", (*first)->port()), &registry);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(MetricsHttpServer::Start("no-port", &registry).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A request head that never ends holds a connection for a bounded time, however
// steadily its bytes come.
TEST(MetricsHttpServerTest, ASlowRequestIsCutOff) {
  MetricsRegistry registry;
  auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  int fd = ConnectTcp((*server)->port());
  ASSERT_GE(fd, 0);
  const std::string head = "GET /metrics HTTP/1.1\r\nX-Slow: ";
  bool cut = false;
  // 60 bytes, one each 200 ms: 12 s, far beyond any sensible time for a head,
  // and each gap far below any per-read timeout.
  for (int i = 0; i < 60 && !cut; ++i) {
    char byte = i < static_cast<int>(head.size()) ? head[i] : 'a';
    cut = send(fd, &byte, 1, MSG_NOSIGNAL) != 1 || ServerGaveUp(fd);
    absl::SleepFor(absl::Milliseconds(200));
  }
  close(fd);
  EXPECT_TRUE(cut) << "a request head trickling in for 12 s still holds its connection";
}

// A request head beyond the size bound is refused: the server neither buffers
// it nor waits for its end.
TEST(MetricsHttpServerTest, AnOversizedRequestIsRefused) {
  MetricsRegistry registry;
  registry.AddCounter("x_total", "X.")->Get()->Increment();
  auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  int fd = ConnectTcp((*server)->port());
  ASSERT_GE(fd, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  // One 1 MB header line with no end, sent as fast as the server takes it.
  std::string head = "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a');
  size_t sent = 0;
  while (sent < head.size()) {
    ssize_t n = send(fd, head.data() + sent, head.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed: refused
    sent += n;
  }
  // The answer, if any, is an error status, and then the connection ends.
  std::string answer;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) answer.append(buffer, n);
  const bool ended = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  close(fd);
  EXPECT_TRUE(ended) << "the server is still waiting for the end of a 1 MB head";
  EXPECT_THAT(answer, Not(HasSubstr("x_total"))) << answer;
  if (!answer.empty()) {
    EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 4")) << answer;
  }

  // The endpoint still serves.
  httplib::Result got = QuickScrape((*server)->port());
  ASSERT_TRUE(got) << httplib::to_string(got.error());
  EXPECT_EQ(Sample(got->body, "x_total"), 1);
  EXPECT_EQ(Sample(got->body, "sanhak_metrics_connections_dropped_total{reason=\"too_large\"}"),
            1);
}

// Far more idle connections than the endpoint keeps: a scrape made after them is
// still served.
TEST(MetricsHttpServerTest, ManyIdleConnectionsDoNotShutOutAScrape) {
  MetricsRegistry registry;
  registry.AddCounter("x_total", "X.")->Get()->Increment();
  auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<int> idle;
  for (int i = 0; i < 300; ++i) {
    int fd = ConnectTcp((*server)->port());
    if (fd >= 0) idle.push_back(fd);
  }
  for (int i = 0; i < 3; ++i) {
    httplib::Result got = QuickScrape((*server)->port());
    ASSERT_TRUE(got) << "scrape " << i << ": " << httplib::to_string(got.error());
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(Sample(got->body, "x_total"), 1);
    EXPECT_GT(Sample(got->body, "sanhak_metrics_connections_dropped_total{reason=\"evicted\"}"), 0);
  }
  for (int fd : idle) close(fd);
}

// gRPC's own messages go through Log(): one JSON object on one line.
TEST(GrpcLogTest, GrpcMessagesBecomeJsonLines) {
  // gRPC logs nothing before it is initialized (a server or channel does this).
  grpc_init();
  sanhak::testing::TempDir dir;
  std::string path = dir.File("stderr");
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  int file = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(file, 0);
  dup2(file, STDERR_FILENO);
  RouteGrpcLogsToLog();
  gpr_log(GPR_ERROR, "socket \"closed\"\nunexpectedly");
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(file);
  grpc_shutdown();

  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_TRUE(absl::StartsWith(text, "{\"ts\":")) << text;
  EXPECT_TRUE(absl::EndsWith(text, "}\n")) << text;
  EXPECT_THAT(text, HasSubstr("\"level\":\"error\""));
  EXPECT_THAT(text, HasSubstr("\"msg\":\"socket \\\"closed\\\"\\nunexpectedly\""));
  EXPECT_THAT(text, HasSubstr("\"source\":\"grpc\""));
}

// A registry served over real gRPC with metrics on a free port, scraped over
// real HTTP.
class RegistryMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry::RegistryConfig config;
    config.server.listen_address = "127.0.0.1:0";
    config.server.metrics_listen_address = "127.0.0.1:0";
    config.server.log_calls = false;
    config.server.drain_deadline = absl::Seconds(2);
    sanhak::testing::UseTestDatabase(dir_, config, "registry.db");
    auto server = registry::RegistryServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->metrics_port(), 0);
    ASSERT_NE(server_->metrics_port(), server_->port());
    channel_ = sanhak::testing::Connect(server_->address());
    stub_ = registry::v1::RegistryService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  std::string Scrape() {
    httplib::Client client("127.0.0.1", server_->metrics_port());
    httplib::Result got = client.Get("/metrics");
    EXPECT_TRUE(got) << httplib::to_string(got.error());
    if (!got) return "";
    EXPECT_EQ(got->status, 200);
    return got->body;
  }

  // A sample's value, 0 when the series is not there yet.
  static double Value(const std::string& text, const std::string& series) {
    return Sample(text, series).value_or(0);
  }

  static std::string Method(absl::string_view type, absl::string_view service,
                            absl::string_view method) {
    return absl::StrCat("grpc_type=\"", type, "\",grpc_service=\"", service, "\",grpc_method=\"",
                        method, "\"");
  }

  sanhak::testing::TempDir dir_;
  std::unique_ptr<registry::RegistryServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<registry::v1::RegistryService::Stub> stub_;
};

TEST_F(RegistryMetricsTest, CountsCallsByMethodAndCode) {
  const std::string list = Method("unary", registry::kRegistryServiceName, "ListCouncils");
  const std::string get = Method("unary", registry::kRegistryServiceName, "GetCouncil");
  std::string before = Scrape();
  // Every method of the service is there from the start, with zero OK calls.
  EXPECT_EQ(
      Sample(before, absl::StrCat("sanhak_grpc_server_handled_total{", get, ",grpc_code=\"OK\"}")),
      0);

  for (int i = 0; i < 3; ++i) {
    registry::v1::ListCouncilsResponse response;
    grpc::Status status = stub_->ListCouncils(sanhak::testing::Context().get(),
                                              registry::v1::ListCouncilsRequest(), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  registry::v1::GetCouncilRequest missing;
  missing.set_name("councils/no-such-council");
  registry::v1::Council council;
  grpc::Status status = stub_->GetCouncil(sanhak::testing::Context().get(), missing, &council);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  std::string after = Scrape();
  auto moved = [&](const std::string& series) {
    return Value(after, series) - Value(before, series);
  };
  EXPECT_EQ(moved(absl::StrCat("sanhak_grpc_server_handled_total{", list, ",grpc_code=\"OK\"}")),
            3);
  EXPECT_EQ(
      moved(absl::StrCat("sanhak_grpc_server_handled_total{", get, ",grpc_code=\"NotFound\"}")),
      1);
  EXPECT_EQ(moved(absl::StrCat("sanhak_grpc_server_handled_total{", get, ",grpc_code=\"OK\"}")), 0);
  EXPECT_EQ(moved(absl::StrCat("sanhak_grpc_server_started_total{", list, "}")), 3);
  EXPECT_EQ(moved(absl::StrCat("sanhak_grpc_server_started_total{", get, "}")), 1);
  EXPECT_EQ(moved(absl::StrCat("sanhak_grpc_server_handling_seconds_count{", list, "}")), 3);
  EXPECT_EQ(moved(absl::StrCat("sanhak_grpc_server_handling_seconds_count{", get, "}")), 1);
  EXPECT_EQ(
      moved(absl::StrCat("sanhak_grpc_server_handling_seconds_bucket{", list, ",le=\"+Inf\"}")), 3);
  EXPECT_GT(Value(after, absl::StrCat("sanhak_grpc_server_handling_seconds_sum{", list, "}")), 0);
  EXPECT_EQ(Sample(after, absl::StrCat("sanhak_grpc_server_in_flight{", list, "}")), 0);
  EXPECT_EQ(Sample(after, absl::StrCat("sanhak_grpc_server_in_flight{", get, "}")), 0);

  // The service's own metrics sit beside the call metrics.
  EXPECT_EQ(Sample(after, "sanhak_outbox_backlog"), 0);
  EXPECT_EQ(Sample(after, absl::StrCat("sanhak_health_serving{service=\"",
                                       registry::kRegistryServiceName, "\"}")),
            1);
  // No Redis configured: nothing relays, so no relay metrics.
  EXPECT_THAT(after, Not(HasSubstr("sanhak_outbox_relayed_total")));
}

TEST_F(RegistryMetricsTest, OutboxBacklogFollowsWrites) {
  // Without Redis every change record stays in the outbox: one per write.
  const double before = Value(Scrape(), "sanhak_outbox_backlog");
  registry::v1::CreateOrganizationRequest create;
  create.set_organization_id("kicox");
  create.mutable_organization()->set_display_name("한국산업단지공단");
  create.mutable_organization()->set_kind(registry::v1::GOVERNMENT);
  registry::v1::Organization created;
  grpc::Status status =
      stub_->CreateOrganization(sanhak::testing::Context().get(), create, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Value(Scrape(), "sanhak_outbox_backlog"), before + 1);
}

TEST_F(RegistryMetricsTest, AStreamIsInFlightUntilItEnds) {
  const std::string watch =
      absl::StrCat("sanhak_grpc_server_in_flight{",
                   Method("server_stream", "grpc.health.v1.Health", "Watch"), "}");
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  auto reader = health->Watch(&context, request);
  grpc::health::v1::HealthCheckResponse first;
  ASSERT_TRUE(reader->Read(&first));  // the stream is open on the server now
  EXPECT_EQ(Value(Scrape(), watch), 1);

  context.TryCancel();
  reader->Finish().IgnoreError();
  // The server learns of the cancellation asynchronously.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Value(Scrape(), watch) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::string after = Scrape();
  EXPECT_EQ(Value(after, watch), 0) << after;
  // Handled once, with whatever status the health service ends a cancelled
  // watch with (gRPC 1.51's default health service sends UNKNOWN "OnCancel()").
  EXPECT_EQ(
      Value(after, absl::StrCat("sanhak_grpc_server_handling_seconds_count{",
                                Method("server_stream", "grpc.health.v1.Health", "Watch"), "}")),
      1)
      << after;
}

// Slow and silent clients on the service's metrics port (the service's own
// settings): every scrape made meanwhile is answered within a second.
TEST_F(RegistryMetricsTest, ScrapesSucceedWhileSlowClientsHoldConnections) {
  SlowClients attack(server_->metrics_port(), /*trickling=*/8, /*silent=*/4);
  absl::SleepFor(absl::Milliseconds(500));  // they hold their connections now
  for (int i = 0; i < 6; ++i) {
    httplib::Result got = QuickScrape(server_->metrics_port());
    ASSERT_TRUE(got) << "scrape " << i << ": " << httplib::to_string(got.error());
    EXPECT_EQ(got->status, 200);
    EXPECT_THAT(got->body, HasSubstr("sanhak_grpc_server_started_total{"));
    absl::SleepFor(absl::Seconds(1));
  }
  // The endpoint dropped them (each lasts a few seconds at most) and says so.
  EXPECT_GT(attack.dropped(), 0);
  EXPECT_GT(Value(Scrape(), "sanhak_metrics_connections_dropped_total{reason=\"slow\"}"), 0);
}

// Calls to methods the server does not have are counted, all under one label
// set: what a caller names cannot add series.
TEST_F(RegistryMetricsTest, UnknownMethodsShareOneSeries) {
  grpc::GenericStub generic(channel_);
  const int before = SampleCount(Scrape());
  for (int i = 0; i < 1000; ++i) {
    std::string method;
    switch (i % 3) {
      case 0: method = absl::StrCat("/", registry::kRegistryServiceName, "/NoSuch", i); break;
      case 1: method = absl::StrCat("/attacker.Service", i, "/Call"); break;
      default: method = absl::StrCat("/x.Y/", std::string(200, 'a'), i); break;
    }
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();
    ASSERT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << method;
  }
  std::string after = Scrape();
  // One label set of started, in flight, the histogram (14 buckets, +Inf, sum,
  // count) and handled with OK and UNIMPLEMENTED: 21 samples, not 21 per name.
  EXPECT_LE(SampleCount(after) - before, 25) << after.substr(0, 4000);
  EXPECT_THAT(after, Not(HasSubstr("NoSuch")));
  EXPECT_THAT(after, Not(HasSubstr("attacker")));
  const std::vector<std::string> unknown = {"grpc_service=\"unknown\"",
                                            "grpc_method=\"unknown\""};
  EXPECT_EQ(SumOf(after, "sanhak_grpc_server_started_total", unknown), 1000);
  std::vector<std::string> unimplemented = unknown;
  unimplemented.push_back("grpc_code=\"Unimplemented\"");
  EXPECT_EQ(SumOf(after, "sanhak_grpc_server_handled_total", unimplemented), 1000);
  EXPECT_EQ(SumOf(after, "sanhak_grpc_server_in_flight", unknown), 0);
}

// The standard process_* figures (as Prometheus's client libraries name them)
// and the build's versions.
TEST_F(RegistryMetricsTest, ProcessFiguresAndBuildInfo) {
  rusage usage_before{};
  getrusage(RUSAGE_SELF, &usage_before);
  const double now = absl::ToUnixMicros(absl::Now()) / 1e6;
  std::string text = Scrape();
  rusage usage_after{};
  getrusage(RUSAGE_SELF, &usage_after);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };

  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_resident_memory_bytes gauge\n"));
  // The server runs in this process: its CPU time is this process's, to the
  // kernel's tick (10 ms).
  std::optional<double> cpu = Sample(text, "process_cpu_seconds_total");
  ASSERT_TRUE(cpu.has_value()) << text;
  EXPECT_GE(*cpu, seconds(usage_before.ru_utime) + seconds(usage_before.ru_stime) - 0.05);
  EXPECT_LE(*cpu, seconds(usage_after.ru_utime) + seconds(usage_after.ru_stime) + 0.05);

  std::optional<double> resident = Sample(text, "process_resident_memory_bytes");
  std::optional<double> virtual_bytes = Sample(text, "process_virtual_memory_bytes");
  ASSERT_TRUE(resident.has_value() && virtual_bytes.has_value()) << text;
  EXPECT_GT(*resident, 1 << 20);
  EXPECT_LE(*resident, usage_after.ru_maxrss * 1024.0);  // never above the peak
  EXPECT_GT(*virtual_bytes, *resident);

  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  EXPECT_EQ(Sample(text, "process_max_fds"), static_cast<double>(files.rlim_cur));
  std::optional<double> open_fds = Sample(text, "process_open_fds");
  ASSERT_TRUE(open_fds.has_value()) << text;
  // stdin/out/err, the database, the sockets of the servers and the channel.
  EXPECT_GE(*open_fds, 6);
  EXPECT_LT(*open_fds, files.rlim_cur);

  std::optional<double> start = Sample(text, "process_start_time_seconds");
  ASSERT_TRUE(start.has_value()) << text;
  EXPECT_LE(*start, now + 1);
  EXPECT_GT(*start, now - 24 * 3600);  // the test binary started today
  std::optional<double> threads = Sample(text, "process_threads");
  ASSERT_TRUE(threads.has_value()) << text;
  EXPECT_GE(*threads, 2);

  EXPECT_THAT(text, HasSubstr("# TYPE sanhak_build_info gauge\n"));
  EXPECT_EQ(SumOf(text, "sanhak_build_info",
                  {absl::StrCat("grpc_version=\"", grpc::Version(), "\"")}),
            1)
      << text;
  EXPECT_THAT(text, Not(HasSubstr("sanhak_build_info{version=\"\"")));
}

TEST_F(RegistryMetricsTest, ShutdownStopsTheMetricsEndpoint) {
  int port = server_->metrics_port();
  server_->Shutdown();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  EXPECT_FALSE(client.Get("/metrics"));
}

}  // namespace
}  // namespace sanhak::metrics
