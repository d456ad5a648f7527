// Page tokens that cannot be forged or moved between requests: each carries the last
// name a page returned and a MAC (HMAC-SHA256, truncated to 128 bits) over that name and
// the fingerprint of the request's filters, keyed by a secret only the service knows.
// A token is honoured only by the service whose key signed it and only for a request
// with the same filters; anything else is INVALID_ARGUMENT on "page_token".
//
// The key is process-wide (every List of a service shares it) and installed once at
// start, before any call is served; it lives in a file so a restart, and every replica
// given the same file, keeps honouring the tokens issued earlier.
#ifndef SANHAK_COMMON_PAGE_TOKEN_H_
#define SANHAK_COMMON_PAGE_TOKEN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sanhak {

// Longest page token accepted, in characters: a name (at most 200 characters) plus the
// MAC and version, base64-encoded, fit well within it. Longer input is refused before it
// is decoded.
inline constexpr size_t kMaxPageTokenChars = 512;

// Bytes of a key file's key; a shorter file is refused.
inline constexpr size_t kPageTokenKeyBytes = 32;

// Reads the key from `path`, creating the file (mode 0600, 32 random bytes) when it does
// not exist, and installs it. An error when the file cannot be read or created, or holds
// fewer than 32 bytes.
absl::Status InstallPageTokenKeyFile(const std::string& path);

// Installs `key` (tests). Without an installed key, a random one made at first use
// signs the tokens of this process only.
void SetPageTokenKey(std::string key);

// A token for the page after `after_name` of the request with filters `fingerprint`.
std::string EncodePageToken(absl::string_view after_name, absl::string_view fingerprint);

// The `after_name` of a token; "" for an empty token. INVALID_ARGUMENT (field
// "page_token") when the token is too long, malformed, altered, signed by another key or
// issued for a request with other filters.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token,
                                            absl::string_view fingerprint);

}  // namespace sanhak

#endif  // SANHAK_COMMON_PAGE_TOKEN_H_
