// absl::Time as google.protobuf.Timestamp, the one conversion every service uses.
#ifndef SANHAK_COMMON_TIME_PROTO_H_
#define SANHAK_COMMON_TIME_PROTO_H_

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace sanhak {

inline google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp out;
  const int64_t seconds = absl::ToUnixSeconds(t);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return out;
}

}  // namespace sanhak

#endif  // SANHAK_COMMON_TIME_PROTO_H_
