// Bearer tokens: what is accepted and everything that must not be (common/auth/jwt_verifier.h).
#include "common/auth/jwt_verifier.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/jwt_test_keys.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certs.h"

namespace sanhak::auth {
namespace {

using ::sanhak::auth::testing::Claims;
using ::sanhak::auth::testing::TestKey;
using ::testing::HasSubstr;

class JwtVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ec_ = new TestKey(testing::MakeEcKey("ec-1"));
    rsa_ = new TestKey(testing::MakeRsaKey("rsa-1"));
    other_ec_ = new TestKey(testing::MakeEcKey("ec-1"));  // same kid, other key
  }

  void SetUp() override {
    keys_path_ = dir_.File("jwks.json");
    WriteKeys({*ec_, *rsa_});
    JwtOptions options;
    options.keys_path = keys_path_;
    options.issuer = "https://issuer.test";
    options.audience = "sanhak";
    options.reload_interval = absl::ZeroDuration();
    auto made = JwtVerifier::Create(options);
    ASSERT_TRUE(made.ok()) << made.status();
    verifier_ = *std::move(made);
  }

  void WriteKeys(const std::vector<TestKey>& keys) {
    ASSERT_TRUE(sanhak::testing::WriteFileAtomically(keys_path_, testing::KeySet(keys)).ok());
  }

  // The refusal's message, or "accepted".
  std::string Refusal(const std::string& token) {
    absl::StatusOr<VerifiedToken> verified = verifier_->Verify(token);
    if (verified.ok()) return "accepted";
    EXPECT_EQ(verified.status().code(), absl::StatusCode::kUnauthenticated);
    return std::string(verified.status().message());
  }

  static TestKey* ec_;
  static TestKey* rsa_;
  static TestKey* other_ec_;
  sanhak::testing::TempDir dir_{"jwt"};
  std::string keys_path_;
  std::unique_ptr<JwtVerifier> verifier_;
};

TestKey* JwtVerifierTest::ec_ = nullptr;
TestKey* JwtVerifierTest::rsa_ = nullptr;
TestKey* JwtVerifierTest::other_ec_ = nullptr;

TEST_F(JwtVerifierTest, AcceptsEs256AndRs256WithTheirClaims) {
  Claims claims;
  claims.sub = "kim";
  claims.role = "editor";
  claims.councils = {"councils/a", "councils/b"};
  for (const TestKey* key : {ec_, rsa_}) {
    absl::StatusOr<VerifiedToken> verified = verifier_->Verify(testing::SignToken(*key, claims));
    ASSERT_TRUE(verified.ok()) << key->alg << ": " << verified.status();
    EXPECT_EQ(verified->principal(), "jwt:https://issuer.test#kim");
    EXPECT_EQ(verified->role, Role::kEditor);
    EXPECT_THAT(verified->councils, ::testing::ElementsAre("councils/a", "councils/b"));
  }
}

TEST_F(JwtVerifierTest, AudienceMayBeAnArray) {
  Claims claims;
  claims.aud_json = "[\"other\",\"sanhak\"]";
  EXPECT_EQ(Refusal(testing::SignToken(*ec_, claims)), "accepted");
  claims.aud_json = "[\"other\",\"third\"]";
  EXPECT_THAT(Refusal(testing::SignToken(*ec_, claims)), HasSubstr("audience"));
}

TEST_F(JwtVerifierTest, RefusesExpiredAndNotYetValid) {
  Claims expired;
  expired.exp = absl::Now() - absl::Minutes(5);  // beyond the 60 s leeway
  EXPECT_THAT(Refusal(testing::SignToken(*ec_, expired)), HasSubstr("expired"));
  Claims within_leeway;
  within_leeway.exp = absl::Now() - absl::Seconds(10);
  EXPECT_EQ(Refusal(testing::SignToken(*ec_, within_leeway)), "accepted");
  Claims no_exp;
  no_exp.with_exp = false;
  EXPECT_THAT(Refusal(testing::SignToken(*ec_, no_exp)), HasSubstr("no expiry"));
  Claims early;
  early.nbf = absl::Now() + absl::Minutes(10);
  EXPECT_THAT(Refusal(testing::SignToken(*rsa_, early)), HasSubstr("not valid yet"));
}

TEST_F(JwtVerifierTest, RefusesForgedSignatures) {
  const std::string good = testing::SignToken(*ec_, Claims{});
  ASSERT_EQ(Refusal(good), "accepted");
  // The same kid, signed by a key not in the set.
  EXPECT_THAT(Refusal(testing::SignToken(*other_ec_, Claims{})), HasSubstr("signature"));
  // Claims changed after signing: an admin role grafted onto a reader's token.
  Claims admin;
  admin.role = "admin";
  const std::string forged_payload =
      testing::Base64Url(testing::ClaimsJson(admin));
  const size_t first = good.find('.');
  const size_t second = good.find('.', first + 1);
  const std::string grafted =
      absl::StrCat(good.substr(0, first), ".", forged_payload, good.substr(second));
  EXPECT_THAT(Refusal(grafted), HasSubstr("signature"));
  // A signature cut short.
  EXPECT_THAT(Refusal(good.substr(0, good.size() - 4)), HasSubstr("signature"));
}

TEST_F(JwtVerifierTest, RefusesUnknownKidAndMismatchedKeyType) {
  TestKey stranger = testing::MakeEcKey("nobody");
  EXPECT_THAT(Refusal(testing::SignToken(stranger, Claims{})), HasSubstr("not in the key set"));
  // An RS256 token naming the EC key.
  TestKey rsa_as_ec = testing::MakeRsaKey("ec-1");
  EXPECT_THAT(Refusal(testing::SignToken(rsa_as_ec, Claims{})), HasSubstr("for ES256"));
  // No kid with two keys in the set.
  Claims no_kid;
  no_kid.with_kid = false;
  EXPECT_THAT(Refusal(testing::SignToken(*ec_, no_kid)), HasSubstr("names no key"));
}

TEST_F(JwtVerifierTest, RefusesAlgNoneAndHmacKeyedWithThePublicKey) {
  const std::string claims = testing::ClaimsJson(Claims{});
  EXPECT_THAT(Refusal(testing::RawToken("{\"alg\":\"none\",\"kid\":\"ec-1\"}", claims, "")),
              HasSubstr("not a signed JWT"));
  EXPECT_THAT(Refusal(testing::RawToken("{\"alg\":\"none\",\"kid\":\"ec-1\"}", claims, "x")),
              HasSubstr("alg \"none\""));
  // The classic confusion: HS256 with the verifier's public key (which anyone has) as
  // the HMAC secret.
  for (const TestKey* key : {ec_, rsa_}) {
    const std::string header =
        absl::StrCat("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"", key->kid, "\"}");
    const std::string signing_input =
        absl::StrCat(testing::Base64Url(header), ".", testing::Base64Url(claims));
    const std::string token = absl::StrCat(
        signing_input, ".",
        testing::Base64Url(testing::HmacSha256(key->public_pem, signing_input)));
    EXPECT_THAT(Refusal(token), HasSubstr("alg \"HS256\""));
  }
}

TEST_F(JwtVerifierTest, RefusesWrongIssuerAudienceRoleAndOversized) {
  Claims issuer;
  issuer.iss = "https://evil.test";
  EXPECT_THAT(Refusal(testing::SignToken(*ec_, issuer)), HasSubstr("issuer"));
  Claims audience;
  audience.aud = "another-api";
  EXPECT_THAT(Refusal(testing::SignToken(*ec_, audience)), HasSubstr("audience"));
  Claims service;
  service.role = "service";
  EXPECT_THAT(Refusal(testing::SignToken(*ec_, service)), HasSubstr("role"));
  Claims bad_council;
  bad_council.councils = {"organizations/x"};
  EXPECT_THAT(Refusal(testing::SignToken(*ec_, bad_council)), HasSubstr("councils"));
  Claims huge;
  huge.sub = std::string(9000, 'a');
  EXPECT_THAT(Refusal(testing::SignToken(*ec_, huge)), HasSubstr("longer than 8192"));
  EXPECT_THAT(Refusal("not-a-token"), HasSubstr("not a signed JWT"));
}

TEST_F(JwtVerifierTest, KeySetRotationTakesEffectWithoutRestart) {
  TestKey next = testing::MakeEcKey("ec-2");
  const std::string with_next = testing::SignToken(next, Claims{});
  const std::string with_old = testing::SignToken(*ec_, Claims{});
  EXPECT_THAT(Refusal(with_next), HasSubstr("not in the key set"));
  // Publish the new key beside the old, then drop the old.
  WriteKeys({*ec_, next});
  EXPECT_EQ(Refusal(with_next), "accepted");
  EXPECT_EQ(Refusal(with_old), "accepted");
  WriteKeys({next});
  EXPECT_EQ(Refusal(with_next), "accepted");
  EXPECT_THAT(Refusal(with_old), HasSubstr("not in the key set"));
  // A broken file is not taken: the keys read before stay.
  ASSERT_TRUE(sanhak::testing::WriteFileAtomically(keys_path_, "{\"keys\": [").ok());
  EXPECT_EQ(Refusal(with_next), "accepted");
  EXPECT_EQ(verifier_->key_count(), 1);
}

// A token verified once is remembered (its signature is not checked again on every call),
// but its times are: it expires, and one not valid yet stays so, as if never seen.
TEST_F(JwtVerifierTest, ARememberedTokenStillExpiresAndStillWaitsForItsNbf) {
  const absl::Time now = absl::Now();
  Claims claims;
  claims.exp = now + absl::Minutes(10);
  const std::string token = testing::SignToken(*ec_, claims);
  ASSERT_TRUE(verifier_->Verify(token, now).ok());
  ASSERT_TRUE(verifier_->Verify(token, now + absl::Minutes(5)).ok());
  absl::StatusOr<VerifiedToken> late = verifier_->Verify(token, now + absl::Minutes(12));
  ASSERT_FALSE(late.ok());
  EXPECT_THAT(late.status().message(), HasSubstr("expired"));

  Claims early;
  early.nbf = now;
  const std::string waiting = testing::SignToken(*ec_, early);
  ASSERT_TRUE(verifier_->Verify(waiting, now).ok());
  absl::StatusOr<VerifiedToken> before = verifier_->Verify(waiting, now - absl::Minutes(5));
  ASSERT_FALSE(before.ok());
  EXPECT_THAT(before.status().message(), HasSubstr("not valid yet"));
}

TEST(JwkToPublicKeyTest, RefusesBadKeys) {
  EXPECT_FALSE(JwkToPublicKey("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}").ok());
  EXPECT_FALSE(JwkToPublicKey("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}").ok());
  // A point not on the curve.
  const std::string zeros = testing::Base64Url(std::string(32, '\1'));
  EXPECT_FALSE(JwkToPublicKey(absl::StrCat("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"", zeros,
                                           "\",\"y\":\"", zeros, "\"}"))
                   .ok());
  // A 512-bit RSA modulus.
  EXPECT_FALSE(JwkToPublicKey(absl::StrCat("{\"kty\":\"RSA\",\"n\":\"",
                                           testing::Base64Url(std::string(64, '\xff')),
                                           "\",\"e\":\"AQAB\"}"))
                   .ok());
  TestKey ec = testing::MakeEcKey("k");
  absl::StatusOr<PublicKey> key = JwkToPublicKey(ec.jwk);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->pem, ec.public_pem);
  EXPECT_EQ(key->alg, "ES256");
}

}  // namespace
}  // namespace sanhak::auth
