// Clients creating activities on one or more events replicas from several threads, for
// the process tests that kill a server or a dependency mid-burst and then check that
// every acknowledged create survived exactly once.
#ifndef SANHAK_TESTS_SUPPORT_ACTIVITY_WRITERS_H_
#define SANHAK_TESTS_SUPPORT_ACTIVITY_WRITERS_H_

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"

namespace sanhak::testing {

struct ActivityWritersOptions {
  // The events replicas; thread w starts on replica w % size.
  std::vector<std::string> addresses;
  int threads = 4;
  // Creates per thread at most (or until Stop()).
  int per_thread = 1000000;
  // The council each activity names.
  std::string council = "councils/display";
  // Each title is this plus "w-i" (thread w's i-th create): unique, so a duplicate shows.
  std::string title_prefix = "세미나 ";
  // Empty: a failed create is counted and the thread goes on to its next one. Otherwise
  // each create carries request_id prefix + "w-i", and a failed one is sent again, with
  // the same request_id, to the next replica until acknowledged, or, once stopped, until
  // every replica refused it since (then it is abandoned).
  std::string request_id_prefix;
  // Each call's deadline.
  double deadline_s = 10;
};

class ActivityWriters {
 public:
  using Options = ActivityWritersOptions;
  // Starts the threads.
  explicit ActivityWriters(ActivityWritersOptions options);
  ~ActivityWriters() { Join(); }

  // After this, each thread ends the create it is on (see the options) and stops.
  void Stop() { stop_ = true; }
  void Join();

  size_t acknowledged_count();
  // "w-i" (or its request_id) -> the name of the activity its create returned.
  std::map<std::string, std::string> acknowledged();
  // The acknowledged activities' names.
  std::vector<std::string> acknowledged_names();
  // Every failed attempt's code, counted, and its "code message" lines.
  std::map<grpc::StatusCode, int> failures();
  std::vector<std::string> failure_messages();
  // Creates given up (request_id_prefix set: refused by every replica after Stop()).
  int abandoned();

 private:
  void Run(int w);

  const ActivityWritersOptions options_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, std::string> acknowledged_;
  std::map<grpc::StatusCode, int> failures_;
  std::vector<std::string> failure_messages_;
  int abandoned_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_ACTIVITY_WRITERS_H_
