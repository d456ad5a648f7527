#include "common/outbox_relay.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace sanhak {

std::string ChangeStreamKey(absl::string_view service) {
  return absl::StrCat("sanhak:changes:", service);
}

OutboxRelay::OutboxRelay(store::ResourceStore* store, RelayOptions options)
    : store_(store), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Notify() {
  absl::MutexLock lock(&mu_);
  notified_ = true;
}

void OutboxRelay::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

OutboxRelay::Stats OutboxRelay::stats() {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void OutboxRelay::SleepFor(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || notified_; };
  mu_.AwaitWithTimeout(absl::Condition(&woken), d);
}

void OutboxRelay::Run() {
  absl::Duration backoff = options_.min_backoff;
  bool was_down = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      notified_ = false;
    }
    absl::StatusOr<int> relayed = RelayBatch();
    if (!relayed.ok()) {
      redis_.reset();
      {
        absl::MutexLock lock(&mu_);
        stats_.redis_reachable = false;
      }
      if (!was_down) {
        Log(LogLevel::kWarning, "change relay paused; records wait in the outbox",
            {{"stream", options_.stream}, {"error", relayed.status().ToString()}});
        was_down = true;
      }
      // Sleep through notifications too: there is no point retrying before the backoff.
      absl::Time until = absl::Now() + backoff;
      while (absl::Now() < until) {
        {
          absl::MutexLock lock(&mu_);
          if (stopping_) return;
        }
        absl::SleepFor(std::min(absl::Milliseconds(20), until - absl::Now()));
      }
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    if (was_down) {
      Log(LogLevel::kInfo, "change relay resumed", {{"stream", options_.stream}});
      was_down = false;
    }
    backoff = options_.min_backoff;
    if (*relayed == 0) SleepFor(options_.poll_interval);
  }
}

absl::StatusOr<int> OutboxRelay::RelayBatch() {
  // Before each batch: a replica that lost the lease (its database connection dropped)
  // must stop at once, since another may already relay the same records.
  absl::StatusOr<bool> lease = store_->HoldsRelayLease();
  {
    absl::MutexLock lock(&mu_);
    stats_.holds_lease = lease.ok() && *lease;
  }
  if (!lease.ok()) return lease.status();
  if (!*lease) return 0;
  absl::StatusOr<std::vector<store::OutboxEntry>> entries = store_->ReadOutbox(options_.batch);
  if (!entries.ok()) return entries.status();
  if (entries->empty()) return 0;
  if (redis_ == nullptr) {
    auto connection = redis::Connection::Connect(options_.redis_address, options_.io_timeout,
                                                  options_.redis_credentials);
    if (!connection.ok()) return connection.status();
    redis_ = *std::move(connection);
  }
  // Records at or below the stream's last entry may already be there (sent before a
  // crash, not yet dropped): confirm each one by one. Only the rest are pipelined, so a
  // foreign entry can never end up followed by records sent past it.
  absl::StatusOr<redis::Reply> top =
      redis_->Command({"XREVRANGE", options_.stream, "+", "-", "COUNT", "1"});
  if (!top.ok()) return top.status();
  int64_t top_sequence = 0;
  if (top->type == redis::Reply::Type::kArray && !top->elements.empty()) {
    const std::string& id = top->elements[0].elements[0].str;
    top_sequence = std::stoll(id.substr(0, id.find('-')));
  }
  int64_t delivered_up_to = 0;
  absl::Status failure;
  size_t next = 0;
  for (; next < entries->size() && (*entries)[next].sequence <= top_sequence; ++next) {
    const store::OutboxEntry& e = (*entries)[next];
    std::string id = absl::StrCat(e.sequence, "-0");
    absl::StatusOr<redis::Reply> existing = redis_->Command({"XRANGE", options_.stream, id, id});
    if (!existing.ok()) return existing.status();
    bool same = existing->elements.size() == 1 && existing->elements[0].elements.size() == 2 &&
                existing->elements[0].elements[1].elements.size() == 2 &&
                existing->elements[0].elements[1].elements[1].str == e.record;
    if (!same) {
      // The stream holds entries this service did not write (Redis kept a stream another
      // database wrote). Relaying on would reorder history: stop and say so.
      failure = absl::FailedPreconditionError(absl::StrCat(
          "stream ", options_.stream, " holds entries up to ", top_sequence,
          "-0 that this service did not write; records wait in the outbox"));
      break;
    }
    delivered_up_to = e.sequence;
  }
  if (failure.ok() && next < entries->size()) {
    std::vector<std::vector<std::string>> commands;
    const std::string max_length = absl::StrCat(options_.max_stream_length);
    for (size_t i = next; i < entries->size(); ++i) {
      const store::OutboxEntry& e = (*entries)[i];
      commands.push_back({"XADD", options_.stream, "MAXLEN", "~", max_length,
                          absl::StrCat(e.sequence, "-0"), "record", e.record});
    }
    absl::StatusOr<std::vector<redis::Reply>> replies = redis_->Pipeline(commands);
    if (!replies.ok()) {
      failure = replies.status();
    } else {
      for (size_t i = 0; i < replies->size(); ++i) {
        if ((*replies)[i].type == redis::Reply::Type::kError) {
          failure = absl::UnavailableError(absl::StrCat("XADD: ", (*replies)[i].str));
          break;
        }
        delivered_up_to = (*entries)[next + i].sequence;
      }
    }
  }
  int dropped = 0;
  if (delivered_up_to > 0) {
    if (absl::Status s = store_->AckOutbox(delivered_up_to); !s.ok()) return s;
    for (const auto& e : *entries) dropped += e.sequence <= delivered_up_to;
    absl::MutexLock lock(&mu_);
    stats_.relayed += dropped;
    stats_.last_sequence = delivered_up_to;
    stats_.redis_reachable = true;
  }
  if (!failure.ok()) return failure;
  return dropped;
}

}  // namespace sanhak
