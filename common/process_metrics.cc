#include "common/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/version.h"
#include "grpcpp/grpcpp.h"

namespace sanhak::metrics {
namespace {

std::optional<std::string> ReadProcFile(const char* path) {
  FILE* file = std::fopen(path, "re");
  if (file == nullptr) return std::nullopt;
  std::string text;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
  std::fclose(file);
  return text;
}

// Fields of /proc/self/stat as proc(5) numbers them (1-based), from `first` to
// `last`. The command name (field 2) may hold spaces and parentheses, so the
// fields after it are found from its last ')'.
std::optional<std::vector<double>> StatFields(int first, int last) {
  std::optional<std::string> text = ReadProcFile("/proc/self/stat");
  if (!text.has_value()) return std::nullopt;
  size_t paren = text->rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*text).substr(paren + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state).
  std::vector<double> values;
  for (int f = first; f <= last; ++f) {
    double v = 0;
    if (f - 3 < 0 || f - 3 >= static_cast<int>(fields.size()) ||
        !absl::SimpleAtod(absl::StripAsciiWhitespace(fields[f - 3]), &v)) {
      return std::nullopt;
    }
    values.push_back(v);
  }
  return values;
}

std::optional<double> StatField(int field) {
  std::optional<std::vector<double>> v = StatFields(field, field);
  if (!v.has_value()) return std::nullopt;
  return (*v)[0];
}

// proc(5) field numbers.
constexpr int kUtime = 14;
constexpr int kStime = 15;
constexpr int kNumThreads = 20;
constexpr int kStartTime = 22;
constexpr int kVsize = 23;
constexpr int kRss = 24;

std::optional<double> CpuSeconds() {
  std::optional<std::vector<double>> ticks = StatFields(kUtime, kStime);
  if (!ticks.has_value()) return std::nullopt;
  return ((*ticks)[0] + (*ticks)[1]) / sysconf(_SC_CLK_TCK);
}

std::optional<double> ResidentBytes() {
  std::optional<double> pages = StatField(kRss);
  if (!pages.has_value()) return std::nullopt;
  return *pages * sysconf(_SC_PAGESIZE);
}

std::optional<double> OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  // The listing includes the descriptor that reads it.
  return count - 1;
}

std::optional<double> MaxFds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
  return static_cast<double>(limit.rlim_cur);
}

// The process's start in seconds since the epoch: its start in ticks after boot
// (/proc/self/stat) plus the boot time (/proc/stat's btime). Read once: neither
// changes.
std::optional<double> StartTimeSeconds() {
  std::optional<double> ticks = StatField(kStartTime);
  std::optional<std::string> stat = ReadProcFile("/proc/stat");
  if (!ticks.has_value() || !stat.has_value()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    double boot = 0;
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtod(line, &boot)) {
      return boot + *ticks / sysconf(_SC_CLK_TCK);
    }
  }
  return std::nullopt;
}

}  // namespace

void AddProcessMetrics(MetricsRegistry* registry) {
  registry->AddCallback(MetricType::kCounter, "process_cpu_seconds_total",
                        "Total user and system CPU time spent in seconds.", &CpuSeconds);
  registry->AddCallback(MetricType::kGauge, "process_resident_memory_bytes",
                        "Resident memory size in bytes.", &ResidentBytes);
  registry->AddCallback(MetricType::kGauge, "process_virtual_memory_bytes",
                        "Virtual memory size in bytes.", [] { return StatField(kVsize); });
  registry->AddCallback(MetricType::kGauge, "process_open_fds",
                        "Number of open file descriptors.", &OpenFds);
  registry->AddCallback(MetricType::kGauge, "process_max_fds",
                        "Maximum number of open file descriptors.", &MaxFds);
  static const std::optional<double> kStart = StartTimeSeconds();
  registry->AddCallback(MetricType::kGauge, "process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.",
                        [] { return kStart; });
  registry->AddCallback(MetricType::kGauge, "process_threads", "Number of OS threads.",
                        [] { return StatField(kNumThreads); });
  registry
      ->AddGauge("sanhak_build_info",
                 "Always 1; labelled with the version of this build and of its gRPC library.",
                 {"version", "grpc_version"})
      ->WithLabels({std::string(sanhak::BuildVersion()), grpc::Version()})
      ->Set(1);
}

}  // namespace sanhak::metrics
