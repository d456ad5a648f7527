// The services' change streams (sanhak:changes:{service}) as the applier reads them: one
// consumer group, "analytics", in which this replica is one consumer. An entry read is
// delivered to one consumer and stays pending until acknowledged; a new leader claims what
// an earlier one left pending, so nothing read before a crash is lost (a redelivery the
// change applier recognises by its sequence). Acknowledgements go into the applier's own
// fenced transaction (AckCommands), so an entry is acknowledged exactly when its effect
// is written.
#ifndef SANHAK_SERVICES_ANALYTICS_CHANGE_FEED_H_
#define SANHAK_SERVICES_ANALYTICS_CHANGE_FEED_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/redis.h"
#include "services/analytics/change_applier.h"

namespace sanhak::analytics {

// The feed as the applier uses it: Redis in production (RedisChangeFeed), in memory in
// unit tests. Used from one thread at a time.
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // Makes sure this replica can read the feed from its start (creating what is missing).
  virtual absl::Status EnsureGroups() = 0;
  // Claims every entry any consumer left unacknowledged and hands it to `apply` in
  // batches, in order per stream; stops at apply's first error.
  virtual absl::Status ClaimPending(
      const std::function<absl::Status(const std::vector<ChangeEntry>&)>& apply) = 0;
  // Entries no consumer has read yet, up to 200, waiting up to `block` for some.
  // NOT_FOUND when the feed lost its position (the store was emptied): the caller
  // reloads and calls EnsureGroups again.
  virtual absl::StatusOr<std::vector<ChangeEntry>> ReadNew(absl::Duration block) = 0;
  // Service -> sequence of the newest change in its stream (absent when empty): with the
  // positions applied, how far the aggregates trail the writes.
  virtual absl::StatusOr<std::map<std::string, int64_t>> NewestSequences() = 0;
};

class RedisChangeFeed final : public ChangeFeed {
 public:
  static constexpr char kGroup[] = "analytics";

  // `redis` must outlive this. `consumer` names this replica in the group.
  RedisChangeFeed(redis::Connection* redis, std::vector<std::string> services,
                  std::string consumer);

  // Creates the group on each stream that lacks it (and the stream), reading from the
  // stream's start.
  absl::Status EnsureGroups() override;
  // Claims with XAUTOCLAIM, in batches of up to 100 per stream.
  absl::Status ClaimPending(
      const std::function<absl::Status(const std::vector<ChangeEntry>&)>& apply) override;
  // NOT_FOUND when a stream's group is gone.
  absl::StatusOr<std::vector<ChangeEntry>> ReadNew(absl::Duration block) override;
  absl::StatusOr<std::map<std::string, int64_t>> NewestSequences() override;

  // The commands acknowledging `acks` (stream -> entry ids), for the caller's transaction.
  static std::vector<std::vector<std::string>> AckCommands(
      const std::map<std::string, std::vector<std::string>>& acks);

 private:
  redis::Connection* const redis_;
  const std::vector<std::string> services_;
  const std::string consumer_;
};

}  // namespace sanhak::analytics

#endif  // SANHAK_SERVICES_ANALYTICS_CHANGE_FEED_H_
