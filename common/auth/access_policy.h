// The method-level rules: ONE file in gRPC's authorization policy format
// (https://github.com/grpc/proposal/blob/master/A43-grpc-authorization-api.md), parsed and
// evaluated here with gRPC's semantics, because Debian's gRPC 1.51 does not ship gRPC's
// own engine (libgrpc++ has ServerBuilder::experimental().SetAuthorizationPolicyProvider
// and libgrpc its authorization filter, but neither exports a policy provider:
// grpc::experimental::FileWatcherAuthorizationPolicyProvider::Create and the C
// grpc_authorization_policy_provider_*_create functions are missing, `nm -D`). The
// Authenticator (authenticator.h) evaluates the policy on every call, in gRPC's server
// auth filter, before any handler.
//
// The format, as gRPC's translator (rbac_translator.cc) reads it:
//   {"name": "...",                     required string
//    "deny_rules":  [rule, ...],         optional, not empty when present
//    "allow_rules": [rule, ...]}         required, not empty
//   rule: {"name": "...",                required, non-empty string
//          "source":  {"principals": [pattern, ...]},
//          "request": {"paths": [pattern, ...],
//                      "headers": [{"key": "...", "values": [pattern, ...]}, ...]}}
//   A pattern is exact, "prefix*", "*suffix", or "*" (any non-empty value). A rule
//   matches a call when every part it has matches: one of its principals, one of its
//   paths, and for every header entry one of its values (several values of one header
//   are joined with "," first, as gRPC does). Header keys starting with ":" or "grpc-",
//   "host" and the HTTP connection headers are refused, as gRPC refuses them. Unknown
//   fields, wrong types, empty rule lists and empty "values" are refused, naming where.
//   "audit_logging_options" (newer gRPC) is refused: the suite's audit trail is its own.
// Deliberately stricter than gRPC in two places, each a file gRPC would take but that
// would not mean what it says: two rules with the same name in one list are refused
// (gRPC keys rules by name and silently keeps only the last), and so are header keys with
// capitals (gRPC's metadata keys are lower case: such a rule could never match, and a
// deny rule that never matches is a hole). A file accepted here means the same to gRPC's
// engine, should a later gRPC that ships it be used.
// Decision, as gRPC's engine makes it: a call matching any deny rule is denied; else it
// is allowed when it matches an allow rule; else denied.
//
// Principals are matched as gRPC matches a TLS peer: against each URI SAN, each DNS SAN,
// and the subject of the verified client certificate. A caller without a client
// certificate (a bearer-token caller) has no principal: no rule that lists principals
// matches it. Token callers are matched by the `sanhak-role` header instead, which the
// policy sees on a token caller's calls only, and always with the role the authenticator
// verified from the token - never a value the client chose (a client that sends a
// different one is refused; one that sends none is evaluated as if it had sent the
// verified one). Certificate callers' calls never carry it, so rules for token roles never
// widen what a certificate's own rules allow. gRPC's engine would evaluate the header as
// the client sent it; with the authenticator's refusal of a mismatch, a token rule would
// then still hold only for callers of that role, but clients would have to send it.
//
// Roles of certificate principals come from the same file (the one thing the gRPC
// format has no field for). Convention:
//   - An allow rule that lists source principals is a role grant. Its name is the role,
//     optionally with an editor's scope after a colon, optionally followed by a space and
//     a free label that makes the name unique:
//       "reader", "service", "admin", "editor", "editor:councils/a,councils/b",
//       "reader partners", "editor:councils/c kim".
//     Its request is what that role may call. A principal named by several grants holds
//     the strongest role (admin > editor > service > reader; an editor in a scoped and an
//     unscoped grant is unscoped, in two scoped grants holds both scopes).
//   - A rule with principals in allow_rules whose name is not a role is an error.
//   - Rules without principals (token rules, conventionally "token-{role}") and deny
//     rules have free names.
// A file that cannot be read or is refused: at start the server does not start; on
// reload the rules read before stay in force and the error is logged.
#ifndef SANHAK_COMMON_AUTH_ACCESS_POLICY_H_
#define SANHAK_COMMON_AUTH_ACCESS_POLICY_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth/watched_file.h"
#include "common/caller.h"

namespace sanhak::auth {

// The request header token rules match: the caller's verified role.
inline constexpr char kRoleHeader[] = "sanhak-role";

// What the policy grants one certificate principal.
struct Grant {
  Role role = Role::kNone;
  // An editor's councils; empty = every council.
  std::vector<std::string> councils;
};

// One call as the policy sees it. Views: valid for the duration of Evaluate.
struct PolicyRequest {
  // The gRPC method path, "/package.Service/Method".
  absl::string_view path;
  // The verified client certificate's names (URI SANs, DNS SANs, subject); empty: no
  // client certificate.
  std::vector<absl::string_view> principals;
  // The request headers (lower-case keys; a key may repeat).
  std::vector<std::pair<absl::string_view, absl::string_view>> headers;
};

struct PolicyDecision {
  bool allowed = false;
  // The rule that decided: the deny rule that matched, or the first allow rule that
  // matched; empty when no rule matched (denied by default).
  std::string rule;
  bool denied_by_rule = false;
};

// A parsed policy file.
class AuthorizationPolicy {
 public:
  // Errors name what is wrong and where ("allow_rules 2: \"request\": \"headers\" 0: ...").
  static absl::StatusOr<AuthorizationPolicy> Parse(absl::string_view json);

  PolicyDecision Evaluate(const PolicyRequest& request) const;

  // What a certificate with these names holds (kNone when no grant names it).
  Grant GrantOf(const std::vector<absl::string_view>& principals) const;
  Grant GrantOf(absl::string_view principal) const {
    return GrantOf(std::vector<absl::string_view>{principal});
  }

  const std::string& name() const { return name_; }
  int rule_count() const { return static_cast<int>(deny_.size() + allow_.size()); }

  // gRPC's string matching ("*" any non-empty value, "*suffix", "prefix*", exact).
  struct Pattern {
    enum class Kind { kExact, kPrefix, kSuffix, kAnyNonEmpty };
    Kind kind = Kind::kExact;
    std::string text;
    bool Matches(absl::string_view value) const;
  };
  struct HeaderMatch {
    std::string key;
    std::vector<Pattern> values;
  };
  struct Rule {
    std::string name;
    std::vector<Pattern> principals;  // empty: any caller
    std::vector<Pattern> paths;       // empty: any path
    std::vector<HeaderMatch> headers;  // all must match
    bool Matches(const PolicyRequest& request) const;
  };

 private:
  struct RoleGrant {
    Grant grant;
    size_t rule;  // index into allow_
  };

  std::string name_;
  std::vector<Rule> deny_;
  std::vector<Rule> allow_;
  std::vector<RoleGrant> grants_;
};

// An AuthorizationPolicy kept up to date with its file.
class AccessPolicy {
 public:
  // Reads the file once; a file that cannot be read or parsed is an error.
  static absl::StatusOr<std::unique_ptr<AccessPolicy>> Create(std::string path,
                                                              absl::Duration reload_interval);
  // The latest good version of the file, looked at again when `reload_interval` has
  // passed; a new version that cannot be read or parsed is logged and not taken. One
  // call's grant and decision must come from one snapshot.
  std::shared_ptr<const AuthorizationPolicy> Current(absl::Time now = absl::Now());
  const std::string& path() const { return file_.path(); }

 private:
  AccessPolicy(std::string path, absl::Duration reload_interval)
      : file_(std::move(path), reload_interval) {}
  absl::Status MaybeReload(absl::Time now);

  WatchedFile file_;
  absl::Mutex mu_;
  std::shared_ptr<const AuthorizationPolicy> policy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sanhak::auth

#endif  // SANHAK_COMMON_AUTH_ACCESS_POLICY_H_
