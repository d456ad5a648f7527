#include "common/redis_flags.h"

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/server_flags.h"

ABSL_FLAG(std::string, redis_user, sanhak::EnvOr("SANHAK_REDIS_USER", ""),
          "Redis ACL user this service signs in as; empty signs in as nobody (a Redis "
          "without users) (env SANHAK_REDIS_USER)");
ABSL_FLAG(std::string, redis_password_file, sanhak::EnvOr("SANHAK_REDIS_PASSWORD_FILE", ""),
          "file holding --redis_user's password, one line (env SANHAK_REDIS_PASSWORD_FILE)");

namespace sanhak {

absl::StatusOr<redis::Credentials> RedisCredentialsFromFlags(absl::string_view address) {
  absl::StatusOr<redis::Credentials> credentials = redis::LoadCredentials(
      absl::GetFlag(FLAGS_redis_user), absl::GetFlag(FLAGS_redis_password_file));
  if (!credentials.ok() || address.empty()) return credentials;
  if (absl::Status s = redis::CheckCredentials(address, *credentials, absl::Seconds(2));
      !s.ok()) {
    return s;
  }
  return credentials;
}

}  // namespace sanhak
