// GroupCommitQueue with a fake batch runner (the engines' transactions are the store
// tests'): the queue's bound, the batch size, the order of listener and outcomes, and
// what a stop does with writes still queued.
#include "common/group_commit.h"

#include <atomic>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace sanhak::store {
namespace {

using PendingWrite = GroupCommitQueue::PendingWrite;

// A write whose work sets its result to `status`.
WriteFn Work(absl::Status status) {
  return [status](WriteTransaction&) { return status; };
}

// Runs no transaction: every write succeeds; records each batch's size, returns
// `changes_per_batch` as the change records committed, and while `hold` is set holds
// each batch until `release`.
struct FakeRunner {
  absl::Mutex mu;
  std::vector<size_t> batch_sizes ABSL_GUARDED_BY(mu);
  absl::Notification release;
  bool hold = false;
  int changes_per_batch = 0;

  GroupCommitQueue::BatchRunner Runner() {
    return [this](std::vector<PendingWrite>& batch) {
      if (hold) release.WaitForNotification();
      {
        absl::MutexLock lock(&mu);
        batch_sizes.push_back(batch.size());
      }
      for (PendingWrite& w : batch) w.result = absl::OkStatus();
      return changes_per_batch;
    };
  }
};

TEST(GroupCommitQueueTest, AFullQueueRefusesAtOnceAndTheWorkNeverRuns) {
  FakeRunner runner;
  runner.hold = true;
  GroupCommitQueue queue(/*max_queued=*/3, /*max_batch=*/2);
  queue.Start(runner.Runner());
  std::atomic<int> ok{0};
  std::vector<absl::Status> refused;
  // The committer takes a first batch (of 1 or 2) and is held there; 3 more wait; the
  // rest are refused.
  queue.Submit(Work(absl::OkStatus()), [&](absl::Status s) {
    if (s.ok()) ++ok;
  });
  for (int i = 0; i < 8; ++i) {
    queue.Submit(Work(absl::OkStatus()), [&](absl::Status s) {
      if (s.ok()) {
        ++ok;
      } else {
        refused.push_back(s);
      }
    });
  }
  // At most 2 + 3 of the 9 are accepted, so at least 4 are refused, each at once (on
  // this thread, before Submit returns) and RESOURCE_EXHAUSTED.
  ASSERT_GE(refused.size(), 4u);
  for (const absl::Status& s : refused) {
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  }
  runner.release.Notify();
  queue.Stop();
  EXPECT_EQ(ok.load() + static_cast<int>(refused.size()), 9);
  absl::MutexLock lock(&runner.mu);
  for (size_t n : runner.batch_sizes) EXPECT_LE(n, 2u);
}

TEST(GroupCommitQueueTest, TheListenerHearsOfABatchWithChangesBeforeItsWritesDo) {
  FakeRunner runner;
  runner.changes_per_batch = 1;
  GroupCommitQueue queue(16, 4);
  std::atomic<int> woken{0};
  queue.SetCommitListener([&] { ++woken; });
  queue.Start(runner.Runner());
  absl::Notification done;
  int woken_when_done = -1;
  queue.Submit(Work(absl::OkStatus()), [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    woken_when_done = woken.load();
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_EQ(woken_when_done, 1);

  // A batch without change records wakes nobody.
  runner.changes_per_batch = 0;
  absl::Notification quiet;
  queue.Submit(Work(absl::OkStatus()), [&](absl::Status) { quiet.Notify(); });
  quiet.WaitForNotification();
  EXPECT_EQ(woken.load(), 1);
  queue.NotifyCommitListener();  // another replica's commit, heard otherwise
  EXPECT_EQ(woken.load(), 2);
}

TEST(GroupCommitQueueTest, StopCommitsWhatIsQueuedThenRefusesUnavailable) {
  FakeRunner runner;
  runner.hold = true;
  GroupCommitQueue queue(100, 8);
  queue.Start(runner.Runner());
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i) {
    queue.Submit(Work(absl::OkStatus()), [&](absl::Status s) {
      if (s.ok()) ++ok;
    });
  }
  runner.release.Notify();
  queue.Stop();
  EXPECT_EQ(ok.load(), 20);
  absl::Status after = absl::OkStatus();
  queue.Submit(Work(absl::OkStatus()), [&](absl::Status s) { after = s; });
  EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable) << after;
  absl::MutexLock lock(&runner.mu);
  size_t total = 0;
  for (size_t n : runner.batch_sizes) {
    EXPECT_LE(n, 8u);
    total += n;
  }
  EXPECT_EQ(total, 20u);
}

}  // namespace
}  // namespace sanhak::store
