#include "services/analytics/applier.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/time/clock.h"

namespace sanhak::analytics {
namespace {

// How long one read of the feed waits for new entries (and so how soon Stop is seen).
constexpr absl::Duration kReadBlock = absl::Milliseconds(200);
// Pause after a store error or while another replica holds the lease.
constexpr absl::Duration kRetry = absl::Milliseconds(200);

}  // namespace

Applier::Applier(Options options, Storage* storage, Loader load)
    : options_(std::move(options)), storage_(storage), load_(std::move(load)) {
  thread_ = std::thread([this] { Loop(); });
}

Applier::~Applier() { Stop(); }

void Applier::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::Status Applier::ApplyBatch(StateStore& store, GenerationState& working,
                                 const std::vector<ChangeEntry>& batch) {
  if (batch.empty()) return absl::OkStatus();
  return store.Commit(options_.replica_id, ApplyChanges(batch, working));
}

void Applier::Loop() {
  std::optional<StorageSession> session;
  std::unique_ptr<Lease> lease;
  // Empty until loaded: after taking the lease, a store error or a new generation.
  std::optional<GenerationState> working;
  while (!stopping_) {
    leader_ = lease != nullptr && lease->held();
    if (!session.has_value()) {
      absl::StatusOr<StorageSession> connected = storage_->Connect();
      if (!connected.ok()) {
        absl::SleepFor(kRetry);
        continue;
      }
      session = *std::move(connected);
      lease = std::make_unique<Lease>(session->lease.get(), options_.replica_id, options_.lease);
    }
    // The lease: one applier at a time.
    absl::StatusOr<Lease::Outcome> outcome = lease->Check(absl::Now());
    absl::Status status = outcome.status();
    if (status.ok() && !outcome->held) {
      absl::SleepFor(kRetry);
      continue;
    }
    if (status.ok() && outcome->taken) working.reset();
    if (status.ok() && working.has_value()) {
      absl::StatusOr<std::string> epoch = session->state->Epoch();
      if (epoch.ok() ? *epoch != working->epoch : absl::IsNotFound(epoch.status())) {
        working.reset();
      } else if (!epoch.ok()) {
        status = epoch.status();
      }
    }
    if (status.ok() && !working.has_value()) {
      // Take over: load the state (rebuilding it if the store lost it), make sure the
      // feed can be read, then re-apply whatever an earlier leader left pending
      // (idempotent: the change applier skips sequences already applied).
      absl::StatusOr<GenerationState> loaded = load_(*session->state);
      status = loaded.status();
      if (status.ok()) {
        working = *std::move(loaded);
        status = session->feed->EnsureGroups();
      }
      if (status.ok()) {
        status = session->feed->ClaimPending([&](const std::vector<ChangeEntry>& batch) {
          return ApplyBatch(*session->state, *working, batch);
        });
      }
    }
    if (status.ok()) {
      absl::StatusOr<std::vector<ChangeEntry>> batch = session->feed->ReadNew(kReadBlock);
      if (absl::IsNotFound(batch.status())) {
        working.reset();  // the streams were lost: reload, recreate the group
      } else if (!batch.ok()) {
        status = batch.status();
      } else {
        status = ApplyBatch(*session->state, *working, *batch);
      }
    }
    if (!status.ok()) {
      lease.reset();
      session.reset();
      working.reset();
      absl::SleepFor(kRetry);
    }
  }
  leader_ = false;
  if (lease != nullptr) lease->Release();
}

}  // namespace sanhak::analytics
