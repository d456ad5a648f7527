#include "common/resource_store.h"

#include "absl/synchronization/notification.h"

namespace sanhak::store {

absl::Status ResourceStore::Write(absl::FunctionRef<absl::Status(WriteTransaction&)> fn) {
  absl::Status result;
  absl::Notification done;
  // `fn` lives on this frame, which stays until `done` is notified: the write runs and
  // completes before this returns.
  WriteAsync([fn](WriteTransaction& tx) { return fn(tx); },
             [&](absl::Status status) {
               result = std::move(status);
               done.Notify();
             });
  done.WaitForNotification();
  return result;
}

}  // namespace sanhak::store
