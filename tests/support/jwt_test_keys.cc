#include "tests/support/jwt_test_keys.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sanhak::auth::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "jwt_test_keys: %s failed\n", what);
    std::abort();
  }
}

std::string Pem(EVP_PKEY* key, bool is_private) {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(bio != nullptr, "BIO_new");
  int ok = is_private ? PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr)
                      : PEM_write_bio_PUBKEY(bio, key);
  Check(ok == 1, "PEM_write");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(size));
  BIO_free(bio);
  return out;
}

std::string BnBytes(EVP_PKEY* key, const char* name, int pad_to = 0) {
  BIGNUM* bn = nullptr;
  Check(EVP_PKEY_get_bn_param(key, name, &bn) == 1, name);
  int size = std::max(pad_to, BN_num_bytes(bn));
  std::string out(static_cast<size_t>(size), '\0');
  Check(BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), size) == size, "bn2bin");
  BN_free(bn);
  return out;
}

std::string Quote(const std::string& s) { return absl::StrCat("\"", s, "\""); }

}  // namespace

std::string Base64Url(const std::string& bytes) { return absl::WebSafeBase64Escape(bytes); }

TestKey MakeEcKey(const std::string& kid) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  Check(key != nullptr, "EC keygen");
  TestKey out;
  out.kid = kid;
  out.alg = "ES256";
  out.private_pem = Pem(key, true);
  out.public_pem = Pem(key, false);
  const std::string x = BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
  const std::string y = BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
  out.jwk = absl::StrCat("{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":", Quote(kid),
                         ",\"use\":\"sig\",\"alg\":\"ES256\",\"x\":", Quote(Base64Url(x)),
                         ",\"y\":", Quote(Base64Url(y)), "}");
  EVP_PKEY_free(key);
  return out;
}

TestKey MakeRsaKey(const std::string& kid) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  Check(key != nullptr, "RSA keygen");
  TestKey out;
  out.kid = kid;
  out.alg = "RS256";
  out.private_pem = Pem(key, true);
  out.public_pem = Pem(key, false);
  out.jwk = absl::StrCat("{\"kty\":\"RSA\",\"kid\":", Quote(kid),
                         ",\"n\":", Quote(Base64Url(BnBytes(key, OSSL_PKEY_PARAM_RSA_N))),
                         ",\"e\":", Quote(Base64Url(BnBytes(key, OSSL_PKEY_PARAM_RSA_E))), "}");
  EVP_PKEY_free(key);
  return out;
}

std::string KeySet(const std::vector<TestKey>& keys) {
  std::vector<std::string> jwks;
  for (const TestKey& key : keys) jwks.push_back(key.jwk);
  return absl::StrCat("{\"keys\":[", absl::StrJoin(jwks, ","), "]}");
}

std::string ClaimsJson(const Claims& c) {
  std::vector<std::string> fields = {
      absl::StrCat("\"iss\":", Quote(c.iss)), absl::StrCat("\"aud\":", c.aud_json.empty() ? Quote(c.aud) : c.aud_json),
      absl::StrCat("\"sub\":", Quote(c.sub)), absl::StrCat("\"role\":", Quote(c.role))};
  if (c.with_exp) fields.push_back(absl::StrCat("\"exp\":", absl::ToUnixSeconds(c.exp)));
  if (c.nbf != absl::InfinitePast()) {
    fields.push_back(absl::StrCat("\"nbf\":", absl::ToUnixSeconds(c.nbf)));
  }
  if (!c.councils.empty()) {
    std::vector<std::string> quoted;
    for (const std::string& council : c.councils) quoted.push_back(Quote(council));
    fields.push_back(absl::StrCat("\"councils\":[", absl::StrJoin(quoted, ","), "]"));
  }
  return absl::StrCat("{", absl::StrJoin(fields, ","), "}");
}

std::string SignToken(const TestKey& key, const Claims& claims) {
  jwt_t* jwt = nullptr;
  Check(jwt_new(&jwt) == 0, "jwt_new");
  Check(jwt_add_grants_json(jwt, ClaimsJson(claims).c_str()) == 0, "jwt_add_grants_json");
  if (claims.with_kid) Check(jwt_add_header(jwt, "kid", key.kid.c_str()) == 0, "kid");
  Check(jwt_set_alg(jwt, jwt_str_alg(key.alg.c_str()),
                    reinterpret_cast<const unsigned char*>(key.private_pem.data()),
                    static_cast<int>(key.private_pem.size())) == 0,
        "jwt_set_alg");
  char* encoded = jwt_encode_str(jwt);
  Check(encoded != nullptr, "jwt_encode_str");
  std::string out(encoded);
  free(encoded);
  jwt_free(jwt);
  return out;
}

std::string RawToken(const std::string& header_json, const std::string& payload_json,
                     const std::string& signature) {
  return absl::StrCat(Base64Url(header_json), ".", Base64Url(payload_json), ".",
                      Base64Url(signature));
}

std::string HmacSha256(const std::string& secret, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
  return std::string(reinterpret_cast<char*>(out), size);
}

}  // namespace sanhak::auth::testing
