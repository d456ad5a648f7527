// The Redis sign-in flags every service that talks to Redis shares: --redis_user and
// --redis_password_file (env SANHAK_REDIS_USER, SANHAK_REDIS_PASSWORD_FILE). main() only.
#ifndef SANHAK_COMMON_REDIS_FLAGS_H_
#define SANHAK_COMMON_REDIS_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/redis.h"

ABSL_DECLARE_FLAG(std::string, redis_user);
ABSL_DECLARE_FLAG(std::string, redis_password_file);

namespace sanhak {

// The credentials the flags name, read from the password file; when Redis at `address`
// answers, also signed in once, so a wrong user or password stops the start with
// UNAUTHENTICATED instead of a relay that retries forever. A Redis that does not answer
// yet is no error (the service waits for it as before). Empty `address`: no Redis, no
// check.
absl::StatusOr<redis::Credentials> RedisCredentialsFromFlags(absl::string_view address);

}  // namespace sanhak

#endif  // SANHAK_COMMON_REDIS_FLAGS_H_
