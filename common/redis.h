// A small synchronous Redis connection over hiredis: commands as argument vectors,
// replies as plain values, errors as absl::Status, every call bounded by a timeout. The
// relays, the analytics service and the tests use it.
//
// Each service signs in as its own Redis ACL user (Redis 6+, `AUTH user password`), on
// every connect and so on every reconnect. Debian's hiredis 0.14 has no TLS: the bytes
// travel in the clear, so Redis must only be reachable over loopback (scripts/run.sh) or
// a network that admits only the suite's pods (deploy/, NetworkPolicy).
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

// Who a connection signs in as. An empty user sends no AUTH (a Redis without ACL users,
// as the tests' plain servers). Nothing prints the password: no Status, log line or
// debug string carries it.
struct Credentials {
  std::string user;
  std::string password;
};

// `user` with the password held in `password_file` (one line; a trailing newline is
// dropped). Both empty: no credentials. INVALID_ARGUMENT when only one of them is given,
// when the file cannot be read or is empty; the message names the file, never its content.
absl::StatusOr<Credentials> LoadCredentials(absl::string_view user,
                                            absl::string_view password_file);

class Connection {
 public:
  // "host:port"; signs in as `credentials` when its user is set. UNAVAILABLE when Redis
  // cannot be reached within `timeout`; UNAUTHENTICATED when Redis refuses the user or
  // password (the message names the user and Redis' reason, not the password).
  static absl::StatusOr<std::unique_ptr<Connection>> Connect(absl::string_view address,
                                                             absl::Duration timeout,
                                                             const Credentials& credentials = {});
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

// At start: signs in once to tell a wrong user or password (UNAUTHENTICATED, which a
// service reports and exits on) from Redis being away for now (OK: the caller's
// reconnect loop waits for it). OK at once without credentials.
absl::Status CheckCredentials(absl::string_view address, const Credentials& credentials,
                              absl::Duration timeout);

// The sequence of stream entry id "{sequence}-0" (every stream of the suite numbers its
// entries so); 0 when `id` is not one (sequences start at 1).
int64_t StreamEntrySequence(absl::string_view id);

// Field `name` of a stream entry as XREAD, XRANGE and XAUTOCLAIM return it
// ([id, [k, v, k, v, ...]]); nullptr when it has none.
const std::string* StreamEntryField(const Reply& entry, absl::string_view name);

}  // namespace sanhak::redis

#endif  // SANHAK_COMMON_REDIS_H_
