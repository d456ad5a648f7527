// Building and reading change records (sanhak.changes.v1.ChangeRecord), the unit of the
// change feed.
#ifndef SANHAK_COMMON_CHANGE_RECORD_H_
#define SANHAK_COMMON_CHANGE_RECORD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/resource_store.h"
#include "sanhak/changes/v1/changes.pb.h"

namespace sanhak {

// The record of writing `resource` (its state after the write; for DELETED, the last
// state). `before` is the previous state of an UPDATED resource, to name what changed.
changes::v1::ChangeRecord MakeChangeRecord(absl::string_view service, int64_t sequence,
                                           changes::v1::ChangeKind kind,
                                           const store::Resource& resource,
                                           const store::Resource* before);

// Top-level fields of message type `type` (a generated message, by full name) whose
// values differ between the two serialized states. Empty when the type is unknown.
std::vector<std::string> ChangedFields(absl::string_view type, absl::string_view before,
                                       absl::string_view after);

}  // namespace sanhak

#endif  // SANHAK_COMMON_CHANGE_RECORD_H_
