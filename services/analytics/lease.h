// Who applies the change feed: one replica at a time holds the lease, a key with a time
// to live. The holder renews it every third of its term; a holder that stalls past the
// term loses it to the next replica that asks. Every write of the applier is fenced by
// the lease (Analytics::ApplyBatch: WATCH on the key, the holder checked, MULTI ... EXEC),
// so a replica that lost it writes nothing even if it has not noticed yet.
//
// Taking, renewing and releasing are each one atomic operation on the store: a renewal
// can never extend a lease another replica has taken meanwhile (a GET then PEXPIRE could),
// and a release never deletes another replica's lease.
#ifndef SANHAK_SERVICES_ANALYTICS_LEASE_H_
#define SANHAK_SERVICES_ANALYTICS_LEASE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/redis.h"

namespace sanhak::analytics {

// Where the lease is kept: Redis in production (RedisLeaseStore), a fake in unit tests.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  // Atomically: extends the lease to `term` from now when `holder` holds it, takes it for
  // `term` when nobody does. Whether `holder` holds it afterwards.
  virtual absl::StatusOr<bool> AcquireOrExtend(const std::string& holder,
                                               absl::Duration term) = 0;
  // Atomically: ends the lease when `holder` holds it; nothing otherwise.
  virtual absl::Status Release(const std::string& holder) = 0;
};

// The lease as the key `key` on a Redis connection, each operation one Lua script.
class RedisLeaseStore final : public LeaseStore {
 public:
  // `redis` must outlive this; it is used from the caller's thread only.
  RedisLeaseStore(redis::Connection* redis, std::string key)
      : redis_(redis), key_(std::move(key)) {}
  absl::StatusOr<bool> AcquireOrExtend(const std::string& holder, absl::Duration term) override;
  absl::Status Release(const std::string& holder) override;

 private:
  redis::Connection* const redis_;
  const std::string key_;
};

// One replica's view of the lease: asks the store when it is due, remembers the answer.
class Lease {
 public:
  struct Outcome {
    // This replica holds the lease now.
    bool held = false;
    // It did not before this check: it takes over from another (or from nobody) and
    // must load the state before applying.
    bool taken = false;
  };

  // `store` must outlive this.
  Lease(LeaseStore* store, std::string holder, absl::Duration term)
      : store_(store), holder_(std::move(holder)), term_(term) {}

  // Renews (or tries to take) the lease when a third of the term has passed since the
  // last answer, else repeats it. A store error: not held (the caller reconnects).
  absl::StatusOr<Outcome> Check(absl::Time now);
  // Gives it up at once when held (another replica need not wait out the term).
  void Release();
  bool held() const { return held_; }
  const std::string& holder() const { return holder_; }

 private:
  LeaseStore* const store_;
  const std::string holder_;
  const absl::Duration term_;
  bool held_ = false;
  absl::Time answered_ = absl::InfinitePast();
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_LEASE_H_
