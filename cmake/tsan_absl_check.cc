// Fails (a ThreadSanitizer report, exit status non-zero) when ThreadSanitizer cannot see
// absl::Mutex, absl::CondVar and absl::Notification: with Debian's uninstrumented
// libabsl_synchronization each of the three hand-overs below is reported as a data
// race; with the instrumented one cmake/TsanAbseil.cmake builds, none is.
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

int main() {
  absl::Mutex mu;
  int counter = 0;  // guarded by mu
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) {
        absl::MutexLock lock(&mu);
        ++counter;
      }
    });
  }
  for (std::thread& t : threads) t.join();

  int published = 0;  // written before Notify, read after WaitForNotification
  absl::Notification done;
  std::thread notifier([&] {
    published = 42;
    done.Notify();
  });
  done.WaitForNotification();
  const int seen = published;

  bool ready = false;  // guarded by mu
  int handed = 0;      // written before the signalling thread takes mu
  absl::CondVar cv;
  std::thread signaller([&] {
    handed = 7;
    absl::MutexLock lock(&mu);
    ready = true;
    cv.Signal();
  });
  {
    absl::MutexLock lock(&mu);
    while (!ready) cv.Wait(&mu);
  }
  const int got = handed;
  notifier.join();
  signaller.join();

  std::printf("counter %d, published %d, handed %d\n", counter, seen, got);
  return counter == 4000 && seen == 42 && got == 7 ? 0 : 1;
}
