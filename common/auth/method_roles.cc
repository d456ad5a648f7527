#include "common/auth/method_roles.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace sanhak::auth {

Role RequiredRole(absl::string_view method) {
  if (method == "ListAuditEntries") return Role::kAdmin;
  if (method == "WhoAmI") return Role::kReader;
  // Get, List and Watch are followed by the resource's name in capitals ("GetCouncil",
  // "GetCouncilScorecard", "WatchAggregates"): a method merely starting with those
  // letters ("Listen...") is not a read.
  for (absl::string_view read : {"Get", "List", "Watch"}) {
    if (absl::StartsWith(method, read) && method.size() > read.size() &&
        absl::ascii_isupper(static_cast<unsigned char>(method[read.size()]))) {
      return Role::kReader;
    }
  }
  for (absl::string_view write : {"Create", "Update"}) {
    if (absl::StartsWith(method, write) && method.size() > write.size() &&
        absl::ascii_isupper(static_cast<unsigned char>(method[write.size()]))) {
      return Role::kEditor;
    }
  }
  return Role::kAdmin;
}

bool RoleAllows(Role role, absl::string_view method) {
  switch (RequiredRole(method)) {
    case Role::kReader:
      return role == Role::kReader || role == Role::kService || role == Role::kEditor ||
             role == Role::kAdmin;
    case Role::kEditor:
      return role == Role::kEditor || role == Role::kAdmin;
    default:
      return role == Role::kAdmin;
  }
}

}  // namespace sanhak::auth
