// Signing keys and tokens for the tests: EC P-256 and RSA-2048 keys made with OpenSSL,
// their public halves as JWKs, tokens signed with libjwt (as an issuer would), and
// hand-made tokens an attacker would send (alg none, HS256 keyed with the public key).
#ifndef SANHAK_TESTS_SUPPORT_JWT_TEST_KEYS_H_
#define SANHAK_TESTS_SUPPORT_JWT_TEST_KEYS_H_

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sanhak::auth::testing {

struct TestKey {
  std::string kid;
  std::string alg;          // "ES256" or "RS256"
  std::string private_pem;  // PKCS#8
  std::string public_pem;   // SubjectPublicKeyInfo
  std::string jwk;          // the public JWK, JSON
};

TestKey MakeEcKey(const std::string& kid);
TestKey MakeRsaKey(const std::string& kid);

// {"keys": [jwk, ...]}
std::string KeySet(const std::vector<TestKey>& keys);

struct Claims {
  std::string iss = "https://issuer.test";
  std::string aud = "sanhak";
  // When set, the aud claim as raw JSON (an array) instead of `aud`.
  std::string aud_json;
  std::string sub = "alice";
  std::string role = "reader";
  std::vector<std::string> councils;
  absl::Time exp = absl::Now() + absl::Hours(1);
  absl::Time nbf = absl::InfinitePast();  // InfinitePast: no nbf claim
  bool with_exp = true;
  bool with_kid = true;
};

// Signed with `key` by libjwt; header {"alg", "typ": "JWT", "kid"}.
std::string SignToken(const TestKey& key, const Claims& claims);

// The claims as JSON (what SignToken signs).
std::string ClaimsJson(const Claims& claims);

// header.payload.signature from raw parts (base64url-encoded here).
std::string RawToken(const std::string& header_json, const std::string& payload_json,
                     const std::string& signature);

// HMAC-SHA256 of `data` keyed with `secret`.
std::string HmacSha256(const std::string& secret, const std::string& data);

std::string Base64Url(const std::string& bytes);

}  // namespace sanhak::auth::testing

#endif  // SANHAK_TESTS_SUPPORT_JWT_TEST_KEYS_H_
