// The group commit both stores share (ResourceStore::WriteAsync): a bounded queue of
// writes and one committer thread that takes up to `max_batch` of them at a time, has the
// engine run them in one transaction (each in its own savepoint, so a failed write fails
// alone), wakes the commit listener when the batch appended change records, and only
// then tells each write its outcome. Durability is that of one transaction per write;
// only the number of commits drops under load. The queue owns each write (its work and
// its completion), so no write depends on the frame of the thread that queued it, and
// however many are queued, each runs exactly once.
#ifndef SANHAK_COMMON_GROUP_COMMIT_H_
#define SANHAK_COMMON_GROUP_COMMIT_H_

#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/resource_store.h"

namespace sanhak::store {

class GroupCommitQueue {
 public:
  // A queued write; `result` is what its `done` will be told.
  struct PendingWrite {
    WriteFn fn;
    WriteDone done;
    absl::Status result;
  };
  // Runs `batch` in one transaction, setting each write's result; returns the change
  // records committed. Called on the committer thread only.
  using BatchRunner = absl::AnyInvocable<int(std::vector<PendingWrite>& batch)>;

  // At most `max_queued` writes wait (beyond, a write is refused RESOURCE_EXHAUSTED at
  // once: that bounds the memory waiting writes hold); at most `max_batch` share a commit
  // (that bounds a batch's latency).
  GroupCommitQueue(int max_queued, size_t max_batch)
      : max_queued_(max_queued), max_batch_(max_batch) {}
  // Stop().
  ~GroupCommitQueue();
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  // Starts the committer thread; writes submitted before wait for it.
  void Start(BatchRunner run);
  // ResourceStore::WriteAsync: queues the write and returns at once. Refused at once
  // (`done` told on this thread, `fn` never run) when the queue is full or stopped.
  void Submit(WriteFn fn, WriteDone done);
  // Commits what is already queued, then ends the committer thread; later writes are
  // refused UNAVAILABLE. The owner calls it before anything its runner uses goes.
  void Stop();

  // ResourceStore::SetCommitListener.
  void SetCommitListener(std::function<void()> listener);
  // Calls the commit listener, if set: after a batch with change records, and for commits
  // the store learns of another way (another replica's notification).
  void NotifyCommitListener();

 private:
  void CommitLoop();

  const int max_queued_;
  const size_t max_batch_;
  BatchRunner run_;
  absl::Mutex mu_;
  std::vector<PendingWrite> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread committer_;
  absl::Mutex listener_mu_;
  std::function<void()> listener_ ABSL_GUARDED_BY(listener_mu_);
};

}  // namespace sanhak::store

#endif  // SANHAK_COMMON_GROUP_COMMIT_H_
