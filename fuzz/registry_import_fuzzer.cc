// The registry's data file importer: an input is a data file (text-format
// sanhak.registry.v1.RegistryData, as data/registry.textproto), read by LoadTextProto
// from a file and handed to Registry::Import on a real SQLite store seeded with
// data/registry.textproto, so an input meets both fresh names and the seed's records
// (with their import marks). Every import runs in full and is rolled back
// (fuzz::RollbackStore): each input meets the seeded store as it was.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/text_data.h"
#include "fuzz/fuzz_support.h"
#include "services/registry/registry.h"

namespace sanhak::fuzz {
namespace {

registry::Registry* Init() {
  QuietProtobufLogs();
  store::ResourceStore* base = OpenStore("registry.db", "registry");
  registry::Registry seeder(base);
  absl::StatusOr<crud::ImportSummary> seeded = seeder.Import(LoadRegistrySeed());
  if (!seeded.ok()) {
    std::fprintf(stderr, "registry_import_fuzzer: seed import: %s\n",
                 seeded.status().ToString().c_str());
    std::abort();
  }
  return new registry::Registry(new RollbackStore(base));
}

}  // namespace

int TestOneInput(const uint8_t* data, size_t size) {
  static registry::Registry* registry = Init();
  static const std::string* path = new std::string(TempPath("input.textproto"));
  WriteFile(*path, absl::string_view(reinterpret_cast<const char*>(data), size));
  registry::v1::RegistryData bundle;
  if (!LoadTextProto(*path, &bundle).ok()) return 0;
  registry->Import(bundle).IgnoreError();
  return 0;
}

}  // namespace sanhak::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sanhak::fuzz::TestOneInput(data, size);
}
