#include "bench/load_generator.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_metrics.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/alarm.h"

namespace sanhak::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The google.rpc.RetryInfo delay in a status's details; negative when it carries none.
absl::Duration RetryDelay(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return -absl::InfiniteDuration();
  }
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::RetryInfo info;
    if (any.UnpackTo(&info)) {
      return absl::Seconds(info.retry_delay().seconds()) +
             absl::Nanoseconds(info.retry_delay().nanos());
    }
  }
  return -absl::InfiniteDuration();
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// One chain of calls. Only the chain's current call touches it, and each call is issued
// after the previous one ended, so no lock is needed.
struct Slot {
  int channel = 0;
  std::mt19937_64 rng;
  std::unique_ptr<grpc::ClientContext> context;
  // Kept one call longer than needed: a context is never destroyed inside the callback of
  // the call it belongs to.
  std::unique_ptr<grpc::ClientContext> retired;
  // The back-off timer after a refusal (honor_retry_info), likewise kept one wait longer.
  std::unique_ptr<grpc::Alarm> alarm;
  std::unique_ptr<grpc::Alarm> retired_alarm;
  Clock::time_point started;
  // Latencies of the calls completing in the window: every call, or with
  // refusals_expected the admitted ones.
  std::vector<int64_t> latencies_ns;
  int64_t measured_calls = 0;
  int64_t measured_refused = 0;
  int64_t measured_errors = 0;
  int64_t errors = 0;
  int64_t refused = 0;
  std::map<std::string, int64_t> refused_by_code;
  int64_t refused_with_retry_info = 0;
  std::map<std::string, int64_t> errors_by_code;
  std::string first_error;
};

class Runner {
 public:
  Runner(const IssueFn& issue, const LoadOptions& options)
      : issue_(issue), options_(options), slots_(options.concurrency) {
    for (int i = 0; i < options.concurrency; ++i) {
      slots_[i].channel = i % std::max(1, options.channels);
      slots_[i].rng.seed(options.seed * 1000003 + i);
      slots_[i].latencies_ns.reserve(1 << 14);
    }
  }

  LoadResult Run() {
    Clock::time_point begin = Clock::now();
    measure_start_ = begin + absl::ToChronoNanoseconds(options_.warmup);
    measure_end_ = measure_start_ + absl::ToChronoNanoseconds(options_.duration);
    {
      absl::MutexLock lock(&mu_);
      active_ = static_cast<int>(slots_.size());
    }
    for (Slot& slot : slots_) Issue(slot);

    std::this_thread::sleep_until(measure_start_);
    const double cpu_start = CpuSeconds();
    const double server_cpu_start = ServerCpuSeconds();
    std::this_thread::sleep_until(measure_end_);
    const double cpu_end = CpuSeconds();
    const double server_cpu_end = ServerCpuSeconds();
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Runner::AllDone));
    }

    LoadResult result;
    std::vector<int64_t> all;
    int64_t measured_errors = 0;
    for (Slot& slot : slots_) {
      all.insert(all.end(), slot.latencies_ns.begin(), slot.latencies_ns.end());
      result.calls += slot.measured_calls;
      result.refused += slot.measured_refused;
      measured_errors += slot.measured_errors;
      result.errors += slot.errors;
      result.refused_total += slot.refused;
      result.refused_with_retry_info += slot.refused_with_retry_info;
      for (const auto& [code, n] : slot.errors_by_code) result.errors_by_code[code] += n;
      for (const auto& [code, n] : slot.refused_by_code) result.refused_by_code[code] += n;
      if (result.first_error.empty()) result.first_error = slot.first_error;
      slot.context.reset();
      slot.retired.reset();
      slot.alarm.reset();
      slot.retired_alarm.reset();
    }
    result.admitted = result.calls - result.refused - measured_errors;
    result.seconds = absl::ToDoubleSeconds(options_.duration);
    if (result.seconds > 0) {
      result.qps = result.calls / result.seconds;
      result.admitted_qps = result.admitted / result.seconds;
      result.refused_qps = result.refused / result.seconds;
    }
    if (result.calls > 0) {
      const double server_cpu = server_cpu_end - server_cpu_start;
      result.cpu_us_per_call = (cpu_end - cpu_start + server_cpu) * 1e6 / result.calls;
      result.server_cpu_us_per_call = server_cpu * 1e6 / result.calls;
    }
    if (!all.empty()) {
      std::sort(all.begin(), all.end());
      // Nearest rank: the smallest latency at least p of the calls did not exceed.
      auto at = [&](double p) {
        size_t rank = static_cast<size_t>(std::ceil(p * all.size()));
        return all[std::min(all.size() - 1, rank == 0 ? 0 : rank - 1)] / 1e6;
      };
      result.p50_ms = at(0.50);
      result.p90_ms = at(0.90);
      result.p99_ms = at(0.99);
      result.max_ms = all.back() / 1e6;
    }
    return result;
  }

 private:
  void Issue(Slot& slot) {
    slot.retired = std::move(slot.context);
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.context->set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoNanoseconds(options_.call_deadline));
    CallEnv env{slot.context.get(), slot.channel, &slot.rng};
    slot.started = Clock::now();
    issue_(env, [this, &slot](grpc::Status status) { Done(slot, status); });
  }

  double ServerCpuSeconds() const {
    return options_.server_cpu_seconds ? options_.server_cpu_seconds() : 0;
  }

  void Done(Slot& slot, const grpc::Status& status) {
    Clock::time_point ended = Clock::now();
    const grpc::StatusCode code = status.error_code();
    const bool refused = options_.refusals_expected &&
                         (code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                          code == grpc::StatusCode::UNAVAILABLE);
    const bool error = !status.ok() && !refused;
    if (ended >= measure_start_ && ended < measure_end_) {
      ++slot.measured_calls;
      if (refused) ++slot.measured_refused;
      if (error) ++slot.measured_errors;
      if (!options_.refusals_expected || status.ok()) {
        slot.latencies_ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(ended - slot.started)
                .count());
      }
    }
    absl::Duration backoff = absl::ZeroDuration();
    if (refused) {
      ++slot.refused;
      ++slot.refused_by_code[std::string(GrpcCodeName(code))];
      const absl::Duration delay = RetryDelay(status);
      if (delay >= absl::ZeroDuration()) {
        ++slot.refused_with_retry_info;
        if (options_.honor_retry_info) backoff = delay;
      }
    } else if (error) {
      ++slot.errors;
      ++slot.errors_by_code[std::string(GrpcCodeName(code))];
      if (slot.first_error.empty()) {
        slot.first_error = absl::StrCat(GrpcCodeName(code), ": ", status.error_message());
      }
    }
    const Clock::time_point next = ended + absl::ToChronoNanoseconds(backoff);
    if (next >= measure_end_) {
      absl::MutexLock lock(&mu_);
      --active_;
      return;
    }
    if (backoff <= absl::ZeroDuration()) {
      Issue(slot);
      return;
    }
    slot.retired_alarm = std::move(slot.alarm);
    slot.alarm = std::make_unique<grpc::Alarm>();
    slot.alarm->Set(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(backoff),
                    [this, &slot](bool) { Issue(slot); });
  }

  bool AllDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_ == 0; }

  const IssueFn& issue_;
  const LoadOptions options_;
  std::vector<Slot> slots_;
  Clock::time_point measure_start_;
  Clock::time_point measure_end_;
  absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

LoadResult RunClosedLoop(const IssueFn& issue, const LoadOptions& options) {
  Runner runner(issue, options);
  return runner.Run();
}

}  // namespace sanhak::bench
