#include "common/caller.h"

#include <memory>
#include <string>

#include "absl/algorithm/container.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/server_context.h"

namespace sanhak {

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kEditor:
      return "editor";
    case Role::kAdmin:
      return "admin";
    case Role::kService:
      return "service";
    case Role::kNone:
      break;
  }
  return "none";
}

Role RoleFromName(absl::string_view name) {
  for (Role role : {Role::kReader, Role::kEditor, Role::kAdmin, Role::kService}) {
    if (name == RoleName(role)) return role;
  }
  return Role::kNone;
}

bool Caller::MayChange(absl::string_view council) const {
  switch (role) {
    case Role::kAdmin:
    case Role::kService:
      return true;
    case Role::kEditor:
      return councils.empty() || absl::c_linear_search(councils, council);
    case Role::kReader:
    case Role::kNone:
      break;
  }
  return false;
}

Caller PlaintextDevelopmentCaller() {
  Caller caller;
  caller.principal = "plaintext-dev";
  caller.role = Role::kAdmin;
  caller.authenticated_by = "plaintext";
  return caller;
}

Caller CallerOf(const grpc::ServerContextBase& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return PlaintextDevelopmentCaller();
  std::vector<grpc::string_ref> principal = auth->FindPropertyValues(kPrincipalProperty);
  if (principal.empty()) {
    // A secured server's authentication always sets the principal before a handler
    // runs; only a plaintext server (no transport security at all) has none.
    // (gRPC's insecure credentials mark their calls transport_security_type
    // "insecure"; TLS marks them "ssl".)
    for (const grpc::string_ref& type :
         auth->FindPropertyValues("transport_security_type")) {
      if (absl::string_view(type.data(), type.size()) != "insecure") return Caller{};
    }
    if (auth->IsPeerAuthenticated()) return Caller{};
    return PlaintextDevelopmentCaller();
  }
  Caller caller;
  caller.principal.assign(principal.front().data(), principal.front().size());
  for (const grpc::string_ref& role : auth->FindPropertyValues(kRoleProperty)) {
    caller.role = RoleFromName(absl::string_view(role.data(), role.size()));
  }
  for (const grpc::string_ref& council : auth->FindPropertyValues(kCouncilProperty)) {
    caller.councils.emplace_back(council.data(), council.size());
  }
  for (const grpc::string_ref& by : auth->FindPropertyValues(kAuthenticatedByProperty)) {
    caller.authenticated_by.assign(by.data(), by.size());
  }
  return caller;
}

}  // namespace sanhak
