// The roles -> methods table of issue #11, as the edge check (common/parsed_call.h)
// applies it to every call before its handler runs. The policy file's rules are enforced
// first, by the authenticator (authenticator.h, in gRPC's server auth filter); this check
// names the missing role in the error and covers a policy file that grants too much. The shipped policy
// (config/authz-policy.json) must agree with it (tests/common/auth checks that).
//
//   reader, service: Get*, List* (except ListAuditEntries), Watch*, WhoAmI
//   editor:          reader's, and Create*, Update*
//   admin:           everything (also Delete*, Undelete*, Import*, ListAuditEntries)
// A method no rule names is admin's alone: a new method is closed until someone opens it.
#ifndef SANHAK_COMMON_AUTH_METHOD_ROLES_H_
#define SANHAK_COMMON_AUTH_METHOD_ROLES_H_

#include "absl/strings/string_view.h"
#include "common/caller.h"

namespace sanhak::auth {

// The least role that may call `method` (its short name, "DeleteCouncil"): kReader,
// kEditor or kAdmin.
Role RequiredRole(absl::string_view method);

// Whether a caller holding `role` may call `method`. A service has reader's methods.
bool RoleAllows(Role role, absl::string_view method);

}  // namespace sanhak::auth

#endif  // SANHAK_COMMON_AUTH_METHOD_ROLES_H_
