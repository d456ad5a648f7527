// The aggregate path grammar (analytics.proto AggregateValue.path, e.g.
// "members_by_council[councils/x].registered.companies"), as a watcher applies an
// update with analytics::ApplyUpdate (clients/analytics/aggregate_paths.h; sanhakctl watch runs
// it on every update a server sends). An input is an update, one line per entry: a line
// starting with '-' is a removed entry (the rest of the line), any other line a value
// whose path is the line (its value the line's number, its label "label"). It is applied
// to the aggregates of data/registry.textproto and data/events.textproto, computed
// once. An update ApplyUpdate refuses must change nothing; one it takes, applied twice,
// must give what applying it once gave.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_support.h"
#include "google/protobuf/util/message_differencer.h"
#include "clients/analytics/aggregate_paths.h"
#include "services/analytics/model.h"

namespace sanhak::fuzz {
namespace {

namespace v1 = analytics::v1;
using google::protobuf::util::MessageDifferencer;

// Every seeded resource, at revision 1, as a rebuild from the services would set it.
const v1::Aggregates& Seeded() {
  static const v1::Aggregates* aggregates = [] {
    analytics::Mirror mirror;
    auto set = [&](const auto& items, const std::string& collection) {
      for (const auto& item : items) mirror.Set(item.name(), collection, 1, item);
    };
    registry::v1::RegistryData registry = LoadRegistrySeed();
    set(registry.fields(), "fields");
    set(registry.regions(), "regions");
    set(registry.complexes(), "complexes");
    set(registry.organizations(), "organizations");
    set(registry.councils(), "councils");
    set(registry.memberships(), "memberships");
    set(registry.reported_figures(), "reportedFigures");
    events::v1::EventsData events = LoadEventsSeed();
    set(events.activities(), "activities");
    set(events.registrations(), "registrations");
    set(events.outcomes(), "outcomes");
    return new v1::Aggregates(analytics::ComputeAggregates(mirror));
  }();
  return *aggregates;
}

[[noreturn]] void Broken(const char* what) {
  std::fprintf(stderr, "aggregate_path_fuzzer: %s\n", what);
  std::abort();
}

}  // namespace

int TestOneInput(const uint8_t* data, size_t size) {
  const v1::Aggregates& seeded = Seeded();
  v1::AggregatesUpdate update;
  int64_t line_number = 0;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(reinterpret_cast<const char*>(data), size), '\n')) {
    ++line_number;
    if (!line.empty() && line[0] == '-') {
      update.add_removed(std::string(line.substr(1)));
    } else {
      v1::AggregateValue* value = update.add_values();
      value->set_path(std::string(line));
      value->set_value(line_number);
      value->set_label("label");
    }
  }

  v1::Aggregates once = seeded;
  if (absl::Status s = analytics::ApplyUpdate(update, once); !s.ok()) {
    if (s.code() != absl::StatusCode::kInvalidArgument) Broken("refused, not INVALID_ARGUMENT");
    if (!MessageDifferencer::Equals(once, seeded)) Broken("a refused update changed something");
    return 0;
  }
  v1::Aggregates twice = once;
  if (!analytics::ApplyUpdate(update, twice).ok()) Broken("taken once, refused the second time");
  if (!MessageDifferencer::Equals(once, twice)) Broken("applied twice differs from once");
  return 0;
}

}  // namespace sanhak::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sanhak::fuzz::TestOneInput(data, size);
}
