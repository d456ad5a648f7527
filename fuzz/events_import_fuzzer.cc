// The events service's data file importer: an input is a data file (text-format
// sanhak.events.v1.EventsData, as data/events.textproto), read by LoadTextProto from a
// file and handed to Events::Import on a real SQLite store seeded with
// data/events.textproto, asking an in-process registry that knows
// data/registry.textproto's councils and organizations (plus one of each soft-deleted).
// Every import runs in full and is rolled back (fuzz::RollbackStore): each input meets
// the seeded store as it was.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/text_data.h"
#include "fuzz/fuzz_support.h"
#include "services/events/events.h"

namespace sanhak::fuzz {
namespace {

// The registry answers at once (SeededRegistryDirectory); a deadline is never reached.
absl::Time Deadline() { return absl::Now() + absl::Seconds(30); }

events::Events* Init() {
  QuietProtobufLogs();
  auto* registry = new SeededRegistryDirectory(LoadRegistrySeed());
  store::ResourceStore* base = OpenStore("events.db", "events");
  events::Events seeder(base, registry);
  absl::StatusOr<crud::ImportSummary> seeded = seeder.Import(LoadEventsSeed(), Deadline());
  if (!seeded.ok()) {
    std::fprintf(stderr, "events_import_fuzzer: seed import: %s\n",
                 seeded.status().ToString().c_str());
    std::abort();
  }
  return new events::Events(new RollbackStore(base), registry);
}

}  // namespace

int TestOneInput(const uint8_t* data, size_t size) {
  static events::Events* events = Init();
  static const std::string* path = new std::string(TempPath("input.textproto"));
  WriteFile(*path, absl::string_view(reinterpret_cast<const char*>(data), size));
  events::v1::EventsData bundle;
  if (!LoadTextProto(*path, &bundle).ok()) return 0;
  events->Import(bundle, Deadline()).IgnoreError();
  return 0;
}

}  // namespace sanhak::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sanhak::fuzz::TestOneInput(data, size);
}
