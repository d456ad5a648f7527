#include "common/group_commit.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/overload.h"

namespace sanhak::store {

GroupCommitQueue::~GroupCommitQueue() { Stop(); }

void GroupCommitQueue::Start(BatchRunner run) {
  run_ = std::move(run);
  committer_ = std::thread([this] { CommitLoop(); });
}

void GroupCommitQueue::Submit(WriteFn fn, WriteDone done) {
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
    if (!stopping && queue_.size() < static_cast<size_t>(max_queued_)) {
      queue_.push_back(PendingWrite{std::move(fn), std::move(done), absl::OkStatus()});
      return;
    }
  }
  // Refused: told at once, outside the lock (`done` may queue another write).
  if (stopping) return done(absl::UnavailableError("the store is shutting down"));
  done(Overloaded(absl::StrCat(max_queued_, " writes are already waiting for the store"),
                  absl::Milliseconds(100)));
}

void GroupCommitQueue::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (committer_.joinable()) committer_.join();
}

void GroupCommitQueue::SetCommitListener(std::function<void()> listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void GroupCommitQueue::NotifyCommitListener() {
  std::function<void()> listener;
  {
    absl::MutexLock lock(&listener_mu_);
    listener = listener_;
  }
  // Called outside the lock: a listener may set another.
  if (listener) listener();
}

void GroupCommitQueue::CommitLoop() {
  std::vector<PendingWrite> batch;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_;
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, nothing left
      const size_t n = std::min(queue_.size(), max_batch_);
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + n));
      queue_.erase(queue_.begin(), queue_.begin() + n);
    }
    if (run_(batch) > 0) NotifyCommitListener();
    for (PendingWrite& w : batch) {
      // The work's captures (request copies) go before its caller hears back.
      w.fn = nullptr;
      w.done(std::move(w.result));
    }
    batch.clear();
  }
}

}  // namespace sanhak::store
