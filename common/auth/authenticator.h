// Who is calling, established for every call on a TLS server before any handler runs,
// and the method-level policy gRPC's own engine enforces.
//
// Authentication (an AuthMetadataProcessor on the server's TLS credentials, run by
// gRPC's server auth filter on each call's initial metadata):
//   - a client certificate (verified by the TLS handshake against --tls_ca): the
//     principal is its URI SAN, else its DNS SAN; role and council scope come from the
//     policy file (access_policy.h); a certificate the policy names nowhere is refused
//     with PERMISSION_DENIED;
//   - else an `authorization: Bearer <JWT>` header (jwt_verifier.h): principal
//     "jwt:{iss}#{sub}", role and councils from its claims; a bad token (expired,
//     forged, wrong issuer or audience, ...) is refused with UNAUTHENTICATED;
//   - neither: UNAUTHENTICATED. Both at once: UNAUTHENTICATED (one identity per call).
//   - a `sanhak-role` header (the policy's rules for token callers match it) must be
//     exactly the role established above, else PERMISSION_DENIED.
// The token is consumed: handlers and interceptors never see it.
//
// One connection, one identity. gRPC 1.51 hands the processor the *connection's*
// AuthContext (server_auth_filter: every call's context is a reference to the one the
// handshake made), so properties set for one call are seen by every later call on the
// same connection, and AuthContext can neither remove nor replace a property. The
// caller.h properties are therefore set once, by the first call on a connection; every
// later call is authenticated again (its token verified again: expiry is checked on
// every call) and must come out as the same principal, role and scope, or it is refused
// with UNAUTHENTICATED asking for a new connection. This also covers an operator's
// change to a certificate principal's role in the policy file: calls on connections
// made before it are refused (not served with the old role) until the client
// reconnects (every connection is closed after ServerOptions::max_connection_age).
//
// Authorization: gRPC's FileWatcherAuthorizationPolicyProvider over the same policy
// file, re-read every reload interval (whole seconds, at least 1). The engine sees the
// certificate's SANs and the request headers; see access_policy.h for how token callers
// are matched. The edge check in common/parsed_call.h then names the missing role.
#ifndef SANHAK_COMMON_AUTH_AUTHENTICATOR_H_
#define SANHAK_COMMON_AUTH_AUTHENTICATOR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth/access_policy.h"
#include "common/auth/jwt_verifier.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace sanhak::auth {

struct AuthOptions {
  // The gRPC authorization policy file (--authz_policy). Required on a TLS server.
  std::string policy_path;
  // The JWKS file (--jwt_keys); empty: no bearer tokens are accepted.
  std::string jwt_keys_path;
  std::string jwt_issuer;    // --jwt_issuer
  std::string jwt_audience;  // --jwt_audience
  absl::Duration jwt_leeway = absl::Seconds(60);
  // How often the policy and key files are looked at for changes (gRPC's provider
  // rounds it up to whole seconds).
  absl::Duration reload_interval = absl::Seconds(1);
};

class Authenticator final : public grpc::AuthMetadataProcessor {
 public:
  // Reads the policy (and the key set, when configured); errors name the file at fault.
  static absl::StatusOr<std::shared_ptr<Authenticator>> Create(const AuthOptions& options);

  // Verification is a few microseconds of ECDSA/RSA and at most one stat() a second per
  // file: run in gRPC's own thread rather than handed to its blocking-processor pool.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  Authenticator(std::unique_ptr<AccessPolicy> policy, std::unique_ptr<JwtVerifier> verifier)
      : policy_(std::move(policy)), verifier_(std::move(verifier)) {}

  const std::unique_ptr<AccessPolicy> policy_;
  const std::unique_ptr<JwtVerifier> verifier_;  // null: no tokens
  // Serializes the first-call write and later reads of the connections' AuthContexts
  // (AuthContext is not thread-safe; calls on one connection run concurrently).
  absl::Mutex connections_mu_;
};

// What a TLS server calls once, before BuildAndStart: puts the Authenticator on
// `credentials` and gRPC's file-watching policy provider on `builder`.
absl::Status InstallAuthentication(const AuthOptions& options,
                                   grpc::ServerCredentials* credentials,
                                   grpc::ServerBuilder* builder);

}  // namespace sanhak::auth

#endif  // SANHAK_COMMON_AUTH_AUTHENTICATOR_H_
