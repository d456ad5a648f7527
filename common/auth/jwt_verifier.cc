#include "common/auth/jwt_verifier.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <cmath>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sanhak::auth {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("bearer token refused: ", why));
}

absl::StatusOr<Struct> ParseObject(absl::string_view json) {
  Struct object;
  google::protobuf::util::JsonParseOptions options;
  if (!google::protobuf::util::JsonStringToMessage(std::string(json), &object, options).ok()) {
    return absl::InvalidArgumentError("not a JSON object");
  }
  return object;
}

const Value* Field(const Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

// The string member `name`, or "" when absent or not a string.
std::string StringField(const Struct& object, const std::string& name) {
  const Value* value = Field(object, name);
  return value != nullptr && value->kind_case() == Value::kStringValue ? value->string_value()
                                                                       : "";
}

absl::StatusOr<std::string> Base64UrlBytes(const Struct& jwk, const std::string& name) {
  std::string decoded;
  const std::string encoded = StringField(jwk, name);
  if (encoded.empty() || !absl::WebSafeBase64Unescape(encoded, &decoded) || decoded.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("member \"", name, "\" is not base64url"));
  }
  return decoded;
}

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

// The SubjectPublicKeyInfo PEM of the public key `type` ("EC" or "RSA") built from
// OpenSSL 3 parameters.
absl::StatusOr<std::string> PemFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return absl::InvalidArgumentError("the key's parameters are not a valid public key");
  }
  std::unique_ptr<EVP_PKEY, PkeyFree> key(raw);
  if (std::string(type) == "EC") {
    // EVP_PKEY_fromdata does not check that the point is on the curve.
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new(key.get(), nullptr));
    if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
      return absl::InvalidArgumentError("the EC point is not on P-256");
    }
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    return absl::InternalError("cannot write the key as PEM");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::StatusOr<std::string> EcPem(const Struct& jwk) {
  if (StringField(jwk, "crv") != "P-256") {
    return absl::InvalidArgumentError("an EC key must be on crv P-256 (ES256)");
  }
  absl::StatusOr<std::string> x = Base64UrlBytes(jwk, "x");
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y = Base64UrlBytes(jwk, "y");
  if (!y.ok()) return y.status();
  if (x->size() != 32 || y->size() != 32) {
    return absl::InvalidArgumentError("a P-256 key's x and y are 32 bytes each");
  }
  const std::string point = absl::StrCat("\x04", *x, *y);
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return absl::InternalError("cannot build EC parameters");
  }
  return PemFromParams("EC", bld.get());
}

absl::StatusOr<std::string> RsaPem(const Struct& jwk) {
  absl::StatusOr<std::string> n = Base64UrlBytes(jwk, "n");
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> e = Base64UrlBytes(jwk, "e");
  if (!e.ok()) return e.status();
  // RS256 with less than 2048 bits is not worth verifying; more than 8192 is not a key
  // anyone issues tokens with, and would make every verification slow.
  if (n->size() < 256 || n->size() > 1024 || e->size() > 8) {
    return absl::InvalidArgumentError("an RSA key's modulus must be 2048 to 8192 bits");
  }
  auto to_bn = [](const std::string& bytes) {
    return std::unique_ptr<BIGNUM, BnFree>(BN_bin2bn(
        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()),
        nullptr));
  };
  std::unique_ptr<BIGNUM, BnFree> bn_n = to_bn(*n);
  std::unique_ptr<BIGNUM, BnFree> bn_e = to_bn(*e);
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (bn_n == nullptr || bn_e == nullptr || bld == nullptr ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return absl::InternalError("cannot build RSA parameters");
  }
  return PemFromParams("RSA", bld.get());
}

absl::StatusOr<PublicKey> KeyFromJwk(const Struct& jwk) {
  PublicKey key;
  key.kid = StringField(jwk, "kid");
  const std::string kty = StringField(jwk, "kty");
  const std::string alg = StringField(jwk, "alg");
  const std::string use = StringField(jwk, "use");
  if (!use.empty() && use != "sig") {
    return absl::InvalidArgumentError(absl::StrCat("key use \"", use, "\" is not \"sig\""));
  }
  absl::StatusOr<std::string> pem;
  if (kty == "EC") {
    key.alg = "ES256";
    pem = EcPem(jwk);
  } else if (kty == "RSA") {
    key.alg = "RS256";
    pem = RsaPem(jwk);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("key type \"", kty, "\" is neither EC nor RSA"));
  }
  if (!alg.empty() && alg != key.alg) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", kty, " key's alg must be ", key.alg, ", not ", alg));
  }
  if (!pem.ok()) return pem.status();
  key.pem = *std::move(pem);
  return key;
}

absl::StatusOr<std::vector<PublicKey>> ParseKeySet(absl::string_view json) {
  absl::StatusOr<Struct> set = ParseObject(json);
  if (!set.ok()) return absl::InvalidArgumentError("the key set is not a JSON object");
  const Value* keys = Field(*set, "keys");
  if (keys == nullptr || keys->kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError("the key set has no \"keys\" array");
  }
  if (keys->list_value().values_size() == 0 || keys->list_value().values_size() > kMaxKeys) {
    return absl::InvalidArgumentError(absl::StrCat("the key set must hold 1 to ", kMaxKeys, " keys"));
  }
  std::vector<PublicKey> out;
  for (int i = 0; i < keys->list_value().values_size(); ++i) {
    const Value& entry = keys->list_value().values(i);
    if (entry.kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError(absl::StrCat("keys[", i, "] is not an object"));
    }
    absl::StatusOr<PublicKey> key = KeyFromJwk(entry.struct_value());
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("keys[", i, "]: ", key.status().message()));
    }
    for (const PublicKey& other : out) {
      if (other.kid == key->kid) {
        return absl::InvalidArgumentError(
            absl::StrCat("keys[", i, "]: kid \"", key->kid, "\" is used twice"));
      }
    }
    out.push_back(*std::move(key));
  }
  return out;
}

// An exp/nbf claim: a JSON number of seconds since the epoch.
std::optional<absl::Time> TimeClaim(const Struct& claims, const std::string& name) {
  const Value* value = Field(claims, name);
  if (value == nullptr || value->kind_case() != Value::kNumberValue) return std::nullopt;
  const double seconds = value->number_value();
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e11) return std::nullopt;
  return absl::FromUnixSeconds(static_cast<int64_t>(seconds));
}

struct JwtFree {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};

}  // namespace

std::string VerifiedToken::principal() const {
  return absl::StrCat("jwt:", issuer, "#", subject);
}

absl::StatusOr<PublicKey> JwkToPublicKey(absl::string_view jwk_json) {
  absl::StatusOr<Struct> jwk = ParseObject(jwk_json);
  if (!jwk.ok()) return jwk.status();
  return KeyFromJwk(*jwk);
}

JwtVerifier::JwtVerifier(JwtOptions options)
    : options_(std::move(options)), file_(options_.keys_path, options_.reload_interval) {}

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(JwtOptions options) {
  if (options.issuer.empty() || options.audience.empty()) {
    return absl::InvalidArgumentError(
        "verifying bearer tokens needs --jwt_issuer and --jwt_audience");
  }
  std::unique_ptr<JwtVerifier> verifier(new JwtVerifier(std::move(options)));
  absl::Status loaded = verifier->MaybeReload(absl::Now());
  if (!loaded.ok()) return loaded;
  return verifier;
}

absl::Status JwtVerifier::MaybeReload(absl::Time now) {
  absl::StatusOr<std::optional<std::string>> contents = file_.Poll(now);
  if (!contents.ok()) return contents.status();
  if (!contents->has_value()) return absl::OkStatus();
  absl::StatusOr<std::vector<PublicKey>> keys = ParseKeySet(**contents);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.keys_path, ": ", keys.status().message()));
  }
  auto shared = std::make_shared<const std::vector<PublicKey>>(*std::move(keys));
  absl::MutexLock lock(&mu_);
  const bool first = keys_ == nullptr;
  keys_ = std::move(shared);
  if (!first) {
    Log(LogLevel::kInfo, "jwt key set reloaded",
        {{"path", options_.keys_path}, {"keys", int64_t{static_cast<int64_t>(keys_->size())}}});
  }
  return absl::OkStatus();
}

int JwtVerifier::key_count() {
  absl::MutexLock lock(&mu_);
  return keys_ == nullptr ? 0 : static_cast<int>(keys_->size());
}

absl::StatusOr<VerifiedToken> JwtVerifier::Verify(absl::string_view token, absl::Time now) {
  if (absl::Status reloaded = MaybeReload(now); !reloaded.ok()) {
    // The keys read before stay in force; the operator sees why the new file was not taken.
    Log(LogLevel::kWarning, "jwt key set not reloaded",
        {{"path", options_.keys_path}, {"error", std::string(reloaded.message())}});
  }
  if (token.size() > kMaxTokenBytes) {
    return Unauthenticated(absl::StrCat("longer than ", kMaxTokenBytes, " bytes"));
  }
  // A token verified before under the same key set needs only its times checked again:
  // libjwt re-reads the key's PEM and OpenSSL 3 rebuilds its decoders on every
  // verification (about 1 ms of CPU a call, bench/ EmptyToken), while a client sends the
  // same token on every call of a connection.
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  const std::string key(reinterpret_cast<const char*>(digest), sizeof(digest));
  {
    absl::MutexLock lock(&mu_);
    auto it = verified_.find(key);
    if (it != verified_.end() && it->second.keys == keys_) {
      const CachedToken& cached = it->second;
      if (cached.token.expires + options_.leeway <= now) {
        verified_.erase(it);
        return Unauthenticated("expired (exp)");
      }
      if (cached.not_before.has_value() && *cached.not_before - options_.leeway > now) {
        return Unauthenticated("not valid yet (nbf)");
      }
      return cached.token;
    }
  }
  CachedToken fresh;
  absl::StatusOr<VerifiedToken> verified = VerifyUncached(token, now, fresh);
  if (!verified.ok()) return verified.status();
  fresh.token = *verified;
  absl::MutexLock lock(&mu_);
  // Bounded: when full, start over (a burst of new tokens costs one verification each,
  // as without the cache).
  if (verified_.size() >= kMaxCachedTokens) verified_.clear();
  verified_[key] = std::move(fresh);
  return verified;
}

absl::StatusOr<VerifiedToken> JwtVerifier::VerifyUncached(absl::string_view token, absl::Time now,
                                                          CachedToken& extra) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
    return Unauthenticated("not a signed JWT (header.payload.signature)");
  }
  std::string header_json;
  std::string payload_json;
  if (!absl::WebSafeBase64Unescape(parts[0], &header_json) ||
      !absl::WebSafeBase64Unescape(parts[1], &payload_json)) {
    return Unauthenticated("not base64url");
  }
  absl::StatusOr<Struct> header = ParseObject(header_json);
  if (!header.ok()) return Unauthenticated("its header is not a JSON object");
  const std::string alg = StringField(*header, "alg");
  if (alg != "ES256" && alg != "RS256") {
    return Unauthenticated(absl::StrCat("alg \"", alg.substr(0, 16),
                                        "\" is not accepted (ES256 or RS256 only)"));
  }
  std::shared_ptr<const std::vector<PublicKey>> keys;
  {
    absl::MutexLock lock(&mu_);
    keys = keys_;
  }
  extra.keys = keys;
  const PublicKey* key = nullptr;
  const Value* kid = Field(*header, "kid");
  if (kid == nullptr) {
    if (keys->size() != 1) return Unauthenticated("it names no key (kid) and the set holds several");
    key = &keys->front();
  } else {
    for (const PublicKey& candidate : *keys) {
      if (kid->kind_case() == Value::kStringValue && candidate.kid == kid->string_value()) {
        key = &candidate;
      }
    }
    if (key == nullptr) return Unauthenticated("its key (kid) is not in the key set");
  }
  if (key->alg != alg) {
    return Unauthenticated(absl::StrCat("its key is for ", key->alg, ", the token says ", alg));
  }
  jwt_t* raw = nullptr;
  const std::string token_copy(token);
  const int decoded =
      jwt_decode(&raw, token_copy.c_str(), reinterpret_cast<const unsigned char*>(key->pem.data()),
                 static_cast<int>(key->pem.size()));
  std::unique_ptr<jwt_t, JwtFree> jwt(raw);
  if (decoded != 0 || jwt == nullptr) return Unauthenticated("its signature does not verify");
  // libjwt chose the algorithm from the same header; make sure it is the one checked.
  if (std::string(jwt_alg_str(jwt_get_alg(jwt.get()))) != alg) {
    return Unauthenticated("its signature does not verify");
  }

  // The payload's bytes are the ones the signature covers.
  absl::StatusOr<Struct> claims = ParseObject(payload_json);
  if (!claims.ok()) return Unauthenticated("its claims are not a JSON object");
  VerifiedToken out;
  out.issuer = StringField(*claims, "iss");
  if (out.issuer != options_.issuer) return Unauthenticated("wrong issuer (iss)");
  bool audience = false;
  if (const Value* aud = Field(*claims, "aud"); aud != nullptr) {
    if (aud->kind_case() == Value::kStringValue) {
      audience = aud->string_value() == options_.audience;
    } else if (aud->kind_case() == Value::kListValue) {
      for (const Value& one : aud->list_value().values()) {
        audience = audience || (one.kind_case() == Value::kStringValue &&
                                one.string_value() == options_.audience);
      }
    }
  }
  if (!audience) return Unauthenticated("not meant for this audience (aud)");
  std::optional<absl::Time> exp = TimeClaim(*claims, "exp");
  if (!exp.has_value()) return Unauthenticated("it has no expiry (exp)");
  if (*exp + options_.leeway <= now) return Unauthenticated("expired (exp)");
  if (Field(*claims, "nbf") != nullptr) {
    std::optional<absl::Time> nbf = TimeClaim(*claims, "nbf");
    if (!nbf.has_value()) return Unauthenticated("its nbf is not a time");
    if (*nbf - options_.leeway > now) return Unauthenticated("not valid yet (nbf)");
    extra.not_before = nbf;
  }
  out.expires = *exp;
  out.subject = StringField(*claims, "sub");
  if (out.subject.empty() || out.subject.size() > 256) {
    return Unauthenticated("its subject (sub) is missing or longer than 256 bytes");
  }
  const std::string role = StringField(*claims, "role");
  out.role = RoleFromName(role);
  if (out.role != Role::kReader && out.role != Role::kEditor && out.role != Role::kAdmin) {
    return Unauthenticated("its role is not reader, editor or admin");
  }
  if (const Value* councils = Field(*claims, "councils"); councils != nullptr) {
    if (councils->kind_case() != Value::kListValue ||
        councils->list_value().values_size() > kMaxTokenCouncils) {
      return Unauthenticated(
          absl::StrCat("its councils claim is not an array of at most ", kMaxTokenCouncils));
    }
    for (const Value& council : councils->list_value().values()) {
      if (council.kind_case() != Value::kStringValue ||
          !absl::StartsWith(council.string_value(), "councils/") ||
          council.string_value().size() <= 9 || council.string_value().size() > 128) {
        return Unauthenticated("its councils claim holds something that is not councils/{id}");
      }
      out.councils.push_back(council.string_value());
    }
  }
  return out;
}

}  // namespace sanhak::auth
