// Waiting for a domain write's outcome in tests and fuzz targets: the domain classes
// answer a write through a callback (crud::Done<T>, crud::StatusDone), run on the store's
// committer thread once the commit is on disk.
#ifndef SANHAK_TESTS_SUPPORT_AWAIT_H_
#define SANHAK_TESTS_SUPPORT_AWAIT_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"

namespace sanhak::testing {

// Calls `start` with a callback taking absl::StatusOr<T> and waits until it is called.
template <typename T, typename Start>
absl::StatusOr<T> Await(Start start) {
  absl::StatusOr<T> result;
  absl::Notification done;
  start([&](absl::StatusOr<T> outcome) {
    result = std::move(outcome);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

// The same for a callback taking absl::Status.
template <typename Start>
absl::Status AwaitStatus(Start start) {
  absl::Status result;
  absl::Notification done;
  start([&](absl::Status outcome) {
    result = std::move(outcome);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_AWAIT_H_
