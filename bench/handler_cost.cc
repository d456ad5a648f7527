// sanhak_bench_handlers: what the registry's read handlers cost in CPU per call, without
// gRPC, on one thread: the registry imported into a fresh store, then each measured
// operation called in a bounded loop and timed with the thread's CPU clock (so other
// processes on a shared machine change the figures far less than wall time would).
// Also the parts a ListCouncils page is made of (decode a council, the deleted check, a
// membership count, an empty read), to tell where a page's CPU goes. See README.md.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/crud.h"
#include "common/store_factory.h"
#include "common/text_data.h"
#include "sanhak/registry/v1/registry.pb.h"
#include "sanhak/registry/v1/registry_data.pb.h"
#include "services/registry/registry.h"
#include "tests/support/temp_dir.h"

ABSL_FLAG(std::string, data, SANHAK_SOURCE_DIR "/data/registry.textproto",
          "RegistryData imported into a fresh store");
ABSL_FLAG(std::string, db, "",
          "database: empty = a fresh SQLite file in a temp dir; or a PostgreSQL URI of an "
          "empty database");
ABSL_FLAG(std::string, list_field, "fields/future-mobility", "the ListCouncils filter");
ABSL_FLAG(int, iterations, 20000, "calls per measured operation");
ABSL_FLAG(std::string, only, "", "measure only the operations whose name contains this");
ABSL_FLAG(int, repeats, 5, "times each operation is measured; the median is reported");

namespace sanhak::bench {
namespace {

namespace rv1 = ::sanhak::registry::v1;

double ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// Median over `repeats` of the CPU microseconds one call of `fn` takes.
double Measure(const std::function<bool()>& fn, int iterations, int repeats) {
  std::vector<double> per_call;
  for (int r = 0; r < repeats; ++r) {
    const double start = ThreadCpuMicros();
    for (int i = 0; i < iterations; ++i) {
      if (!fn()) return -1;
    }
    per_call.push_back((ThreadCpuMicros() - start) / iterations);
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

int Run() {
  testing::TempDir dir;
  std::string db = absl::GetFlag(FLAGS_db);
  if (db.empty()) db = dir.File("registry.db");
  absl::StatusOr<std::unique_ptr<store::ResourceStore>> store =
      store::OpenResourceStore({db, "registry"});
  if (!store.ok()) {
    std::fprintf(stderr, "open %s: %s\n", store::RedactedDatabase(db).c_str(),
                 store.status().ToString().c_str());
    return 2;
  }
  registry::Registry registry(store->get());
  rv1::RegistryData data;
  if (absl::Status s = LoadTextProto(absl::GetFlag(FLAGS_data), &data); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 2;
  }
  if (absl::StatusOr<crud::ImportSummary> imported = registry.Import(data); !imported.ok()) {
    std::fprintf(stderr, "import: %s\n", imported.status().ToString().c_str());
    return 2;
  }

  rv1::ListCouncilsRequest list;
  list.set_field(absl::GetFlag(FLAGS_list_field));
  list.set_page_size(10);
  absl::StatusOr<rv1::ListCouncilsResponse> first = registry.ListCouncils(list);
  if (!first.ok() || first->councils_size() == 0) {
    std::fprintf(stderr, "ListCouncils %s: %s\n", list.field().c_str(),
                 first.ok() ? "no councils" : first.status().ToString().c_str());
    return 2;
  }
  const std::string council = first->councils(0).name();
  store::Resource stored;
  absl::Status read = (*store)->Read([&](store::ReadView& view) -> absl::Status {
    absl::StatusOr<std::optional<store::Resource>> r = view.Get(council);
    if (!r.ok()) return r.status();
    stored = **r;
    return absl::OkStatus();
  });
  if (!read.ok()) return 2;

  const int iterations = absl::GetFlag(FLAGS_iterations);
  const int repeats = absl::GetFlag(FLAGS_repeats);
  struct Op {
    std::string name;
    std::function<bool()> fn;
  };
  rv1::GetCouncilRequest get;
  get.set_name(council);
  std::vector<Op> ops = {
      {absl::StrCat("ListCouncils field=", list.field(), " page_size=10 (",
                    first->councils_size(), " of ", first->total_size(), ")"),
       [&] { return registry.ListCouncils(list).ok(); }},
      {"GetCouncil", [&] { return registry.GetCouncil(get).ok(); }},
      {"  store Read, empty", [&] {
         return (*store)->Read([](store::ReadView&) { return absl::OkStatus(); }).ok();
       }},
      {"  store Read + List(field) of councils", [&] {
         return (*store)
             ->Read([&](store::ReadView& view) -> absl::Status {
               store::ListQuery q;
               q.collection = "councils";
               q.all_of = {{"field", list.field()}};
               q.limit = 10;
               return view.List(q).status();
             })
             .ok();
       }},
      {"  store Read + Count(memberships of a council)", [&] {
         return (*store)
             ->Read([&](store::ReadView& view) -> absl::Status {
               return view.Count("memberships", {{"parent", council}}).status();
             })
             .ok();
       }},
      {"  store Read + Get(a council)", [&] {
         return (*store)
             ->Read([&](store::ReadView& view) -> absl::Status {
               return view.Get(council).status();
             })
             .ok();
       }},
      {"  store Read + 8 x Get(a council)", [&] {
         return (*store)
             ->Read([&](store::ReadView& view) -> absl::Status {
               for (int i = 0; i < 8; ++i) {
                 if (absl::Status s = view.Get(council).status(); !s.ok()) return s;
               }
               return absl::OkStatus();
             })
             .ok();
       }},
      {"  store Read + 8 x Count(memberships of a council)", [&] {
         return (*store)
             ->Read([&](store::ReadView& view) -> absl::Status {
               for (int i = 0; i < 8; ++i) {
                 absl::Status s = view.Count("memberships", {{"parent", council}}).status();
                 if (!s.ok()) return s;
               }
               return absl::OkStatus();
             })
             .ok();
       }},
      {"  decode a stored council", [&] {
         return crud::Decode<rv1::Council>(stored).ok();
       }},
      {"  deleted check of a stored council", [&] {
         return !crud::StoredDeleted<rv1::Council>(stored);
       }},
  };
  std::printf("sanhak_bench_handlers: CPU microseconds per call (thread CPU clock), one "
              "thread, no gRPC; median of %d x %d calls\n  store %s, council %s is %zu "
              "bytes stored\n",
              repeats, iterations, store::RedactedDatabase(db).c_str(), council.c_str(),
              stored.data.size());
  for (const Op& op : ops) {
    if (op.name.find(absl::GetFlag(FLAGS_only)) == std::string::npos) continue;
    const double us = Measure(op.fn, iterations, repeats);
    if (us < 0) {
      std::printf("%-60s FAILED\n", op.name.c_str());
      return 1;
    }
    std::printf("%-60s %8.2f us\n", op.name.c_str(), us);
    std::printf("RESULT handler=\"%s\" cpu_us_per_call=%.3f\n", op.name.c_str(), us);
  }
  return 0;
}

}  // namespace
}  // namespace sanhak::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return sanhak::bench::Run();
}
