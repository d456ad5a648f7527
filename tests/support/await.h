// Waiting in tests and fuzz targets: for a domain write's outcome (the domain classes
// answer a write through a callback, crud::Done<T> or crud::StatusDone, run on the
// store's committer thread once the commit is on disk), and for a condition that another
// thread or process makes true.
#ifndef SANHAK_TESTS_SUPPORT_AWAIT_H_
#define SANHAK_TESTS_SUPPORT_AWAIT_H_

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

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

// Polls `done` every 10 ms until it holds or `limit` passes; whether it held (asked once
// more at the end, so a condition that came true meanwhile counts).
inline bool WaitUntil(const std::function<bool()>& done,
                      absl::Duration limit = absl::Seconds(30)) {
  const absl::Time until = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > until) return done();
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_AWAIT_H_
