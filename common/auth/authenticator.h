// Who is calling, and whether it may call the method: both decided for every call on a
// TLS server before any handler runs, by one grpc::AuthMetadataProcessor that gRPC's server
// auth filter runs on each call's initial metadata (it sees :path and every header).
//
// Authentication:
//   - a client certificate (verified by the TLS handshake against --tls_ca): the
//     principal is its URI SAN, else its DNS SAN; role and council scope come from the
//     policy file's role grants (access_policy.h); a certificate no grant names is refused
//     with PERMISSION_DENIED;
//   - else an `authorization: Bearer <JWT>` header (jwt_verifier.h): principal
//     "jwt:{iss}#{sub}", role and councils from its claims; a bad token (expired,
//     forged, wrong issuer or audience, ...) is refused with UNAUTHENTICATED;
//   - neither: UNAUTHENTICATED. Both at once: UNAUTHENTICATED (one identity per call).
//   - a `sanhak-role` header, when the client sends one, must be exactly the role
//     established above, else PERMISSION_DENIED.
// The token is consumed: handlers, interceptors and the policy never see it.
//
// Authorization: the method-level rules of the policy file (--authz_policy), in gRPC's
// authorization policy format, evaluated here with gRPC's semantics (deny rules first,
// then allow rules, else denied; access_policy.h says exactly what is matched). Here and
// not by gRPC's own engine because Debian's gRPC 1.51 does not ship it: libgrpc++ has
// ServerBuilder::experimental().SetAuthorizationPolicyProvider, but no policy provider to
// give it (FileWatcherAuthorizationPolicyProvider, StaticDataAuthorizationPolicyProvider and
// the C grpc_authorization_policy_provider_*_create functions are not exported). A call
// the policy refuses gets PERMISSION_DENIED naming the method, the caller and role, and the
// deny rule when one refused it. The file is looked at again every reload interval and
// re-read when it changed; a new version that cannot be read or parsed is logged and the
// rules read before stay in force. Each call is decided by one version of the file.
// Then the edge check in common/parsed_call.h applies the roles table of method_roles.h
// (a second gate against a policy that grants too much) and names the missing role.
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
// Changes to what a role may call apply to every connection at once.
#ifndef SANHAK_COMMON_AUTH_AUTHENTICATOR_H_
#define SANHAK_COMMON_AUTH_AUTHENTICATOR_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth/access_policy.h"
#include "common/auth/jwt_verifier.h"
#include "common/caller.h"
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
  // How often the policy and key files are looked at for changes.
  absl::Duration reload_interval = absl::Seconds(1);
  // Told of every call from an authenticated caller that the policy refuses
  // (PERMISSION_DENIED), with the call's path ("/pkg.Service/Method"): the services
  // record refused writes in their audit trail here, since such a call never reaches a
  // handler. Runs on gRPC's thread before the refusal is sent: must not block.
  std::function<void(const Caller& caller, absl::string_view path, const absl::Status& status)>
      on_policy_refusal;
};

class Authenticator final : public grpc::AuthMetadataProcessor {
 public:
  // Reads the policy (and the key set, when configured); errors name the file at fault.
  static absl::StatusOr<std::shared_ptr<Authenticator>> Create(const AuthOptions& options);

  // Verification is a few microseconds of ECDSA/RSA, the policy a few more, and at most
  // one stat() a second per file: run in gRPC's own thread rather than handed to its
  // blocking-processor pool.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  Authenticator(std::unique_ptr<AccessPolicy> policy, std::unique_ptr<JwtVerifier> verifier,
                decltype(AuthOptions::on_policy_refusal) on_policy_refusal)
      : policy_(std::move(policy)),
        verifier_(std::move(verifier)),
        on_policy_refusal_(std::move(on_policy_refusal)) {}

  const std::unique_ptr<AccessPolicy> policy_;
  const std::unique_ptr<JwtVerifier> verifier_;  // null: no tokens
  const decltype(AuthOptions::on_policy_refusal) on_policy_refusal_;
  // Serializes the first-call write and later reads of the connections' AuthContexts
  // (AuthContext is not thread-safe; calls on one connection run concurrently).
  absl::Mutex connections_mu_;
};

// What a TLS server calls once, before BuildAndStart: puts the Authenticator, which
// authenticates and authorizes every call, on `credentials`. `builder` is unused (kept
// for the day a gRPC with its policy provider is used; see above).
absl::Status InstallAuthentication(const AuthOptions& options,
                                   grpc::ServerCredentials* credentials,
                                   grpc::ServerBuilder* builder);

}  // namespace sanhak::auth

#endif  // SANHAK_COMMON_AUTH_AUTHENTICATOR_H_
