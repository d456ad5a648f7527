// What the libFuzzer targets of fuzz/ share: a temp dir for their SQLite files, stores
// seeded once per process from data/*.textproto, a store that rolls every write back (so
// each input meets the same seeded state and a finding reproduces from its input file
// alone), a registry directory that knows the seeded councils and organizations, and a
// way to wait for an asynchronous write's outcome.
#ifndef SANHAK_FUZZ_FUZZ_SUPPORT_H_
#define SANHAK_FUZZ_FUZZ_SUPPORT_H_

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/caller.h"
#include "common/crud.h"
#include "common/resource_store.h"
#include "sanhak/events/v1/events_data.pb.h"
#include "sanhak/registry/v1/registry_data.pb.h"
#include "services/events/registry_directory.h"
#include "tests/support/await.h"

namespace sanhak::fuzz {

// The key every target signs page tokens with, so a seed holding a token made with it
// (fuzz/make_corpus.sh) is honoured in every run.
inline constexpr char kPageTokenKey[] = "sanhak-fuzz-page-token-key-0123456789";

// Installs kPageTokenKey. Every target calls it before its first input.
void InstallPageTokenKey();

// Drops libprotobuf's non-fatal log lines (a string field's invalid UTF-8 is logged on
// every parse of such bytes): at thousands of inputs a second they would bury the run's
// report. Fatal ones are still printed. The request targets call it first.
void QuietProtobufLogs();

// The caller of a fuzzed request, chosen by `selector` (the high part of the input's
// method byte, so the seed corpus, whose bytes are method numbers, runs as the admin):
// 0 the development admin, 1 a reader, 2 an editor scoped to
// councils/special-purpose-ships, then round again.
Caller FuzzCaller(int selector);

// `relative` under the source tree (SANHAK_SOURCE_DIR, set by fuzz/CMakeLists.txt).
std::string SourcePath(absl::string_view relative);

// `file` in this process's temp dir: made under $TMPDIR at first use, removed at exit.
std::string TempPath(absl::string_view file);

// Reads a text-format data file of the source tree; aborts when it cannot (a target
// without its seed state would fuzz nothing useful).
registry::v1::RegistryData LoadRegistrySeed();
events::v1::EventsData LoadEventsSeed();

// A SQLite store in the temp dir, opened once and kept for the life of the process
// (never destroyed: its committer thread must outlive every input). Aborts on failure.
store::ResourceStore* OpenStore(absl::string_view file, absl::string_view service);

// Runs every write of `base` in full, inside its transaction, then rolls it back; tells
// the caller what the write would have told it. Reads pass through. A target writes
// through this after seeding `base`, so no input changes what the next one meets.
class RollbackStore final : public store::ResourceStore {
 public:
  explicit RollbackStore(store::ResourceStore* base) : base_(base) {}

  absl::Status Read(absl::FunctionRef<absl::Status(store::ReadView&)> fn) override {
    return base_->Read(fn);
  }
  void WriteAsync(store::WriteFn fn, store::WriteDone done) override;
  absl::Status Ping() override { return base_->Ping(); }
  int64_t generation() override { return base_->generation(); }
  absl::StatusOr<std::vector<store::OutboxEntry>> ReadOutbox(int limit) override {
    return base_->ReadOutbox(limit);
  }
  absl::Status AckOutbox(int64_t up_to_sequence) override {
    return base_->AckOutbox(up_to_sequence);
  }
  absl::StatusOr<int64_t> OutboxBacklog() override { return base_->OutboxBacklog(); }
  absl::StatusOr<store::AuditPage> ListAudit(const store::AuditQuery& query) override {
    return base_->ListAudit(query);
  }
  absl::StatusOr<bool> HoldsRelayLease() override { return base_->HoldsRelayLease(); }
  void SetCommitListener(std::function<void()> listener) override {
    base_->SetCommitListener(std::move(listener));
  }

 private:
  store::ResourceStore* base_;
};

// What SeededRegistryDirectory holds soft-deleted: a write may not newly name them.
inline constexpr char kDeletedCouncil[] = "councils/deleted-for-fuzzing";
inline constexpr char kDeletedOrganization[] = "organizations/deleted-for-fuzzing";

// The registry as the events service asks it, answered in process from `data`: its
// councils and organizations exist, kDeletedCouncil and kDeletedOrganization exist
// soft-deleted, everything else is missing. Answers at once, on the caller's thread.
class SeededRegistryDirectory final : public events::RegistryDirectory {
 public:
  explicit SeededRegistryDirectory(const registry::v1::RegistryData& data);

  void Check(const std::vector<std::string>& names, absl::Time deadline,
             CheckDone done) override;

 private:
  std::set<std::string> known_;
  std::set<std::string> deleted_;
};

// Waiting for a write's outcome (writes complete on the store's committer thread).
using ::sanhak::testing::Await;
using ::sanhak::testing::AwaitStatus;

// Writes `data` to `path` (truncating it); aborts when it cannot.
void WriteFile(const std::string& path, absl::string_view data);

}  // namespace sanhak::fuzz

#endif  // SANHAK_FUZZ_FUZZ_SUPPORT_H_
