#include "common/auth/authenticator.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/caller.h"
#include "grpc/grpc_security_constants.h"

namespace sanhak::auth {
namespace {

absl::string_view View(const grpc::string_ref& ref) { return {ref.data(), ref.size()}; }

// The identity one call presents.
struct Identity {
  std::string principal;
  Role role = Role::kNone;
  std::vector<std::string> councils;
  std::string authenticated_by;

  std::string Describe() const {
    std::string out = absl::StrCat(principal, " (", RoleName(role));
    if (!councils.empty()) absl::StrAppend(&out, " of ", absl::StrJoin(councils, ","));
    return absl::StrCat(out, ")");
  }
};

// The first value of property `name`, "" when none.
std::string FirstProperty(const grpc::AuthContext& context, const char* name) {
  std::vector<grpc::string_ref> values = context.FindPropertyValues(name);
  return values.empty() ? "" : std::string(View(values.front()));
}

// What the connection's AuthContext already records (set by its first call).
std::optional<Identity> Recorded(const grpc::AuthContext& context) {
  std::vector<grpc::string_ref> principal = context.FindPropertyValues(kPrincipalProperty);
  if (principal.empty()) return std::nullopt;
  Identity out;
  out.principal = std::string(View(principal.front()));
  out.role = RoleFromName(FirstProperty(context, kRoleProperty));
  for (const grpc::string_ref& council : context.FindPropertyValues(kCouncilProperty)) {
    out.councils.emplace_back(View(council));
  }
  out.authenticated_by = FirstProperty(context, kAuthenticatedByProperty);
  return out;
}

bool Same(const Identity& a, const Identity& b) {
  return a.principal == b.principal && a.role == b.role && a.councils == b.councils &&
         a.authenticated_by == b.authenticated_by;
}

grpc::Status Refuse(grpc::StatusCode code, std::string message) {
  return grpc::Status(code, std::move(message));
}

}  // namespace

absl::StatusOr<std::shared_ptr<Authenticator>> Authenticator::Create(const AuthOptions& options) {
  if (options.policy_path.empty()) {
    return absl::InvalidArgumentError(
        "a TLS server needs --authz_policy (the gRPC authorization policy file)");
  }
  absl::StatusOr<std::unique_ptr<AccessPolicy>> policy =
      AccessPolicy::Create(options.policy_path, options.reload_interval);
  if (!policy.ok()) return policy.status();
  std::unique_ptr<JwtVerifier> verifier;
  if (!options.jwt_keys_path.empty()) {
    JwtOptions jwt;
    jwt.keys_path = options.jwt_keys_path;
    jwt.issuer = options.jwt_issuer;
    jwt.audience = options.jwt_audience;
    jwt.leeway = options.jwt_leeway;
    jwt.reload_interval = options.reload_interval;
    absl::StatusOr<std::unique_ptr<JwtVerifier>> made = JwtVerifier::Create(std::move(jwt));
    if (!made.ok()) return made.status();
    verifier = *std::move(made);
  }
  return std::shared_ptr<Authenticator>(
      new Authenticator(*std::move(policy), std::move(verifier), options.on_policy_refusal));
}

grpc::Status Authenticator::Process(const InputMetadata& auth_metadata,
                                    grpc::AuthContext* context,
                                    OutputMetadata* consumed_auth_metadata,
                                    OutputMetadata*) {
  // The bearer token, if any.
  std::optional<std::string> token;
  auto [auth_begin, auth_end] = auth_metadata.equal_range("authorization");
  for (auto it = auth_begin; it != auth_end; ++it) {
    if (token.has_value()) {
      return Refuse(grpc::StatusCode::UNAUTHENTICATED, "more than one authorization header");
    }
    const absl::string_view value = View(it->second);
    if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) {
      return Refuse(grpc::StatusCode::UNAUTHENTICATED,
                    "the authorization header is not \"Bearer <token>\"");
    }
    token = std::string(absl::StripAsciiWhitespace(value.substr(7)));
    consumed_auth_metadata->emplace(std::string(View(it->first)), std::string(value));
  }

  // The client certificate's names, as gRPC's policy engine matches principals (each URI
  // SAN, each DNS SAN, the subject): the TLS handshake verified the certificate, and gRPC
  // recorded them on the connection. The caller's principal is its first URI SAN, else its
  // first DNS SAN; a certificate with neither is no identity.
  // Copied under the lock: the first call on a connection adds properties to the same
  // AuthContext, which may move its property array while another call reads it.
  std::vector<std::string> certificate_names;
  std::string certificate;
  {
    absl::MutexLock lock(&connections_mu_);
    for (const char* property : {GRPC_PEER_URI_PROPERTY_NAME, GRPC_PEER_DNS_PROPERTY_NAME}) {
      for (const grpc::string_ref& name : context->FindPropertyValues(property)) {
        if (name.size() > 0) certificate_names.emplace_back(View(name));
      }
    }
    if (!certificate_names.empty()) certificate = certificate_names.front();
    for (const grpc::string_ref& subject :
         context->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
      if (subject.size() > 0) certificate_names.emplace_back(View(subject));
    }
  }

  // One version of the policy decides this call's role and whether it may call the method,
  // even when the file changes meanwhile.
  const std::shared_ptr<const AuthorizationPolicy> policy = policy_->Current();

  Identity identity;
  if (token.has_value()) {
    if (!certificate.empty()) {
      return Refuse(grpc::StatusCode::UNAUTHENTICATED,
                    "the call carries both a client certificate and a bearer token; "
                    "authenticate with one");
    }
    if (verifier_ == nullptr) {
      return Refuse(grpc::StatusCode::UNAUTHENTICATED,
                    "this server accepts no bearer tokens (it has no --jwt_keys); use a "
                    "client certificate");
    }
    absl::StatusOr<VerifiedToken> verified = verifier_->Verify(*token);
    if (!verified.ok()) {
      return Refuse(grpc::StatusCode::UNAUTHENTICATED, std::string(verified.status().message()));
    }
    identity.principal = verified->principal();
    identity.role = verified->role;
    identity.councils = verified->councils;
    identity.authenticated_by = "token";
    // A token caller has no certificate: the policy's principals never match it.
    certificate_names.clear();
  } else if (!certificate.empty()) {
    Grant grant = policy->GrantOf(
        std::vector<absl::string_view>(certificate_names.begin(), certificate_names.end()));
    if (grant.role == Role::kNone) {
      return Refuse(grpc::StatusCode::PERMISSION_DENIED,
                    absl::StrCat("caller ", certificate, " holds no role in authorization policy \"",
                                 policy->name(), "\""));
    }
    identity.principal = certificate;
    identity.role = grant.role;
    identity.councils = std::move(grant.councils);
    identity.authenticated_by = "certificate";
  } else {
    return Refuse(grpc::StatusCode::UNAUTHENTICATED,
                  "no client certificate and no bearer token: every call must say who "
                  "makes it");
  }

  // A role header the client sends must be the role established here: the policy's token
  // rules match that header, and it would be a lie otherwise.
  auto [role_begin, role_end] = auth_metadata.equal_range(kRoleHeader);
  for (auto it = role_begin; it != role_end; ++it) {
    if (View(it->second) != RoleName(identity.role)) {
      return Refuse(grpc::StatusCode::PERMISSION_DENIED,
                    absl::StrCat("header ", kRoleHeader, " says \"",
                                 View(it->second).substr(0, 16), "\"; caller ",
                                 identity.principal, " has ", RoleName(identity.role)));
    }
  }

  {
    absl::MutexLock lock(&connections_mu_);
    std::optional<Identity> recorded = Recorded(*context);
    if (!recorded.has_value()) {
      context->AddProperty(kPrincipalProperty, identity.principal);
      context->AddProperty(kRoleProperty, std::string(RoleName(identity.role)));
      for (const std::string& council : identity.councils) {
        context->AddProperty(kCouncilProperty, council);
      }
      context->AddProperty(kAuthenticatedByProperty, identity.authenticated_by);
    } else if (!Same(*recorded, identity)) {
      return Refuse(grpc::StatusCode::UNAUTHENTICATED,
                    absl::StrCat("this connection is authenticated as ", recorded->Describe(),
                                 "; this call is ", identity.Describe(),
                                 " (another token, or the policy changed): open a new "
                                 "connection for it"));
    }
  }

  // The method-level rules, evaluated as gRPC's engine would (access_policy.h): the path,
  // the certificate's names, and the request headers less the consumed token and less
  // any role header the client sent.
  PolicyRequest request;
  request.principals.assign(certificate_names.begin(), certificate_names.end());
  request.headers.reserve(auth_metadata.size() + 1);
  for (const auto& [key, value] : auth_metadata) {
    const absl::string_view name = View(key);
    if (name == ":path") {
      request.path = View(value);
    } else if (!absl::StartsWith(name, ":") && name != "authorization" && name != kRoleHeader) {
      request.headers.emplace_back(name, View(value));
    }
  }
  // Only a token caller's calls carry the role header, set to its verified role: token
  // rules then never apply to certificate callers, whose rules stay as narrow as written.
  const std::string role_header(RoleName(identity.role));
  if (identity.authenticated_by == "token") request.headers.emplace_back(kRoleHeader, role_header);
  if (request.path.empty()) {
    // gRPC puts :path in every call's metadata; without it nothing can be decided.
    return Refuse(grpc::StatusCode::PERMISSION_DENIED, "the call names no method (:path)");
  }
  PolicyDecision decision = policy->Evaluate(request);
  if (!decision.allowed) {
    std::string why =
        decision.denied_by_rule
            ? absl::StrCat(request.path, " is refused to caller ", identity.Describe(),
                           " by deny rule \"", decision.rule, "\" of authorization policy \"",
                           policy->name(), "\"")
            : absl::StrCat("no allow rule of authorization policy \"", policy->name(),
                           "\" lets caller ", identity.Describe(), " call ", request.path);
    if (on_policy_refusal_) {
      Caller caller;
      caller.principal = identity.principal;
      caller.role = identity.role;
      caller.councils = identity.councils;
      caller.authenticated_by = identity.authenticated_by;
      on_policy_refusal_(caller, request.path, absl::PermissionDeniedError(why));
    }
    return Refuse(grpc::StatusCode::PERMISSION_DENIED, std::move(why));
  }
  return grpc::Status::OK;
}

absl::Status InstallAuthentication(const AuthOptions& options,
                                   grpc::ServerCredentials* credentials,
                                   grpc::ServerBuilder* /*builder*/) {
  absl::StatusOr<std::shared_ptr<Authenticator>> authenticator = Authenticator::Create(options);
  if (!authenticator.ok()) return authenticator.status();
  credentials->SetAuthMetadataProcessor(*std::move(authenticator));
  return absl::OkStatus();
}

}  // namespace sanhak::auth
