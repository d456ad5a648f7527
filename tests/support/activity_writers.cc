#include "tests/support/activity_writers.h"

#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "tests/support/test_support.h"

namespace sanhak::testing {

ActivityWriters::ActivityWriters(ActivityWritersOptions options)
    : options_(std::move(options)) {
  for (int w = 0; w < options_.threads; ++w) {
    threads_.emplace_back([this, w] { Run(w); });
  }
}

void ActivityWriters::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t ActivityWriters::acknowledged_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return acknowledged_.size();
}

std::map<std::string, std::string> ActivityWriters::acknowledged() {
  std::lock_guard<std::mutex> lock(mu_);
  return acknowledged_;
}

std::vector<std::string> ActivityWriters::acknowledged_names() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [key, name] : acknowledged_) names.push_back(name);
  return names;
}

std::map<grpc::StatusCode, int> ActivityWriters::failures() {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

std::vector<std::string> ActivityWriters::failure_messages() {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_messages_;
}

int ActivityWriters::abandoned() {
  std::lock_guard<std::mutex> lock(mu_);
  return abandoned_;
}

void ActivityWriters::Run(int w) {
  std::vector<std::unique_ptr<events::v1::EventsService::Stub>> stubs;
  for (const std::string& a : options_.addresses) {
    stubs.push_back(events::v1::EventsService::NewStub(Connect(a)));
  }
  const bool retry = !options_.request_id_prefix.empty();
  size_t replica = w % stubs.size();
  for (int i = 0; i < options_.per_thread && !stop_.load(); ++i) {
    const std::string key = absl::StrCat(w, "-", i);
    events::v1::CreateActivityRequest request;
    if (retry) request.set_request_id(absl::StrCat(options_.request_id_prefix, key));
    request.mutable_activity()->set_kind(events::v1::SEMINAR);
    request.mutable_activity()->set_title(absl::StrCat(options_.title_prefix, key));
    request.mutable_activity()->add_councils(options_.council);
    int failed_since_stop = 0;
    while (true) {
      events::v1::Activity created;
      grpc::Status status =
          stubs[replica]->CreateActivity(Context(options_.deadline_s).get(), request, &created);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (status.ok()) {
          acknowledged_[retry ? request.request_id() : key] = created.name();
          break;
        }
        ++failures_[status.error_code()];
        failure_messages_.push_back(
            absl::StrCat(status.error_code(), " ", status.error_message()));
        if (!retry) break;
        if (stop_.load() && ++failed_since_stop > static_cast<int>(stubs.size())) {
          ++abandoned_;
          break;
        }
      }
      replica = (replica + 1) % stubs.size();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

}  // namespace sanhak::testing
