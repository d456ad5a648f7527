// A small synchronous Redis connection over hiredis: commands as argument vectors,
// replies as plain values, errors as absl::Status, every call bounded by a timeout. The
// relay and the tests use it; the analytics service will too.
#ifndef SANHAK_COMMON_REDIS_H_
#define SANHAK_COMMON_REDIS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct redisContext;

namespace sanhak::redis {

// A reply: exactly one of the members is meaningful, as `type` says.
struct Reply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<Reply> elements;  // kArray
};

class Connection {
 public:
  // "host:port". UNAVAILABLE when Redis cannot be reached within `timeout`.
  static absl::StatusOr<std::unique_ptr<Connection>> Connect(absl::string_view address,
                                                             absl::Duration timeout);
  ~Connection();

  // One command. A Redis error reply is returned as a Reply of kError, not as a Status;
  // a Status error means the connection failed (and should be dropped).
  absl::StatusOr<Reply> Command(const std::vector<std::string>& args);

  // Sends all commands, then reads all replies (one round trip).
  absl::StatusOr<std::vector<Reply>> Pipeline(const std::vector<std::vector<std::string>>& commands);

 private:
  explicit Connection(redisContext* context) : context_(context) {}
  redisContext* context_;
};

// "host:port" split; INVALID_ARGUMENT when malformed.
absl::Status ParseAddress(absl::string_view address, std::string* host, int* port);

}  // namespace sanhak::redis

#endif  // SANHAK_COMMON_REDIS_H_
