#include "common/auth/access_policy.h"

#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sanhak::auth {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// How strong a role is when a principal is listed under several.
int Rank(Role role) {
  switch (role) {
    case Role::kAdmin:
      return 4;
    case Role::kEditor:
      return 3;
    case Role::kService:
      return 2;
    case Role::kReader:
      return 1;
    case Role::kNone:
      break;
  }
  return 0;
}

// gRPC's principal matching (rbac_translator: exact, prefix*, *suffix, *).
bool Matches(absl::string_view pattern, absl::string_view principal) {
  if (pattern == "*") return !principal.empty();
  if (absl::StartsWith(pattern, "*")) return absl::EndsWith(principal, pattern.substr(1));
  if (absl::EndsWith(pattern, "*")) {
    return absl::StartsWith(principal, pattern.substr(0, pattern.size() - 1));
  }
  return pattern == principal;
}

const Value* Member(const Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

}  // namespace

absl::StatusOr<PolicyRoles> PolicyRoles::Parse(absl::string_view json) {
  Struct policy;
  if (!google::protobuf::util::JsonStringToMessage(std::string(json), &policy).ok()) {
    return absl::InvalidArgumentError("the policy is not a JSON object");
  }
  const Value* allow = Member(policy, "allow_rules");
  if (allow == nullptr || allow->kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError("the policy has no allow_rules array");
  }
  PolicyRoles out;
  for (int i = 0; i < allow->list_value().values_size(); ++i) {
    const Value& entry = allow->list_value().values(i);
    if (entry.kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError(absl::StrCat("allow_rules[", i, "] is not an object"));
    }
    const Struct& rule = entry.struct_value();
    const Value* source = Member(rule, "source");
    const Value* principals = nullptr;
    if (source != nullptr && source->kind_case() == Value::kStructValue) {
      principals = Member(source->struct_value(), "principals");
    }
    if (principals == nullptr || principals->kind_case() != Value::kListValue ||
        principals->list_value().values_size() == 0) {
      continue;  // not a role grant: a token rule, or one for any caller
    }
    const Value* name = Member(rule, "name");
    const std::string rule_name =
        name != nullptr && name->kind_case() == Value::kStringValue ? name->string_value() : "";
    std::pair<std::string, std::string> role_scope =
        absl::StrSplit(rule_name, absl::MaxSplits(':', 1));
    Rule parsed;
    parsed.name = rule_name;
    parsed.grant.role = RoleFromName(role_scope.first);
    if (parsed.grant.role == Role::kNone) {
      return absl::InvalidArgumentError(absl::StrCat(
          "allow rule \"", rule_name.substr(0, 64),
          "\" lists principals, so its name must be a role (reader, editor, admin, "
          "service; an editor may add :councils/a,councils/b)"));
    }
    if (!role_scope.second.empty()) {
      if (parsed.grant.role != Role::kEditor) {
        return absl::InvalidArgumentError(
            absl::StrCat("allow rule \"", rule_name.substr(0, 64),
                         "\": only an editor is confined to councils"));
      }
      for (absl::string_view council : absl::StrSplit(role_scope.second, ',')) {
        if (!absl::StartsWith(council, "councils/") || council.size() <= 9) {
          return absl::InvalidArgumentError(absl::StrCat(
              "allow rule \"", rule_name.substr(0, 64), "\": scope entries are councils/{id}"));
        }
        parsed.grant.councils.emplace_back(council);
      }
    }
    for (const Value& principal : principals->list_value().values()) {
      if (principal.kind_case() != Value::kStringValue) {
        return absl::InvalidArgumentError(
            absl::StrCat("allow rule \"", rule_name.substr(0, 64), "\": a principal is not a string"));
      }
      parsed.principals.push_back(principal.string_value());
    }
    out.rules_.push_back(std::move(parsed));
  }
  return out;
}

Grant PolicyRoles::GrantOf(absl::string_view principal) const {
  Grant best;
  bool unscoped_editor = false;
  for (const Rule& rule : rules_) {
    if (!absl::c_any_of(rule.principals,
                        [&](const std::string& p) { return Matches(p, principal); })) {
      continue;
    }
    if (Rank(rule.grant.role) > Rank(best.role)) {
      best = rule.grant;
      unscoped_editor = rule.grant.role == Role::kEditor && rule.grant.councils.empty();
    } else if (rule.grant.role == Role::kEditor && best.role == Role::kEditor) {
      if (rule.grant.councils.empty()) unscoped_editor = true;
      for (const std::string& council : rule.grant.councils) {
        if (!absl::c_linear_search(best.councils, council)) best.councils.push_back(council);
      }
    }
  }
  if (unscoped_editor) best.councils.clear();
  return best;
}

absl::StatusOr<std::unique_ptr<AccessPolicy>> AccessPolicy::Create(
    std::string path, absl::Duration reload_interval) {
  std::unique_ptr<AccessPolicy> policy(new AccessPolicy(std::move(path), reload_interval));
  absl::Status loaded = policy->MaybeReload(absl::Now());
  if (!loaded.ok()) return loaded;
  return policy;
}

absl::Status AccessPolicy::MaybeReload(absl::Time now) {
  absl::StatusOr<std::optional<std::string>> contents = file_.Poll(now);
  if (!contents.ok()) return contents.status();
  if (!contents->has_value()) return absl::OkStatus();
  absl::StatusOr<PolicyRoles> roles = PolicyRoles::Parse(**contents);
  if (!roles.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file_.path(), ": ", roles.status().message()));
  }
  auto shared = std::make_shared<const PolicyRoles>(*std::move(roles));
  absl::MutexLock lock(&mu_);
  if (roles_ != nullptr) {
    Log(LogLevel::kInfo, "authorization policy reloaded",
        {{"path", file_.path()}, {"role_rules", int64_t{shared->rule_count()}}});
  }
  roles_ = std::move(shared);
  return absl::OkStatus();
}

Grant AccessPolicy::GrantOf(absl::string_view principal, absl::Time now) {
  if (absl::Status reloaded = MaybeReload(now); !reloaded.ok()) {
    Log(LogLevel::kWarning, "authorization policy not reloaded",
        {{"path", file_.path()}, {"error", std::string(reloaded.message())}});
  }
  std::shared_ptr<const PolicyRoles> roles;
  {
    absl::MutexLock lock(&mu_);
    roles = roles_;
  }
  return roles->GrantOf(principal);
}

}  // namespace sanhak::auth
