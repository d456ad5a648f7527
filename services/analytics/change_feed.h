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

class ChangeFeedConsumer {
 public:
  static constexpr char kGroup[] = "analytics";

  // `redis` must outlive this; it is used from the caller's thread only. `consumer` names
  // this replica in the group.
  ChangeFeedConsumer(redis::Connection* redis, std::vector<std::string> services,
                     std::string consumer);

  // Creates the group on each stream that lacks it (and the stream), reading from the
  // stream's start.
  absl::Status EnsureGroups();
  // Claims every entry any consumer left pending, in batches of up to 100 per stream, and
  // hands each batch to `apply`; stops at apply's first error.
  absl::Status ClaimPending(
      const std::function<absl::Status(const std::vector<ChangeEntry>&)>& apply);
  // Entries no consumer has read yet, up to 200, waiting up to `block` for some. NOT_FOUND
  // when a stream's group is gone (Redis lost the streams): the caller reloads and calls
  // EnsureGroups again.
  absl::StatusOr<std::vector<ChangeEntry>> ReadNew(absl::Duration block);

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
