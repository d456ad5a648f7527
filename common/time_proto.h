// absl::Time as google.protobuf.Timestamp, the one conversion every service uses, and the
// range a Timestamp may hold.
#ifndef SANHAK_COMMON_TIME_PROTO_H_
#define SANHAK_COMMON_TIME_PROTO_H_

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace sanhak {

// google.protobuf.Timestamp's documented range: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z, nanos 0..999,999,999 (timestamp.proto; the JSON
// mapping cannot write a value outside it).
inline constexpr int64_t kMinTimestampSeconds = -62135596800;
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;
inline constexpr int32_t kMaxTimestampNanos = 999999999;

inline bool IsValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= kMinTimestampSeconds && t.seconds() <= kMaxTimestampSeconds &&
         t.nanos() >= 0 && t.nanos() <= kMaxTimestampNanos;
}

inline google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp out;
  const int64_t seconds = absl::ToUnixSeconds(t);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return out;
}

}  // namespace sanhak

#endif  // SANHAK_COMMON_TIME_PROTO_H_
