// Bearer tokens for people using sanhakctl: JSON Web Tokens (RFC 7519) signed with ES256
// (ECDSA P-256) or RS256 (RSA PKCS#1 v1.5, SHA-256), verified with Debian's libjwt against
// the public keys of a JSON Web Key Set file (RFC 7517), which is read again when it
// changes (key rotation: publish the new key beside the old, then drop the old).
//
// A token is accepted only when all of these hold:
//   - at most kMaxTokenBytes, three base64url parts;
//   - its header's alg is ES256 or RS256 (never "none", never HS*: an HMAC "signed" with
//     a public key as its secret would otherwise verify), and the key it names by `kid`
//     (or the set's only key, when the token names none) is of that algorithm's type;
//   - the signature verifies with that key;
//   - iss equals the configured issuer, aud (a string or an array) contains the
//     configured audience;
//   - exp is present and later than now - leeway; nbf, when present, is earlier than
//     now + leeway;
//   - sub is a non-empty string; role is "reader", "editor" or "admin" ("service" is for
//     the suite's own certificates, never a token); councils, when present, is an array
//     of "councils/{id}" names (an editor's scope).
#ifndef SANHAK_COMMON_AUTH_JWT_VERIFIER_H_
#define SANHAK_COMMON_AUTH_JWT_VERIFIER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth/watched_file.h"
#include "common/caller.h"

namespace sanhak::auth {

// Largest token accepted, in bytes (the whole compact form).
inline constexpr size_t kMaxTokenBytes = 8 * 1024;
// Most keys a key set may hold, and most councils a token may name.
inline constexpr int kMaxKeys = 32;
inline constexpr int kMaxTokenCouncils = 64;
// Tokens whose verification is remembered (by SHA-256), until they expire or the key set
// changes.
inline constexpr size_t kMaxCachedTokens = 4096;

struct JwtOptions {
  // The JWKS file (RFC 7517): {"keys": [{"kty": "EC", "crv": "P-256", "x", "y", "kid"},
  // {"kty": "RSA", "n", "e", "kid"}, ...]}. Private members, if any, are ignored.
  std::string keys_path;
  std::string issuer;
  std::string audience;
  // Clock difference tolerated on exp and nbf.
  absl::Duration leeway = absl::Seconds(60);
  // How often the key set file is looked at for changes.
  absl::Duration reload_interval = absl::Seconds(1);
};

// What a verified token says.
struct VerifiedToken {
  std::string issuer;
  std::string subject;
  Role role = Role::kNone;
  std::vector<std::string> councils;
  absl::Time expires;
  // "jwt:" + issuer + "#" + subject: the caller's principal.
  std::string principal() const;
};

// The PEM (SubjectPublicKeyInfo) of one JWK given as JSON, with its kid and the alg it
// serves ("ES256" or "RS256"). Exposed for tests.
struct PublicKey {
  std::string kid;
  std::string alg;
  std::string pem;
};
absl::StatusOr<PublicKey> JwkToPublicKey(absl::string_view jwk_json);

class JwtVerifier {
 public:
  // Reads the key set once; an unreadable or empty set is an error here (a server that
  // cannot verify any token should not start), later only logged.
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(JwtOptions options);

  // UNAUTHENTICATED with the reason ("token expired", "token signature does not
  // verify", ...) unless every check above holds at `now`.
  absl::StatusOr<VerifiedToken> Verify(absl::string_view token, absl::Time now = absl::Now());

  // Keys held now (after the last reload).
  int key_count();

 private:
  explicit JwtVerifier(JwtOptions options);
  // A token verified before: its claims, its nbf, and the key set that verified it.
  struct CachedToken {
    VerifiedToken token;
    std::optional<absl::Time> not_before;
    std::shared_ptr<const std::vector<PublicKey>> keys;
  };
  // Every check, the signature included; fills `extra`'s nbf and keys.
  absl::StatusOr<VerifiedToken> VerifyUncached(absl::string_view token, absl::Time now,
                                               CachedToken& extra);
  // Looks for a changed key set file and loads it; keeps the old set on failure.
  absl::Status MaybeReload(absl::Time now);

  const JwtOptions options_;
  WatchedFile file_;
  absl::Mutex mu_;
  std::shared_ptr<const std::vector<PublicKey>> keys_ ABSL_GUARDED_BY(mu_);
  // By the token's SHA-256.
  absl::flat_hash_map<std::string, CachedToken> verified_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sanhak::auth

#endif  // SANHAK_COMMON_AUTH_JWT_VERIFIER_H_
