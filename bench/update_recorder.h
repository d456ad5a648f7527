// One WatchAggregates stream as the benchmarks read it: the time every update arrived,
// by the resource it is about, whether the snapshot came, and how the stream ended.
// Callback API: one reactor per stream, no thread. `Event` is the message the stream is
// parsed as: sanhak.analytics.v1.AggregatesEvent, or the fan-out's LiteEvent (the same
// field numbers, an update parsed for its resource_name only). Both have the oneof cases
// kSnapshot, kUpdate and kUpdates.
#ifndef SANHAK_BENCH_UPDATE_RECORDER_H_
#define SANHAK_BENCH_UPDATE_RECORDER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/watch_latency.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/client_callback.h"
#include "sanhak/analytics/v1/analytics.pb.h"

namespace sanhak::bench {

template <typename Event>
class UpdateRecorder final : public grpc::ClientReadReactor<Event> {
 public:
  // Opens the stream on `channel`; `batches` sets accept_update_batches.
  void Open(const std::shared_ptr<grpc::Channel>& channel, absl::Duration deadline,
            bool batches) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(absl::ToInt64Milliseconds(deadline)));
    request_.set_accept_update_batches(batches);
    method_ = std::make_unique<grpc::internal::RpcMethod>(
        "/sanhak.analytics.v1.AnalyticsService/WatchAggregates",
        grpc::internal::RpcMethod::SERVER_STREAMING, channel);
    grpc::internal::ClientCallbackReaderFactory<Event>::Create(channel.get(), *method_,
                                                               &context_, &request_, this);
    this->StartRead(&event_);
    this->StartCall();
  }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream is ending; OnDone follows
    const int64_t now = NowNs();
    {
      absl::MutexLock lock(&mu_);
      switch (event_.event_case()) {
        case Event::kSnapshot:
          snapshot_ = true;
          break;
        case Event::kUpdate:
          received_.emplace_back(std::move(*event_.mutable_update()->mutable_resource_name()),
                                 now);
          break;
        case Event::kUpdates:
          for (auto& u : *event_.mutable_updates()->mutable_updates()) {
            received_.emplace_back(std::move(*u.mutable_resource_name()), now);
          }
          break;
        default:
          break;
      }
    }
    event_.Clear();
    this->StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  bool snapshot() {
    absl::MutexLock lock(&mu_);
    return snapshot_;
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  size_t received_count() {
    absl::MutexLock lock(&mu_);
    return received_.size();
  }
  // Counts updates received since the last call whose name is in `names`.
  int64_t ScanNew(const absl::flat_hash_set<std::string>& names) {
    absl::MutexLock lock(&mu_);
    int64_t n = 0;
    for (; scanned_ < received_.size(); ++scanned_) {
      if (names.contains(received_[scanned_].first)) ++n;
    }
    return n;
  }
  // Only after OnDone.
  const std::vector<std::pair<std::string, int64_t>>& received() const { return received_; }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::internal::RpcMethod> method_;
  analytics::v1::WatchAggregatesRequest request_;
  Event event_;
  absl::Mutex mu_;
  bool snapshot_ = false;
  bool done_ = false;
  grpc::Status status_;
  std::vector<std::pair<std::string, int64_t>> received_;
  size_t scanned_ = 0;
};

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_UPDATE_RECORDER_H_
