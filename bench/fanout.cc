// sanhak_bench_fanout: the live aggregates' fan-out (issue #13), every part in a process of
// its own. Redis, registry, events and analytics are the real binaries on SQLite, loaded
// with data/; the watchers are this program again (--watcher_process) in a child process,
// so the analytics process's CPU (read from /proc, user + system, every thread) is its
// own. For each phase "N@R": N watchers open WatchAggregates without a token and wait for
// their snapshots, then CreateActivity is called R times a second for --duration_s (open
// loop, from this process), and every watcher must receive every acknowledged write.
//
// Reported per phase: the time until all N had their snapshot; every (write, watcher)
// pair received or missed; delivery latency = watcher receive time - acknowledgement time
// (one monotonic clock for every process on the machine), p50/p99/max; and the analytics
// process's CPU from the first write until the watchers had everything, divided by the
// pairs delivered (it includes applying the writes, which is small beside the fan-out).
//
// Exit status: 0 when every phase received every pair, 1 when any missed, 2 on a set-up
// error. See README.md, "Fan-out".
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/channels.h"
#include "bench/servers.h"
#include "bench/update_recorder.h"
#include "bench/watch_latency.h"
#include "grpcpp/grpcpp.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "sanhak_bench_fanout.pb.h"
#include "tests/support/redis_process.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

ABSL_FLAG(std::string, phases, "1000@100,10000@20",
          "phases, each WATCHERS@WRITES_PER_SECOND, run in order on fresh streams");
ABSL_FLAG(double, duration_s, 10, "seconds of writing per phase");
ABSL_FLAG(double, drain_s, 10,
          "after the last acknowledgement, how long the watchers wait for what is still on "
          "its way; later = missed");
ABSL_FLAG(double, setup_s, 60, "bound on every watcher of a phase getting its snapshot");
ABSL_FLAG(int, streams_per_connection, 64,
          "watch streams per connection (the servers' max_concurrent_streams is 64)");
ABSL_FLAG(bool, batches, true,
          "watchers set accept_update_batches (a watcher behind gets its updates in one "
          "message); false: one message per update, as clients that do not ask");
ABSL_FLAG(int, watch_linger_ms, -1,
          "analytics --watch_linger_ms (-1: not passed, the server's default)");
ABSL_FLAG(int, watch_threads, 0,
          "analytics --watch_threads (0: not passed, the server's default: one per core)");
ABSL_FLAG(std::string, analytics_cpus, "",
          "CPUs the analytics process is bound to (\"1\", \"2-7\"); empty: not bound");
ABSL_FLAG(std::string, watcher_cpus, "", "CPUs the watchers' process is bound to");
ABSL_FLAG(std::string, others_cpus, "",
          "CPUs Redis, registry, events and this process are bound to");
ABSL_FLAG(std::string, analytics_binary, SANHAK_ANALYTICS_BINARY, "the analytics server");
ABSL_FLAG(std::string, registry_binary, SANHAK_REGISTRY_BINARY, "the registry server");
ABSL_FLAG(std::string, events_binary, SANHAK_EVENTS_BINARY, "the events server");
ABSL_FLAG(std::string, redis_server, "/usr/bin/redis-server", "the redis-server to start");
ABSL_FLAG(std::string, data_dir, SANHAK_SOURCE_DIR "/data", "registry/events.textproto");
// The watchers' process (started by this program).
ABSL_FLAG(bool, watcher_process, false, "internal: run as the watchers' process");
ABSL_FLAG(std::string, target, "", "internal: the analytics address");
ABSL_FLAG(int, watchers, 0, "internal: watch streams to open");
ABSL_FLAG(std::string, control, "", "internal: the directory the two processes talk through");

namespace sanhak::bench {
namespace {

namespace av1 = ::sanhak::analytics::v1;
namespace ev1 = ::sanhak::events::v1;
namespace rv1 = ::sanhak::registry::v1;

// Writes `text` to `path` whole: written aside, then renamed, so a reader polling for
// `path` never sees half of it.
bool WriteFile(const std::string& path, const std::string& text) {
  const std::string aside = path + ".part";
  {
    std::ofstream out(aside, std::ios::trunc);
    out << text;
    if (!out.good()) return false;
  }
  return std::rename(aside.c_str(), path.c_str()) == 0;
}

// The content of `path` once it exists, polling; nullopt after `limit`.
std::optional<std::string> AwaitFile(const std::string& path, absl::Duration limit,
                                     const std::function<bool()>& still_running) {
  const absl::Time until = absl::Now() + limit;
  while (absl::Now() < until) {
    std::ifstream in(path);
    if (in.good()) {
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return text;
    }
    if (!still_running()) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return std::nullopt;
}

// "key=value key=value" -> map.
absl::flat_hash_map<std::string, std::string> Fields(const std::string& line) {
  absl::flat_hash_map<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(line, ' ', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    out[kv.first] = kv.second;
  }
  return out;
}

double Number(const absl::flat_hash_map<std::string, std::string>& fields,
              const std::string& key) {
  auto it = fields.find(key);
  double v = 0;
  return it != fields.end() && absl::SimpleAtod(it->second, &v) ? v : 0;
}

// The CPUs this process started with.
cpu_set_t StartingCpus() {
  static const cpu_set_t set = [] {
    cpu_set_t s;
    CPU_ZERO(&s);
    sched_getaffinity(0, sizeof(s), &s);
    return s;
  }();
  return set;
}

// Binds this thread (and so the children it starts next) to `cpus`; empty: the CPUs this
// process started with.
absl::Status BindTo(const std::string& cpus) {
  if (!cpus.empty()) return PinToCpus(cpus);
  cpu_set_t set = StartingCpus();
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    return absl::InternalError("sched_setaffinity failed");
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------ the watchers' process

using LiteWatcher = UpdateRecorder<fanout::LiteEvent>;

// Control files: ready ("ready=N setup_s=S failed=F error=..."), acks (written by the
// parent: "NAME ACK_NS" lines), result ("key=value ...").
int RunWatcherProcess() {
  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string control = absl::GetFlag(FLAGS_control);
  const int n = absl::GetFlag(FLAGS_watchers);
  const int per_connection = std::max(1, absl::GetFlag(FLAGS_streams_per_connection));
  const absl::Duration setup = absl::Seconds(absl::GetFlag(FLAGS_setup_s));
  const absl::Duration drain = absl::Seconds(absl::GetFlag(FLAGS_drain_s));
  auto channels = Channels(target, (n + per_connection - 1) / per_connection, 7);
  std::vector<std::unique_ptr<LiteWatcher>> watchers;
  const int64_t start = NowNs();
  for (int i = 0; i < n; ++i) {
    watchers.push_back(std::make_unique<LiteWatcher>());
    watchers.back()->Open(channels[i / per_connection], absl::Hours(1),
                          absl::GetFlag(FLAGS_batches));
  }
  const absl::Time setup_until = absl::Now() + setup;
  int ready = 0, failed = 0;
  while (true) {
    ready = failed = 0;
    for (auto& w : watchers) {
      if (w->snapshot()) ++ready;
      else if (w->done()) ++failed;
    }
    if (ready + failed == n || absl::Now() >= setup_until) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  std::string first_error;
  for (auto& w : watchers) {
    if (w->done() && first_error.empty()) first_error = w->status().error_message();
  }
  const double setup_s = (NowNs() - start) / 1e9;
  WriteFile(control + "/ready", absl::StrFormat("ready=%d setup_s=%.3f failed=%d error=%s\n",
                                                ready, setup_s, failed,
                                                absl::StrReplaceAll(first_error, {{" ", "_"}})));
  std::optional<std::string> acks_text =
      AwaitFile(control + "/acks", absl::Hours(1), [] { return true; });
  absl::flat_hash_map<std::string, int64_t> ack_of;
  for (absl::string_view line : absl::StrSplit(*acks_text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, ' ');
    int64_t at = 0;
    if (absl::SimpleAtoi(kv.second, &at)) ack_of[kv.first] = at;
  }
  const int64_t expected = static_cast<int64_t>(ack_of.size()) * n;
  // Drain: every update any watcher got is one of ours (nothing else writes), so counts
  // tell when all have arrived; matched by name below.
  const absl::Time drain_until = absl::Now() + drain;
  const int64_t drain_start = NowNs();
  while (true) {
    int64_t total = 0;
    for (auto& w : watchers) total += static_cast<int64_t>(w->received_count());
    if (total >= expected || absl::Now() >= drain_until) break;
    absl::SleepFor(absl::Milliseconds(2));
  }
  const double drain_s = (NowNs() - drain_start) / 1e9;
  // The parent reads the analytics CPU when this appears.
  WriteFile(control + "/drained", "1\n");
  int ended_by_server = 0;
  for (auto& w : watchers) {
    if (w->done()) ++ended_by_server;
    w->Cancel();
  }
  for (auto& w : watchers) {
    while (!w->done()) absl::SleepFor(absl::Milliseconds(1));
  }
  std::vector<double> latency;
  latency.reserve(expected);
  absl::flat_hash_map<std::string, int> seen_by;
  for (auto& w : watchers) {
    absl::flat_hash_map<std::string, bool> mine;
    for (const auto& [name, at] : w->received()) {
      auto it = ack_of.find(name);
      if (it == ack_of.end() || !mine.emplace(name, true).second) continue;
      latency.push_back((at - it->second) / 1e6);
      ++seen_by[name];
    }
  }
  int64_t seen_by_all = 0;
  for (const auto& [name, count] : seen_by) seen_by_all += count == n ? 1 : 0;
  std::sort(latency.begin(), latency.end());
  WriteFile(control + "/result",
            absl::StrFormat("expected=%d received=%d seen_by_all=%d ended_by_server=%d "
                            "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f drain_s=%.3f\n",
                            expected, static_cast<int64_t>(latency.size()), seen_by_all,
                            ended_by_server, Percentile(latency, 0.5), Percentile(latency, 0.9),
                            Percentile(latency, 0.99), latency.empty() ? 0.0 : latency.back(),
                            drain_s));
  return 0;
}

// ------------------------------------------------------------------ the driver

struct Phase {
  int watchers;
  double rate;
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "sanhak_bench_fanout: %s\n", what.c_str());
  return 2;
}

int RunDriver(const char* self) {
  std::vector<Phase> phases;
  for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_phases), ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> wr = absl::StrSplit(p, '@');
    Phase phase{};
    if (!absl::SimpleAtoi(wr.first, &phase.watchers) || !absl::SimpleAtod(wr.second, &phase.rate) ||
        phase.watchers < 1 || phase.rate <= 0) {
      return Fail(absl::StrCat("bad phase \"", p, "\" (want WATCHERS@RATE)"));
    }
    phases.push_back(phase);
  }
  StartingCpus();
  testing::TempDir dir("sanhak-bench-fanout");
  if (dir.path().empty()) return Fail("cannot create a temporary directory");
  const std::string others = absl::GetFlag(FLAGS_others_cpus);
  if (absl::Status s = BindTo(others); !s.ok()) return Fail(s.ToString());

  testing::RedisOptions redis_options;
  redis_options.binary = absl::GetFlag(FLAGS_redis_server);
  redis_options.dir = dir.path();
  testing::RedisProcess redis(redis_options);
  if (absl::Status s = redis.Start(); !s.ok()) return Fail(s.ToString());
  const std::string data = absl::GetFlag(FLAGS_data_dir);
  const std::vector<std::string> common = {absl::StrCat("--redis=", redis.address()),
                                           "--writes_per_second_per_caller=0",
                                           "--metrics_listen="};
  auto with_common = [&](std::vector<std::string> own) {
    own.insert(own.end(), common.begin(), common.end());
    return own;
  };
  testing::ServerProcess registry(
      absl::GetFlag(FLAGS_registry_binary),
      with_common({absl::StrCat("--db=", dir.File("registry.db")),
                   absl::StrCat("--import=", data, "/registry.textproto")}),
      dir.File("registry.log"));
  if (!registry.Start() || !registry.WaitServing(std::chrono::seconds(120))) {
    return Fail(absl::StrCat("registry: ", registry.Log()));
  }
  testing::ServerProcess events(
      absl::GetFlag(FLAGS_events_binary),
      with_common({absl::StrCat("--db=", dir.File("events.db")),
                   absl::StrCat("--registry=", registry.address()),
                   absl::StrCat("--import=", data, "/events.textproto")}),
      dir.File("events.log"));
  if (!events.Start() || !events.WaitServing(std::chrono::seconds(120))) {
    return Fail(absl::StrCat("events: ", events.Log()));
  }
  std::vector<std::string> analytics_flags =
      with_common({absl::StrCat("--registry=", registry.address()),
                   absl::StrCat("--events=", events.address()), "--max_watchers=100000",
                   "--max_watches_per_caller=0"});
  if (absl::GetFlag(FLAGS_watch_linger_ms) >= 0) {
    analytics_flags.push_back(
        absl::StrCat("--watch_linger_ms=", absl::GetFlag(FLAGS_watch_linger_ms)));
  }
  if (absl::GetFlag(FLAGS_watch_threads) > 0) {
    analytics_flags.push_back(absl::StrCat("--watch_threads=", absl::GetFlag(FLAGS_watch_threads)));
  }
  testing::ServerProcess analytics(absl::GetFlag(FLAGS_analytics_binary), analytics_flags,
                                   dir.File("analytics.log"));
  // A child inherits the CPUs of the thread that starts it.
  if (absl::Status s = BindTo(absl::GetFlag(FLAGS_analytics_cpus)); !s.ok()) {
    return Fail(s.ToString());
  }
  const bool analytics_started = analytics.Start();
  if (absl::Status s = BindTo(others); !s.ok()) return Fail(s.ToString());
  if (!analytics_started || !analytics.WaitServing(std::chrono::seconds(120))) {
    return Fail(absl::StrCat("analytics: ", analytics.Log()));
  }

  auto events_stubs = Stubs<ev1::EventsService>(Channels(events.address(), 4, 1));
  auto registry_stub = rv1::RegistryService::NewStub(Channels(registry.address(), 1, 2)[0]);
  std::vector<std::string> councils;
  {
    grpc::ClientContext context;
    rv1::ListCouncilsRequest request;
    request.set_page_size(100);
    rv1::ListCouncilsResponse response;
    grpc::Status s = registry_stub->ListCouncils(&context, request, &response);
    if (!s.ok() || response.councils().empty()) {
      return Fail(absl::StrCat("ListCouncils: ", s.error_message()));
    }
    for (const auto& c : response.councils()) councils.push_back(c.name());
  }

  std::printf("sanhak_bench_fanout: %d cores here; analytics %s (CPUs %s, --watch_threads %s, --watch_linger_ms %s), "
              "watchers in their own process (CPUs %s, accept_update_batches %s), registry + "
              "events + Redis + writer (CPUs %s); %.0f s of writes per phase, drain bound "
              "%.0f s\n",
              static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)),
              absl::GetFlag(FLAGS_analytics_binary).c_str(),
              absl::GetFlag(FLAGS_analytics_cpus).empty() ? "any"
                                                          : absl::GetFlag(FLAGS_analytics_cpus).c_str(),
              absl::GetFlag(FLAGS_watch_threads) > 0
                  ? absl::StrCat(absl::GetFlag(FLAGS_watch_threads)).c_str()
                  : "default",
              absl::GetFlag(FLAGS_watch_linger_ms) >= 0
                  ? absl::StrCat(absl::GetFlag(FLAGS_watch_linger_ms)).c_str()
                  : "default",
              absl::GetFlag(FLAGS_watcher_cpus).empty() ? "any"
                                                        : absl::GetFlag(FLAGS_watcher_cpus).c_str(),
              absl::GetFlag(FLAGS_batches) ? "true" : "false", others.empty() ? "any" : others.c_str(), absl::GetFlag(FLAGS_duration_s),
              absl::GetFlag(FLAGS_drain_s));
  std::printf("watchers  rate/s  achieved  setup s  writes  pairs recv/expected  seen by all  "
              "p50 ms  p99 ms  max ms  drain s  analytics cpu s  us/delivery\n");
  std::atomic<int64_t> next_title{0};
  bool all_complete = true;
  std::vector<std::string> results;
  for (size_t k = 0; k < phases.size(); ++k) {
    const Phase& phase = phases[k];
    const std::string control = dir.File(absl::StrCat("phase", k));
    mkdir(control.c_str(), 0700);
    testing::ChildProcess watcher_process;
    if (absl::Status s = BindTo(absl::GetFlag(FLAGS_watcher_cpus)); !s.ok()) {
      return Fail(s.ToString());
    }
    absl::Status started = watcher_process.Start(
        {self, "--watcher_process", absl::StrCat("--target=", analytics.address()),
         absl::StrCat("--watchers=", phase.watchers), absl::StrCat("--control=", control),
         absl::StrCat("--setup_s=", absl::GetFlag(FLAGS_setup_s)),
         absl::StrCat("--drain_s=", absl::GetFlag(FLAGS_drain_s)),
         absl::StrCat("--batches=", absl::GetFlag(FLAGS_batches) ? "true" : "false"),
         absl::StrCat("--streams_per_connection=", absl::GetFlag(FLAGS_streams_per_connection))},
        {"/dev/null", dir.File(absl::StrCat("watchers", k, ".log")), ""});
    if (absl::Status s = BindTo(others); !s.ok()) return Fail(s.ToString());
    if (!started.ok()) return Fail(started.ToString());
    auto running = [&] { return !watcher_process.Poll().has_value(); };
    std::optional<std::string> ready = AwaitFile(
        control + "/ready", absl::Seconds(absl::GetFlag(FLAGS_setup_s) + 30), running);
    if (!ready.has_value()) return Fail("the watchers' process gave no ready line");
    auto ready_fields = Fields(*ready);
    const int ready_count = static_cast<int>(Number(ready_fields, "ready"));
    OpenLoopWrites writes;
    const double cpu_start = ProcessCpuSeconds(analytics.pid());
    if (ready_count == phase.watchers) {
      writes = RunOpenLoopWrites(events_stubs, councils, &next_title, phase.rate,
                                 absl::Seconds(absl::GetFlag(FLAGS_duration_s)),
                                 absl::Seconds(10));
    }
    std::string acks;
    for (const auto& [name, at] : writes.acks) absl::StrAppend(&acks, name, " ", at, "\n");
    if (!WriteFile(control + "/acks", acks)) return Fail("cannot write the acks file");
    const absl::Duration result_limit = absl::Seconds(absl::GetFlag(FLAGS_drain_s) + 60);
    if (!AwaitFile(control + "/drained", result_limit, running).has_value()) {
      return Fail("the watchers' process did not drain");
    }
    const double cpu = ProcessCpuSeconds(analytics.pid()) - cpu_start;
    std::optional<std::string> result = AwaitFile(control + "/result", result_limit, running);
    if (!result.has_value()) return Fail("the watchers' process gave no result");
    watcher_process.WaitExit(absl::Seconds(30));
    auto r = Fields(*result);
    const int64_t expected = static_cast<int64_t>(Number(r, "expected"));
    const int64_t received = static_cast<int64_t>(Number(r, "received"));
    const bool complete = ready_count == phase.watchers && writes.write_errors == 0 &&
                          expected > 0 && received == expected &&
                          Number(r, "ended_by_server") == 0;
    all_complete = all_complete && complete;
    const double us_per_delivery = received > 0 ? cpu * 1e6 / received : 0;
    std::printf("%8d %7.0f %9.1f %8.2f %7lld  %9lld/%-9lld  %6.0f/%-5lld %7.2f %7.2f %7.2f %8.2f "
                "%16.2f %12.2f%s\n",
                phase.watchers, phase.rate, writes.achieved_rate, Number(ready_fields, "setup_s"),
                static_cast<long long>(writes.writes), static_cast<long long>(received),
                static_cast<long long>(expected), Number(r, "seen_by_all"),
                static_cast<long long>(writes.acks.size()), Number(r, "p50_ms"),
                Number(r, "p99_ms"), Number(r, "max_ms"), Number(r, "drain_s"), cpu,
                us_per_delivery, complete ? "" : "  INCOMPLETE");
    if (ready_count != phase.watchers) {
      std::printf("  %d of %d watchers had their snapshot (%s failed: %s); nothing written\n",
                  ready_count, phase.watchers, ready_fields["failed"].c_str(),
                  ready_fields["error"].c_str());
    }
    if (writes.write_errors > 0) {
      std::printf("  %lld writes failed; first: %s\n",
                  static_cast<long long>(writes.write_errors), writes.first_write_error.c_str());
    }
    results.push_back(absl::StrFormat(
        "RESULT scenario=Fanout watchers=%d target_write_rate=%.1f write_rate=%.2f "
        "setup_s=%s pairs_expected=%d pairs_received=%d pairs_missed=%d writes_seen_by_all=%s "
        "p50_ms=%s p99_ms=%s max_ms=%s analytics_cpu_s=%.3f analytics_us_per_delivery=%.3f "
        "complete=%d",
        phase.watchers, phase.rate, writes.achieved_rate, ready_fields["setup_s"], expected,
        received, expected - received, r["seen_by_all"], r["p50_ms"], r["p99_ms"], r["max_ms"],
        cpu, us_per_delivery, complete ? 1 : 0));
    std::fflush(stdout);
  }
  std::printf("\n%s\n", absl::StrJoin(results, "\n").c_str());
  return all_complete ? 0 : 1;
}

}  // namespace
}  // namespace sanhak::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "sanhak_bench_fanout [--phases=1000@100,10000@20] [--duration_s=10]: the live "
      "aggregates' fan-out with analytics and the watchers in processes of their own. See "
      "bench/README.md.");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_watcher_process)) return sanhak::bench::RunWatcherProcess();
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) return sanhak::bench::Fail("readlink /proc/self/exe failed");
  self[length] = '\0';
  return sanhak::bench::RunDriver(self);
}
