#include "services/analytics/analytics_service.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/callback_reply.h"
#include "common/caller.h"
#include "common/status.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"

namespace sanhak::analytics {
namespace {

// A buffer that lends `bytes` (GetAggregates' answer) to gRPC without copying; the slice
// keeps them alive until gRPC is done with them.
grpc::ByteBuffer Lend(std::shared_ptr<const std::string> bytes) {
  if (bytes->empty()) return grpc::ByteBuffer();
  auto* held = new std::shared_ptr<const std::string>(std::move(bytes));
  grpc::Slice slice(
      const_cast<char*>((*held)->data()), (*held)->size(),
      [](void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); }, held);
  return grpc::ByteBuffer(&slice, 1);
}

// Where the update lies inside a serialized update event (AggregatesEvent field 2, written
// before field 4, the resume token, as protobuf writes fields in number order), and the
// resume token field after it; nullopt for a snapshot or a heartbeat.
struct UpdateParts {
  absl::string_view update;
  absl::string_view token_field;
};
std::optional<UpdateParts> SplitUpdateEvent(const std::string& bytes) {
  using WF = ::google::protobuf::internal::WireFormatLite;
  constexpr uint32_t kUpdateTag =
      WF::MakeTag(v1::AggregatesEvent::kUpdateFieldNumber, WF::WIRETYPE_LENGTH_DELIMITED);
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  uint32_t length = 0;
  if (in.ReadTag() != kUpdateTag || !in.ReadVarint32(&length)) return std::nullopt;
  const size_t at = static_cast<size_t>(in.CurrentPosition());
  if (at + length > bytes.size()) return std::nullopt;
  absl::string_view all(bytes);
  return UpdateParts{all.substr(at, length), all.substr(at + length)};
}

// An event's bytes as one slice, made once per event and shared by every watcher (a
// reference each, no allocation): the slice holds the bytes' owner, so a write still in
// gRPC's hands outlives the event.
const grpc::Slice& SliceOf(const SharedEvent& event) {
  return event->Lent<grpc::Slice>([&] {
    auto* held = new std::shared_ptr<const std::string>(event->owner());
    return grpc::Slice(
        const_cast<char*>((*held)->data()), (*held)->size(),
        [](void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); }, held);
  });
}

grpc::ByteBuffer LendEvent(const SharedEvent& event) {
  if (event->bytes().empty()) return grpc::ByteBuffer();
  return grpc::ByteBuffer(&SliceOf(event), 1);
}

// `piece` (a view into `event`'s bytes) as a slice sharing the event's.
grpc::Slice SubSlice(const SharedEvent& event, absl::string_view piece) {
  const size_t begin = static_cast<size_t>(piece.data() - event->bytes().data());
  return SliceOf(event).sub(begin, begin + piece.size());
}

// The first parts.size() events of `events` (updates, split by SplitUpdateEvent) as one
// AggregatesEvent{updates: {updates: [...]}, resume_token: the last one's}: pieces of the
// shared event slices (not copied) between field headers of a few bytes each (copied
// into slices small enough to be held inline, so not allocated either).
grpc::ByteBuffer LendBatch(const std::deque<SharedEvent>& events,
                           const std::vector<UpdateParts>& parts) {
  using WF = ::google::protobuf::internal::WireFormatLite;
  using CodedOut = ::google::protobuf::io::CodedOutputStream;
  size_t inner = 0;
  for (const UpdateParts& p : parts) {
    inner += 1 + CodedOut::VarintSize32(static_cast<uint32_t>(p.update.size())) + p.update.size();
  }
  // Kept per thread (delivery threads and gRPC's): a batch of hundreds of updates needs
  // tens of KB of it, which allocated and freed per batch made glibc malloc a quarter of
  // the process's CPU at 10,000 watchers.
  thread_local std::vector<grpc::Slice> slices;
  slices.clear();
  auto header = [&](int field, size_t length) {
    uint8_t buffer[16];
    uint8_t* end =
        CodedOut::WriteVarint32ToArray(WF::MakeTag(field, WF::WIRETYPE_LENGTH_DELIMITED), buffer);
    end = CodedOut::WriteVarint32ToArray(static_cast<uint32_t>(length), end);
    slices.emplace_back(buffer, static_cast<size_t>(end - buffer));
  };
  // The batch (field 5 of AggregatesEvent), then each update (field 1 of
  // AggregatesUpdateBatch), then the last event's resume token field.
  header(v1::AggregatesEvent::kUpdatesFieldNumber, inner);
  for (size_t i = 0; i < parts.size(); ++i) {
    header(v1::AggregatesUpdateBatch::kUpdatesFieldNumber, parts[i].update.size());
    slices.push_back(SubSlice(events[i], parts[i].update));
  }
  slices.push_back(SubSlice(events[parts.size() - 1], parts.back().token_field));
  grpc::ByteBuffer buffer(slices.data(), slices.size());
  slices.clear();  // the buffer holds its own references
  return buffer;
}

// At most this many updates, and about this many bytes, in one batch.
constexpr size_t kMaxBatchUpdates = 500;
constexpr size_t kMaxBatchBytes = 1 << 20;

// `events` as one AggregatesEvent{updates: {updates: [...]}, resume_token: the last
// one's}, serialized into one slice: made once per run of events and shared by every
// watcher that takes it whole. nullopt when one is not an update, or the run is larger
// than a batch may be.
std::optional<grpc::Slice> BatchSlice(const std::vector<SharedEvent>& events) {
  using WF = ::google::protobuf::internal::WireFormatLite;
  using CodedOut = ::google::protobuf::io::CodedOutputStream;
  if (events.size() < 2 || events.size() > kMaxBatchUpdates) return std::nullopt;
  std::vector<UpdateParts> parts;
  parts.reserve(events.size());
  size_t inner = 0;
  for (const SharedEvent& event : events) {
    std::optional<UpdateParts> p = SplitUpdateEvent(event->bytes());
    if (!p.has_value()) return std::nullopt;
    inner += 1 + CodedOut::VarintSize32(static_cast<uint32_t>(p->update.size())) + p->update.size();
    parts.push_back(*p);
  }
  if (inner > kMaxBatchBytes) return std::nullopt;
  auto bytes = std::make_shared<std::string>();
  bytes->reserve(inner + 16 + parts.back().token_field.size());
  auto header = [&](int field, size_t length) {
    uint8_t buffer[16];
    uint8_t* end =
        CodedOut::WriteVarint32ToArray(WF::MakeTag(field, WF::WIRETYPE_LENGTH_DELIMITED), buffer);
    end = CodedOut::WriteVarint32ToArray(static_cast<uint32_t>(length), end);
    bytes->append(reinterpret_cast<const char*>(buffer), static_cast<size_t>(end - buffer));
  };
  header(v1::AggregatesEvent::kUpdatesFieldNumber, inner);
  for (const UpdateParts& p : parts) {
    header(v1::AggregatesUpdateBatch::kUpdatesFieldNumber, p.update.size());
    bytes->append(p.update.data(), p.update.size());
  }
  bytes->append(parts.back().token_field.data(), parts.back().token_field.size());
  auto* held = new std::shared_ptr<const std::string>(std::move(bytes));
  return grpc::Slice(
      const_cast<char*>((*held)->data()), (*held)->size(),
      [](void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); }, held);
}

// One watch stream. A WatchHub delivery thread (or Subscribe, for what is owed first)
// delivers events; gRPC completes writes on its own threads; a mutex orders the two.
// Writes go one at a time from a queue, several updates as one batch when the watcher
// asked for batches and is behind.
class WatchReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                     public Analytics::Watcher {
 public:
  // `gate` (when not null) admitted this watcher, and `per_caller` (when not null) counted
  // it for `principal`; both are left when the stream is done.
  // `batches`: the watcher asked for AggregatesEvent.updates (accept_update_batches).
  WatchReactor(Analytics* analytics, size_t max_backlog, AdmissionGate* gate,
               PerCallerCount* per_caller = nullptr, std::string principal = "",
               bool batches = false)
      : analytics_(analytics),
        max_backlog_(max_backlog),
        batches_(batches),
        gate_(gate),
        per_caller_(per_caller),
        principal_(std::move(principal)) {}

  void Begin(const std::string& resume_token) {
    // The engine delivers the snapshot (or the missed updates) through Deliver before
    // any live update.
    {
      absl::MutexLock lock(&mu_);
      subscribing_ = true;
    }
    absl::Status status = analytics_->Subscribe(this, resume_token);
    {
      absl::MutexLock lock(&mu_);
      subscribing_ = false;
    }
    if (!status.ok()) {
      subscribed_ = false;
      absl::MutexLock lock(&mu_);
      FinishLocked(ToGrpcStatus(status));
    }
  }

  void Deliver(SharedEvent event) override {
    absl::MutexLock lock(&mu_);
    if (QueueLocked(std::move(event))) WriteNextLocked();
  }

  // Queued together, so a watcher that accepts batches gets them as one message: the
  // run's own (made once for every watcher of the delivery thread) when nothing else is
  // queued before it.
  void DeliverAll(const EventRun& run) override {
    absl::MutexLock lock(&mu_);
    const bool alone = batches_ && !writing_ && queue_.empty();
    for (const SharedEvent& event : run.events()) {
      if (!QueueLocked(event)) return;
    }
    if (alone && !finished_) {
      const std::optional<grpc::Slice>& batch =
          run.Lent<std::optional<grpc::Slice>>([&] { return BatchSlice(run.events()); });
      if (batch.has_value()) {
        writing_ = true;
        writing_events_ = run.events().size();
        writing_buffer_ = grpc::ByteBuffer(&*batch, 1);
        StartWrite(&writing_buffer_);
        return;
      }
    }
    WriteNextLocked();
  }

  void Close(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(status));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      // The client is gone (or the call was cancelled): nothing more can be written.
      if (!finishing_) {
        finishing_ = true;
        pending_finish_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
      }
      DoFinishLocked();
      return;
    }
    for (size_t i = 0; i < writing_events_ && !queue_.empty(); ++i) queue_.pop_front();
    catch_up_ = std::min(catch_up_, queue_.size());
    if (finishing_ && queue_.empty()) {
      DoFinishLocked();
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (subscribed_) analytics_->Unsubscribe(this);
    if (gate_ != nullptr) gate_->Leave();
    if (per_caller_ != nullptr) per_caller_->Release(principal_);
    delete this;
  }

 private:
  // Whether `event` was queued: not when the stream is ending, or when this watcher is
  // too far behind (then it is closed).
  bool QueueLocked(SharedEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_) return false;
    // What the subscription delivers (the snapshot, or every update missed) is owed in
    // any case: the backlog limit counts what queues up beyond it, or a watcher more than
    // max_backlog_ behind could never resume.
    if (subscribing_) ++catch_up_;
    if (queue_.size() >= max_backlog_ + catch_up_) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "this watcher fell too far behind; resume with your last "
                                "token"));
      return false;
    }
    queue_.push_back(std::move(event));
    return true;
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || queue_.empty() || finished_) return;
    writing_ = true;
    // Held until OnWriteDone: gRPC reads the bytes during the write.
    writing_events_ = 1;
    if (batches_ && queue_.size() > 1) {
      // Behind: the updates at the front of the queue go as one message.
      thread_local std::vector<UpdateParts> parts;
      parts.clear();
      size_t bytes = 0;
      for (const SharedEvent& event : queue_) {
        if (parts.size() == kMaxBatchUpdates || bytes >= kMaxBatchBytes) break;
        std::optional<UpdateParts> p = SplitUpdateEvent(event->bytes());
        if (!p.has_value()) break;
        bytes += event->bytes().size();
        parts.push_back(*p);
      }
      if (parts.size() > 1) {
        writing_events_ = parts.size();
        writing_buffer_ = LendBatch(queue_, parts);
        grpc::WriteOptions options;
        if (queue_.size() > parts.size()) options.set_buffer_hint();
        StartWrite(&writing_buffer_, options);
        return;
      }
    }
    writing_buffer_ = LendEvent(queue_.front());
    // A watcher that has fallen behind gets its queued events packed into fewer frames
    // and socket writes: each but the last of a backlog may wait in gRPC's buffer for the
    // next (which is already queued, so none is held back). Under saturation this halves
    // the fan-out's latency; a lone event is sent at once.
    grpc::WriteOptions options;
    if (queue_.size() > 1) options.set_buffer_hint();
    StartWrite(&writing_buffer_, options);
  }

  // Ends the stream once what was queued before is written (a heartbeat or update
  // queued before an error still reaches the client).
  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_) return;
    finishing_ = true;
    pending_finish_ = std::move(status);
    // While a write is out, OnWriteDone finishes once the queue is drained (or the
    // write fails).
    if (!writing_) DoFinishLocked();
  }

  void DoFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(*pending_finish_);
  }

  Analytics* const analytics_;
  const size_t max_backlog_;
  const bool batches_;
  AdmissionGate* const gate_;
  PerCallerCount* const per_caller_;
  const std::string principal_;
  bool subscribed_ = true;
  absl::Mutex mu_;
  std::deque<SharedEvent> queue_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer writing_buffer_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Events the write in flight carries (1, or a batch's updates).
  size_t writing_events_ ABSL_GUARDED_BY(mu_) = 0;
  bool subscribing_ ABSL_GUARDED_BY(mu_) = false;
  // Events of the subscription still queued.
  size_t catch_up_ ABSL_GUARDED_BY(mu_) = 0;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

AnalyticsGrpcService::AnalyticsGrpcService(Analytics* analytics)
    : analytics_(analytics),
      watchers_(analytics->options().max_watchers),
      watches_per_caller_(analytics->options().max_watches_per_caller, "open watches") {
  Serve(v1::AnalyticsService::service_full_name(), this,
        &AnalyticsGrpcService::GetAggregatesBytes, &AnalyticsGrpcService::GetCouncilScorecard,
        &AnalyticsGrpcService::GetNetwork, &AnalyticsGrpcService::WatchAggregatesBytes);
}

grpc::ServerUnaryReactor* AnalyticsGrpcService::GetAggregatesBytes(
    grpc::CallbackServerContext* context, const v1::GetAggregatesRequest* request,
    grpc::ByteBuffer* response) {
  absl::StatusOr<std::shared_ptr<const std::string>> bytes =
      analytics_->GetAggregatesSerialized(*request);
  if (!bytes.ok()) return Reply(context, bytes.status(), response);
  return Reply(context, absl::StatusOr<grpc::ByteBuffer>(Lend(*std::move(bytes))), response);
}

grpc::ServerUnaryReactor* AnalyticsGrpcService::GetCouncilScorecard(
    grpc::CallbackServerContext* context, const v1::GetCouncilScorecardRequest* request,
    v1::CouncilScorecard* response) {
  return Reply(context, analytics_->GetCouncilScorecard(*request), response);
}

grpc::ServerUnaryReactor* AnalyticsGrpcService::GetNetwork(grpc::CallbackServerContext* context,
                                                           const v1::GetNetworkRequest* request,
                                                           v1::Network* response) {
  return Reply(context, analytics_->GetNetwork(*request), response);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* AnalyticsGrpcService::WatchAggregatesBytes(
    grpc::CallbackServerContext* context, v1::WatchAggregatesRequest request) {
  if (!watchers_.TryEnter()) {
    auto* refused = new WatchReactor(analytics_, 0, nullptr);
    refused->Close(Overloaded(absl::StrCat(watchers_.limit(), " watchers are already open"),
                              absl::Seconds(1)));
    return refused;
  }
  const std::string principal = CallerOf(*context).principal;
  if (absl::Status allowed = watches_per_caller_.Acquire(principal); !allowed.ok()) {
    watchers_.Leave();
    auto* refused = new WatchReactor(analytics_, 0, nullptr);
    refused->Close(allowed);
    return refused;
  }
  auto* reactor = new WatchReactor(analytics_, analytics_->options().max_watcher_backlog,
                                   &watchers_, &watches_per_caller_, principal,
                                   request.accept_update_batches());
  reactor->Begin(request.resume_token());
  return reactor;
}

}  // namespace sanhak::analytics
