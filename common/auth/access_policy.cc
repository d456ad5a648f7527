#include "common/auth/access_policy.h"

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sanhak::auth {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using Pattern = AuthorizationPolicy::Pattern;
using Rule = AuthorizationPolicy::Rule;
using HeaderMatch = AuthorizationPolicy::HeaderMatch;

// How strong a role is when a principal is named by several grants.
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

// Names in error messages, cut so a hostile file cannot flood the log.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", text.substr(0, 64), text.size() > 64 ? "...\"" : "\"");
}

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

// `status` with `where` in front of its message.
absl::Status At(absl::string_view where, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

// Refuses every member of `object` not in `known`, naming it and where it is.
absl::Status OnlyKnown(const Struct& object, std::initializer_list<absl::string_view> known,
                       absl::string_view where) {
  for (const auto& [field, value] : object.fields()) {
    if (absl::c_find(known, field) == known.end()) {
      return Invalid(absl::StrCat("policy contains unknown field ", Quote(field), " in ", where));
    }
  }
  return absl::OkStatus();
}

const Value* Member(const Struct& object, absl::string_view name) {
  auto it = object.fields().find(std::string(name));
  return it == object.fields().end() ? nullptr : &it->second;
}

Pattern ParsePattern(absl::string_view text) {
  Pattern out;
  // gRPC's GetMatcherType, in its order: "*" alone, then a leading "*", then a trailing.
  if (text == "*") {
    out.kind = Pattern::Kind::kAnyNonEmpty;
  } else if (absl::StartsWith(text, "*")) {
    out.kind = Pattern::Kind::kSuffix;
    out.text = std::string(text.substr(1));
  } else if (absl::EndsWith(text, "*")) {
    out.kind = Pattern::Kind::kPrefix;
    out.text = std::string(text.substr(0, text.size() - 1));
  } else {
    out.kind = Pattern::Kind::kExact;
    out.text = std::string(text);
  }
  return out;
}

// A JSON array of pattern strings, `field` naming it in errors.
absl::StatusOr<std::vector<Pattern>> ParsePatterns(const Value& value, absl::string_view field) {
  if (value.kind_case() != Value::kListValue) {
    return Invalid(absl::StrCat("\"", field, "\" is not an array"));
  }
  std::vector<Pattern> out;
  const ListValue& list = value.list_value();
  for (int i = 0; i < list.values_size(); ++i) {
    if (list.values(i).kind_case() != Value::kStringValue) {
      return Invalid(absl::StrCat("\"", field, "\" ", i, ": is not a string"));
    }
    out.push_back(ParsePattern(list.values(i).string_value()));
  }
  return out;
}

// gRPC refuses policies on pseudo-headers, its own headers, and the hop-by-hop ones.
bool UnsupportedHeader(absl::string_view key) {
  if (absl::StartsWith(key, ":") || absl::StartsWith(key, "grpc-")) return true;
  for (absl::string_view hop : {"host", "connection", "keep-alive", "proxy-authenticate",
                                "proxy-authorization", "te", "trailer", "transfer-encoding",
                                "upgrade"}) {
    if (absl::EqualsIgnoreCase(key, hop)) return true;
  }
  return false;
}

absl::StatusOr<HeaderMatch> ParseHeader(const Value& value) {
  if (value.kind_case() != Value::kStructValue) return Invalid("is not an object");
  const Struct& object = value.struct_value();
  if (absl::Status known = OnlyKnown(object, {"key", "values"}, "\"headers\""); !known.ok()) {
    return known;
  }
  const Value* key = Member(object, "key");
  if (key == nullptr || (key->kind_case() == Value::kStringValue && key->string_value().empty())) {
    return Invalid("\"key\" is not present");
  }
  if (key->kind_case() != Value::kStringValue) return Invalid("\"key\" is not a string");
  HeaderMatch out;
  out.key = key->string_value();
  if (UnsupportedHeader(out.key)) return Invalid(absl::StrCat("unsupported \"key\" ", Quote(out.key)));
  if (absl::c_any_of(out.key, [](char c) { return absl::ascii_isupper(static_cast<unsigned char>(c)); })) {
    return Invalid(absl::StrCat("\"key\" ", Quote(out.key),
                                " has capitals; gRPC's header keys are lower case, so it "
                                "could never match"));
  }
  const Value* values = Member(object, "values");
  if (values == nullptr) return Invalid("\"values\" is not present");
  absl::StatusOr<std::vector<Pattern>> patterns = ParsePatterns(*values, "values");
  if (!patterns.ok()) return patterns.status();
  if (patterns->empty()) return Invalid("\"values\" list is empty");
  out.values = *std::move(patterns);
  return out;
}

absl::StatusOr<Rule> ParseRule(const Value& value) {
  if (value.kind_case() != Value::kStructValue) return Invalid("is not an object");
  const Struct& object = value.struct_value();
  if (absl::Status known = OnlyKnown(object, {"name", "source", "request"}, "a rule");
      !known.ok()) {
    return known;
  }
  Rule rule;
  const Value* name = Member(object, "name");
  if (name != nullptr && name->kind_case() != Value::kStringValue) {
    return Invalid("\"name\" is not a string");
  }
  if (name == nullptr || name->string_value().empty()) return Invalid("\"name\" is not present");
  rule.name = name->string_value();

  if (const Value* source = Member(object, "source"); source != nullptr) {
    if (source->kind_case() != Value::kStructValue) return Invalid("\"source\" is not an object");
    if (absl::Status known = OnlyKnown(source->struct_value(), {"principals"}, "\"source\"");
        !known.ok()) {
      return known;
    }
    if (const Value* principals = Member(source->struct_value(), "principals")) {
      absl::StatusOr<std::vector<Pattern>> parsed = ParsePatterns(*principals, "principals");
      if (!parsed.ok()) return At("\"source\"", parsed.status());
      rule.principals = *std::move(parsed);
    }
  }

  if (const Value* request = Member(object, "request"); request != nullptr) {
    if (request->kind_case() != Value::kStructValue) {
      return Invalid("\"request\" is not an object");
    }
    const Struct& fields = request->struct_value();
    if (absl::Status known = OnlyKnown(fields, {"paths", "headers"}, "\"request\"");
        !known.ok()) {
      return known;
    }
    if (const Value* paths = Member(fields, "paths")) {
      absl::StatusOr<std::vector<Pattern>> parsed = ParsePatterns(*paths, "paths");
      if (!parsed.ok()) return At("\"request\"", parsed.status());
      rule.paths = *std::move(parsed);
    }
    if (const Value* headers = Member(fields, "headers")) {
      if (headers->kind_case() != Value::kListValue) {
        return Invalid("\"request\": \"headers\" is not an array");
      }
      for (int i = 0; i < headers->list_value().values_size(); ++i) {
        absl::StatusOr<HeaderMatch> header = ParseHeader(headers->list_value().values(i));
        if (!header.ok()) {
          return At(absl::StrCat("\"request\": \"headers\" ", i), header.status());
        }
        rule.headers.push_back(*std::move(header));
      }
    }
  }
  return rule;
}

absl::StatusOr<std::vector<Rule>> ParseRules(const Value& value, absl::string_view field) {
  if (value.kind_case() != Value::kListValue) {
    return Invalid(absl::StrCat("\"", field, "\" is not an array"));
  }
  const ListValue& list = value.list_value();
  if (list.values_size() == 0) return Invalid(absl::StrCat("\"", field, "\" is empty"));
  std::vector<Rule> rules;
  absl::flat_hash_set<std::string> names;
  for (int i = 0; i < list.values_size(); ++i) {
    absl::StatusOr<Rule> rule = ParseRule(list.values(i));
    if (!rule.ok()) return At(absl::StrCat(field, " ", i), rule.status());
    if (!names.insert(rule->name).second) {
      return Invalid(absl::StrCat(field, " ", i, ": a second rule named ", Quote(rule->name),
                                  " (gRPC would silently keep only the last one; give each "
                                  "a name of its own)"));
    }
    rules.push_back(*std::move(rule));
  }
  return rules;
}

// A role grant's name: "{role}[:{councils}][ {label}]".
absl::StatusOr<Grant> ParseGrantName(absl::string_view name) {
  absl::string_view head = name.substr(0, name.find(' '));
  std::pair<absl::string_view, absl::string_view> role_scope =
      absl::StrSplit(head, absl::MaxSplits(':', 1));
  Grant grant;
  grant.role = RoleFromName(role_scope.first);
  if (grant.role == Role::kNone) {
    return Invalid(absl::StrCat(
        "allow rule ", Quote(name),
        " lists principals, so its name must be a role (reader, editor, admin, service; an "
        "editor may add :councils/a,councils/b; a label may follow after a space)"));
  }
  if (!role_scope.second.empty()) {
    if (grant.role != Role::kEditor) {
      return Invalid(
          absl::StrCat("allow rule ", Quote(name), ": only an editor is confined to councils"));
    }
    for (absl::string_view council : absl::StrSplit(role_scope.second, ',')) {
      if (!absl::StartsWith(council, "councils/") || council.size() <= 9) {
        return Invalid(
            absl::StrCat("allow rule ", Quote(name), ": scope entries are councils/{id}"));
      }
      grant.councils.emplace_back(council);
    }
  }
  return grant;
}

bool AnyMatches(const std::vector<Pattern>& patterns, absl::string_view value) {
  for (const Pattern& pattern : patterns) {
    if (pattern.Matches(value)) return true;
  }
  return false;
}

bool MatchesPrincipal(const std::vector<Pattern>& patterns,
                      const std::vector<absl::string_view>& principals) {
  for (absl::string_view principal : principals) {
    if (AnyMatches(patterns, principal)) return true;
  }
  return false;
}

}  // namespace

bool AuthorizationPolicy::Pattern::Matches(absl::string_view value) const {
  switch (kind) {
    case Kind::kAnyNonEmpty:
      return !value.empty();
    case Kind::kPrefix:
      return absl::StartsWith(value, text);
    case Kind::kSuffix:
      return absl::EndsWith(value, text);
    case Kind::kExact:
      break;
  }
  return value == text;
}

bool AuthorizationPolicy::Rule::Matches(const PolicyRequest& request) const {
  // A rule listing principals needs a certificate whose names match one of them.
  if (!principals.empty() && !MatchesPrincipal(principals, request.principals)) return false;
  if (!paths.empty() && (request.path.empty() || !AnyMatches(paths, request.path))) {
    return false;
  }
  for (const HeaderMatch& header : headers) {
    // Several values of one header are matched joined with ",", as gRPC joins them; an
    // absent header matches nothing.
    std::optional<absl::string_view> single;
    std::string joined;
    int seen = 0;
    for (const auto& [key, value] : request.headers) {
      if (key != header.key) continue;
      if (seen++ == 0) {
        single = value;
      } else {
        if (seen == 2) joined = std::string(*single);
        absl::StrAppend(&joined, ",", value);
      }
    }
    if (seen == 0) return false;
    if (!AnyMatches(header.values, seen == 1 ? *single : absl::string_view(joined))) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<AuthorizationPolicy> AuthorizationPolicy::Parse(absl::string_view json) {
  Value document;
  if (auto parsed = google::protobuf::util::JsonStringToMessage(std::string(json), &document);
      !parsed.ok()) {
    return Invalid(absl::StrCat("not valid JSON: ", std::string(parsed.message()).substr(0, 200)));
  }
  if (document.kind_case() != Value::kStructValue) {
    return Invalid("the policy is not a JSON object");
  }
  const Struct& object = document.struct_value();
  if (Member(object, "audit_logging_options") != nullptr) {
    return Invalid(
        "\"audit_logging_options\" is not supported here: every write is in the suite's own "
        "audit trail");
  }
  if (absl::Status known = OnlyKnown(object, {"name", "deny_rules", "allow_rules"}, "the policy");
      !known.ok()) {
    return known;
  }
  AuthorizationPolicy out;
  const Value* name = Member(object, "name");
  if (name == nullptr) return Invalid("\"name\" field is not present");
  if (name->kind_case() != Value::kStringValue) return Invalid("\"name\" is not a string");
  out.name_ = name->string_value();
  if (const Value* deny = Member(object, "deny_rules")) {
    absl::StatusOr<std::vector<Rule>> rules = ParseRules(*deny, "deny_rules");
    if (!rules.ok()) return rules.status();
    out.deny_ = *std::move(rules);
  }
  const Value* allow = Member(object, "allow_rules");
  if (allow == nullptr) return Invalid("\"allow_rules\" is not present");
  absl::StatusOr<std::vector<Rule>> rules = ParseRules(*allow, "allow_rules");
  if (!rules.ok()) return rules.status();
  out.allow_ = *std::move(rules);
  for (size_t i = 0; i < out.allow_.size(); ++i) {
    if (out.allow_[i].principals.empty()) continue;  // not a role grant
    absl::StatusOr<Grant> grant = ParseGrantName(out.allow_[i].name);
    if (!grant.ok()) return grant.status();
    out.grants_.push_back({*std::move(grant), i});
  }
  return out;
}

PolicyDecision AuthorizationPolicy::Evaluate(const PolicyRequest& request) const {
  PolicyDecision decision;
  for (const Rule& rule : deny_) {
    if (rule.Matches(request)) {
      decision.rule = rule.name;
      decision.denied_by_rule = true;
      return decision;
    }
  }
  for (const Rule& rule : allow_) {
    if (rule.Matches(request)) {
      decision.allowed = true;
      decision.rule = rule.name;
      return decision;
    }
  }
  return decision;
}

Grant AuthorizationPolicy::GrantOf(const std::vector<absl::string_view>& principals) const {
  Grant best;
  bool unscoped_editor = false;
  for (const RoleGrant& entry : grants_) {
    if (!MatchesPrincipal(allow_[entry.rule].principals, principals)) continue;
    const Grant& grant = entry.grant;
    if (Rank(grant.role) > Rank(best.role)) {
      best = grant;
      unscoped_editor = grant.role == Role::kEditor && grant.councils.empty();
    } else if (grant.role == Role::kEditor && best.role == Role::kEditor) {
      if (grant.councils.empty()) unscoped_editor = true;
      for (const std::string& council : grant.councils) {
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
  absl::StatusOr<AuthorizationPolicy> parsed = AuthorizationPolicy::Parse(**contents);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_.path(), ": ", parsed.status().message()));
  }
  auto shared = std::make_shared<const AuthorizationPolicy>(*std::move(parsed));
  absl::MutexLock lock(&mu_);
  if (policy_ != nullptr) {
    Log(LogLevel::kInfo, "authorization policy reloaded",
        {{"path", file_.path()},
         {"policy", shared->name()},
         {"rules", int64_t{shared->rule_count()}}});
  }
  policy_ = std::move(shared);
  return absl::OkStatus();
}

std::shared_ptr<const AuthorizationPolicy> AccessPolicy::Current(absl::Time now) {
  if (absl::Status reloaded = MaybeReload(now); !reloaded.ok()) {
    // WatchedFile hands back a changed file once, so a broken version is logged once
    // (an unreadable one once per look).
    Log(LogLevel::kWarning, "authorization policy not reloaded; the rules read before stay",
        {{"path", file_.path()}, {"error", std::string(reloaded.message())}});
  }
  absl::MutexLock lock(&mu_);
  return policy_;
}

}  // namespace sanhak::auth
