#include "services/analytics/lease.h"

#include "absl/strings/str_cat.h"

namespace sanhak::analytics {
namespace {

// KEYS[1] the lease, ARGV[1] the holder, ARGV[2] the term in ms. 1: held afterwards.
constexpr char kAcquireOrExtend[] = R"lua(
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua";

// KEYS[1] the lease, ARGV[1] the holder. 1: released.
constexpr char kRelease[] = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua";

}  // namespace

absl::StatusOr<bool> RedisLeaseStore::AcquireOrExtend(const std::string& holder,
                                                      absl::Duration term) {
  absl::StatusOr<redis::Reply> reply = redis_->Command(
      {"EVAL", kAcquireOrExtend, "1", key_, holder,
       absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(term)))});
  if (!reply.ok()) return reply.status();
  if (reply->type != redis::Reply::Type::kInteger) {
    return absl::UnavailableError(absl::StrCat("redis lease: ", reply->str));
  }
  return reply->integer == 1;
}

absl::Status RedisLeaseStore::Release(const std::string& holder) {
  absl::StatusOr<redis::Reply> reply = redis_->Command({"EVAL", kRelease, "1", key_, holder});
  if (!reply.ok()) return reply.status();
  if (reply->type != redis::Reply::Type::kInteger) {
    return absl::UnavailableError(absl::StrCat("redis lease: ", reply->str));
  }
  return absl::OkStatus();
}

absl::StatusOr<Lease::Outcome> Lease::Check(absl::Time now) {
  Outcome outcome;
  if (held_ && now - answered_ < term_ / 3) {
    outcome.held = true;
    return outcome;
  }
  absl::StatusOr<bool> held = store_->AcquireOrExtend(holder_, term_);
  if (!held.ok()) {
    held_ = false;
    return held.status();
  }
  outcome.held = *held;
  outcome.taken = *held && !held_;
  held_ = *held;
  answered_ = now;
  return outcome;
}

void Lease::Release() {
  if (!held_) return;
  held_ = false;
  store_->Release(holder_).IgnoreError();
}

}  // namespace sanhak::analytics
