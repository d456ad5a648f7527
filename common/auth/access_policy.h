// The method-level rules: ONE file in gRPC's authorization policy format
// (https://github.com/grpc/proposal/blob/master/A43-grpc-authorization-api.md), enforced
// by gRPC's own engine (FileWatcherAuthorizationPolicyProvider, see authenticator.h) and
// read here, from the same file, for the one thing the engine cannot tell the handlers:
// which role (and council scope) a certificate principal holds.
//
// Convention the file follows (config/authz-policy.json is the shipped one):
//   - An allow rule that lists source principals is a role grant. Its name is the role,
//     optionally with an editor's scope after a colon:
//       "reader", "service", "admin", "editor", "editor:councils/a,councils/b".
//     Its request.paths are the methods that role may call. A principal listed in
//     several such rules holds the strongest role (admin > editor > service > reader;
//     an editor in a scoped and an unscoped rule is unscoped, in two scoped rules holds
//     both scopes). Principals match as gRPC matches them: exact, "prefix*", "*suffix",
//     or "*" (any certificate).
//   - Bearer-token callers: the engine evaluates principals per connection from the
//     client certificate and cannot see token claims. Their rules match the request
//     header `sanhak-role` instead ("token-reader": headers [{key: sanhak-role, values:
//     [reader]}], paths [...]), and have no source. sanhakctl sends the header with the
//     role its token claims; the authentication (authenticator.h) refuses any call whose
//     sanhak-role header is not exactly the role it verified for the caller. Both gates
//     must pass, so the order gRPC runs them in does not matter. The names of rules
//     without principals are free.
//   - deny_rules work as gRPC defines them (they win over allow rules).
// A rule with principals whose name is not a role is an error: the file is refused (at
// start) or not taken (on reload; the rules read before stay in force, in the engine
// and here alike, since the engine also keeps its last good policy).
#ifndef SANHAK_COMMON_AUTH_ACCESS_POLICY_H_
#define SANHAK_COMMON_AUTH_ACCESS_POLICY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth/watched_file.h"
#include "common/caller.h"

namespace sanhak::auth {

// The request header a bearer-token caller sends with the role its token claims.
inline constexpr char kRoleHeader[] = "sanhak-role";

// What the policy grants one principal.
struct Grant {
  Role role = Role::kNone;
  // An editor's councils; empty = every council.
  std::vector<std::string> councils;
};

// The role grants of a policy file's text, principal patterns in file order.
class PolicyRoles {
 public:
  static absl::StatusOr<PolicyRoles> Parse(absl::string_view json);
  // What `principal` holds (kNone when no rule names it).
  Grant GrantOf(absl::string_view principal) const;
  int rule_count() const { return static_cast<int>(rules_.size()); }

 private:
  struct Rule {
    std::string name;
    Grant grant;
    std::vector<std::string> principals;
  };
  std::vector<Rule> rules_;
};

// A PolicyRoles kept up to date with its file.
class AccessPolicy {
 public:
  // Reads the file once; a file that cannot be read or parsed is an error.
  static absl::StatusOr<std::unique_ptr<AccessPolicy>> Create(std::string path,
                                                              absl::Duration reload_interval);
  // The grant of `principal` under the latest good version of the file.
  Grant GrantOf(absl::string_view principal, absl::Time now = absl::Now());
  const std::string& path() const { return file_.path(); }

 private:
  AccessPolicy(std::string path, absl::Duration reload_interval)
      : file_(std::move(path), reload_interval) {}
  absl::Status MaybeReload(absl::Time now);

  WatchedFile file_;
  absl::Mutex mu_;
  std::shared_ptr<const PolicyRoles> roles_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sanhak::auth

#endif  // SANHAK_COMMON_AUTH_ACCESS_POLICY_H_
