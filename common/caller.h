// Who is calling: the identity, role and council scope the server established for a call
// before any handler ran. The server's authentication (common/auth) puts them on the
// call's grpc::AuthContext as the properties named below; handlers read them with
// CallerOf and hand the Caller to the domain logic, which knows nothing of gRPC.
#ifndef SANHAK_COMMON_CALLER_H_
#define SANHAK_COMMON_CALLER_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace sanhak {

// What a caller may do, from least to most. The method-level rules are the gRPC
// authorization policy's; a role here is what the domain logic and the audit trail see.
enum class Role {
  kNone = 0,  // authenticated by nothing: never reaches a handler on a secured server
  kReader,    // Get, List, Watch, scorecards, network
  kEditor,    // also create and update (within its councils when scoped)
  kAdmin,     // also delete, undelete, import, the audit trail
  kService,   // the suite's own calls between services
};

// "reader", "editor", "admin", "service"; "none" for kNone.
absl::string_view RoleName(Role role);
// The role named `name` (as RoleName writes it); kNone for anything else.
Role RoleFromName(absl::string_view name);

struct Caller {
  // The identity: a client certificate's URI SAN (else its DNS SAN), or "jwt:" + the
  // token's issuer + "#" + its subject. Never empty for a call that reached a handler.
  std::string principal;
  Role role = Role::kNone;
  // Council names ("councils/{id}") an editor is confined to; empty = every council.
  std::vector<std::string> councils;
  // "certificate", "token", or "plaintext" (the development flag; see ServerOptions).
  std::string authenticated_by;

  // Whether this caller may change what belongs to `council` (a "councils/{id}" name):
  // admin and service always, an editor when unscoped or the council is in its scope.
  bool MayChange(absl::string_view council) const;
};

// AuthContext property names the authentication sets (one value each, except
// kCouncilProperty, one per council in scope).
inline constexpr char kPrincipalProperty[] = "sanhak.principal";
inline constexpr char kRoleProperty[] = "sanhak.role";
inline constexpr char kCouncilProperty[] = "sanhak.council";
inline constexpr char kAuthenticatedByProperty[] = "sanhak.authenticated_by";

// The caller of the call `context` serves, from the properties above. A call on a server
// without authentication (the plaintext development flag, and in-process tests) has none
// of them: it is the development caller, principal "plaintext-dev", role admin.
Caller CallerOf(const grpc::ServerContextBase& context);

// The caller a plaintext development server gives every call.
Caller PlaintextDevelopmentCaller();

}  // namespace sanhak

#endif  // SANHAK_COMMON_CALLER_H_
