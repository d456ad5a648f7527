// Roles from the policy file (common/auth/access_policy.h), and the shipped policy
// (config/authz-policy.json) agreeing with the edge check's table for every method of
// every service.
#include "common/auth/access_policy.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/auth/method_roles.h"
#include "common/auth/watched_file.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/identity/v1/identity.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certs.h"

namespace sanhak::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kPolicy[] = R"json({
  "name": "t",
  "allow_rules": [
    {"name": "reader", "source": {"principals": ["spiffe://t/user/*", "reader.example"]},
     "request": {"paths": ["*"]}},
    {"name": "service", "source": {"principals": ["spiffe://t/service/*"]}},
    {"name": "editor:councils/a,councils/b", "source": {"principals": ["spiffe://t/user/kim"]}},
    {"name": "editor:councils/c", "source": {"principals": ["spiffe://t/user/kim"]}},
    {"name": "editor", "source": {"principals": ["spiffe://t/user/lee"]}},
    {"name": "editor:councils/z lee's second grant", "source": {"principals": ["spiffe://t/user/lee"]}},
    {"name": "admin", "source": {"principals": ["spiffe://t/user/root"]}},
    {"name": "token-reader", "request": {"headers": [{"key": "sanhak-role", "values": ["reader"]}]}}
  ]
})json";

absl::StatusOr<AuthorizationPolicy> Parse(absl::string_view json) {
  return AuthorizationPolicy::Parse(json);
}

// The message a policy is refused with ("" when it is accepted).
std::string Refusal(absl::string_view json) {
  absl::StatusOr<AuthorizationPolicy> policy = Parse(json);
  if (policy.ok()) return "";
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(policy.status().message());
}

// A call by a certificate with `names`, or by a token caller when `names` is empty.
PolicyRequest Call(absl::string_view path, std::vector<absl::string_view> names = {},
                   std::vector<std::pair<absl::string_view, absl::string_view>> headers = {}) {
  PolicyRequest request;
  request.path = path;
  request.principals = std::move(names);
  request.headers = std::move(headers);
  return request;
}

TEST(AuthorizationPolicyTest, StrongestRoleAndUnionOfScopes) {
  absl::StatusOr<AuthorizationPolicy> roles = Parse(kPolicy);
  ASSERT_TRUE(roles.ok()) << roles.status();
  EXPECT_EQ(roles->GrantOf("spiffe://t/user/anyone").role, Role::kReader);
  EXPECT_EQ(roles->GrantOf("reader.example").role, Role::kReader);
  EXPECT_EQ(roles->GrantOf("spiffe://t/service/registry").role, Role::kService);
  Grant kim = roles->GrantOf("spiffe://t/user/kim");
  EXPECT_EQ(kim.role, Role::kEditor);
  EXPECT_THAT(kim.councils, ElementsAre("councils/a", "councils/b", "councils/c"));
  Grant lee = roles->GrantOf("spiffe://t/user/lee");
  EXPECT_EQ(lee.role, Role::kEditor);
  EXPECT_THAT(lee.councils, IsEmpty());  // an unscoped grant wins
  EXPECT_EQ(roles->GrantOf("spiffe://t/user/root").role, Role::kAdmin);
  EXPECT_EQ(roles->GrantOf("spiffe://elsewhere/user/x").role, Role::kNone);
  EXPECT_EQ(roles->GrantOf("").role, Role::kNone);
  // Any of a certificate's names (URI SANs, DNS SANs, subject) can carry the grant.
  EXPECT_EQ(roles->GrantOf({"spiffe://elsewhere/x", "reader.example"}).role, Role::kReader);
  EXPECT_EQ(roles->GrantOf(std::vector<absl::string_view>{}).role, Role::kNone);
}

TEST(AuthorizationPolicyTest, RefusesGrantsThatAreNotRolesAndRepeatedNames) {
  EXPECT_THAT(Refusal(R"({"name":"t","allow_rules":[{"name":"friends","source":{"principals":["x"]}}]})"),
              HasSubstr("must be a role"));
  EXPECT_THAT(Refusal(R"({"name":"t","allow_rules":[{"name":"reader:councils/a","source":{"principals":["x"]}}]})"),
              HasSubstr("only an editor is confined to councils"));
  EXPECT_THAT(Refusal(R"({"name":"t","allow_rules":[{"name":"editor:a","source":{"principals":["x"]}}]})"),
              HasSubstr("councils/{id}"));
  // gRPC would keep only the second "reader" rule; here the file is refused.
  EXPECT_THAT(Refusal(R"({"name":"t","allow_rules":[
                {"name":"reader","source":{"principals":["x"]}},
                {"name":"reader","source":{"principals":["y"]}}]})"),
              HasSubstr("allow_rules 1: a second rule named \"reader\""));
  // A label after a space makes the name unique; the role is the first word.
  absl::StatusOr<AuthorizationPolicy> labelled = Parse(R"({"name":"t","allow_rules":[
                {"name":"reader","source":{"principals":["x"]}},
                {"name":"reader partners","source":{"principals":["y"]}}]})");
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_EQ(labelled->GrantOf("y").role, Role::kReader);
  // Deny rules and rules without principals have free names.
  EXPECT_EQ(Refusal(R"({"name":"t","deny_rules":[{"name":"no one","source":{"principals":["z"]}}],
                       "allow_rules":[{"name":"anything goes"}]})"),
            "");
}

TEST(AuthorizationPolicyTest, DenyRulesBeatAllowRules) {
  absl::StatusOr<AuthorizationPolicy> policy = Parse(R"({"name": "p",
    "deny_rules": [{"name": "no deletes by kim", "source": {"principals": ["spiffe://t/user/kim"]},
                    "request": {"paths": ["/s.S/Delete*"]}}],
    "allow_rules": [{"name": "admin", "source": {"principals": ["spiffe://t/user/*"]},
                     "request": {"paths": ["*"]}}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  PolicyDecision kim = policy->Evaluate(Call("/s.S/DeleteThing", {"spiffe://t/user/kim"}));
  EXPECT_FALSE(kim.allowed);
  EXPECT_TRUE(kim.denied_by_rule);
  EXPECT_EQ(kim.rule, "no deletes by kim");
  PolicyDecision lee = policy->Evaluate(Call("/s.S/DeleteThing", {"spiffe://t/user/lee"}));
  EXPECT_TRUE(lee.allowed);
  EXPECT_EQ(lee.rule, "admin");
  EXPECT_TRUE(policy->Evaluate(Call("/s.S/GetThing", {"spiffe://t/user/kim"})).allowed);
  // Nothing allows: denied by default, no rule named.
  PolicyDecision stranger = policy->Evaluate(Call("/s.S/GetThing", {"spiffe://other/x"}));
  EXPECT_FALSE(stranger.allowed);
  EXPECT_FALSE(stranger.denied_by_rule);
  EXPECT_EQ(stranger.rule, "");
}

TEST(AuthorizationPolicyTest, WildcardFormsAsGrpcMatchesThem) {
  absl::StatusOr<AuthorizationPolicy> policy = Parse(R"({"name": "p", "allow_rules": [
    {"name": "reader exact", "source": {"principals": ["spiffe://t/a"]}, "request": {"paths": ["/s.S/Exact"]}},
    {"name": "reader prefix", "source": {"principals": ["spiffe://t/b/*"]}, "request": {"paths": ["/s.S/Get*"]}},
    {"name": "reader suffix", "source": {"principals": ["*.example"]}, "request": {"paths": ["*Watch"]}},
    {"name": "reader any certificate", "source": {"principals": ["*"]}, "request": {"paths": ["/s.S/Any"]}},
    {"name": "middle star is literal", "request": {"paths": ["/s.S/A*B"]}}]})");
  // (Rules listing principals in allow_rules are role grants: named by a role.)
  ASSERT_TRUE(policy.ok()) << policy.status();
  auto allowed = [&](absl::string_view path, std::vector<absl::string_view> names) {
    return policy->Evaluate(Call(path, std::move(names))).allowed;
  };
  EXPECT_TRUE(allowed("/s.S/Exact", {"spiffe://t/a"}));
  EXPECT_FALSE(allowed("/s.S/Exact", {"spiffe://t/ab"}));
  EXPECT_FALSE(allowed("/s.S/Exactly", {"spiffe://t/a"}));
  EXPECT_TRUE(allowed("/s.S/GetThing", {"spiffe://t/b/kim"}));
  EXPECT_FALSE(allowed("/s.S/GetThing", {"spiffe://t/bb"}));
  EXPECT_TRUE(allowed("/t.T/Watch", {"host.example"}));
  EXPECT_FALSE(allowed("/t.T/Watch", {"host.example.org"}));
  // "*" is any certificate; a caller without one (a token caller) has no principal.
  EXPECT_TRUE(allowed("/s.S/Any", {"whatever"}));
  EXPECT_FALSE(allowed("/s.S/Any", {}));
  EXPECT_TRUE(allowed("/s.S/A*B", {}));
  EXPECT_FALSE(allowed("/s.S/AxB", {}));
  EXPECT_FALSE(allowed("", {"spiffe://t/b/kim"}));
  // The subject counts like the SANs.
  EXPECT_TRUE(allowed("/s.S/Exact", {"spiffe://t/zz", "CN=x", "spiffe://t/a"}));
}

TEST(AuthorizationPolicyTest, HeadersAllEntriesMustMatchAnyOfTheirValues) {
  absl::StatusOr<AuthorizationPolicy> policy = Parse(R"({"name": "p", "allow_rules": [
    {"name": "token-editor", "request": {"paths": ["/s.S/*"], "headers": [
      {"key": "sanhak-role", "values": ["editor", "admin"]},
      {"key": "x-team", "values": ["blue*", "*-red", "*"]}]}},
    {"name": "tagged", "request": {"headers": [{"key": "x-tag", "values": ["a,b"]}]}}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  auto allowed = [&](std::vector<std::pair<absl::string_view, absl::string_view>> headers) {
    return policy->Evaluate(Call("/s.S/M", {}, std::move(headers))).allowed;
  };
  EXPECT_TRUE(allowed({{"sanhak-role", "editor"}, {"x-team", "green"}}));
  EXPECT_TRUE(allowed({{"sanhak-role", "admin"}, {"x-team", "blue-7"}}));
  EXPECT_FALSE(allowed({{"sanhak-role", "reader"}, {"x-team", "green"}}));
  EXPECT_FALSE(allowed({{"sanhak-role", "editor"}}));                     // x-team absent
  EXPECT_FALSE(allowed({{"sanhak-role", "editor"}, {"x-team", ""}}));     // "*": non-empty
  EXPECT_FALSE(allowed({{"sanhak-role", "editorial"}, {"x-team", "a"}}));  // exact is exact
  // Several values of one header are matched joined with ",".
  EXPECT_TRUE(allowed({{"x-tag", "a"}, {"x-tag", "b"}}));
  EXPECT_FALSE(allowed({{"x-tag", "a"}}));
  EXPECT_FALSE(allowed({{"sanhak-role", "editor"}, {"sanhak-role", "admin"}, {"x-team", "z"}}));
}

TEST(AuthorizationPolicyTest, RefusesWhatGrpcRefusesNamingWhere) {
  EXPECT_THAT(Refusal("{ half a file"), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal("[]"), HasSubstr("not a JSON object"));
  // A repeated key could hide a rule's real source or request.
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "request": {"paths": ["/x"]},
                                                        "request": {}}]})"),
              HasSubstr("Repeated map key"));
  EXPECT_THAT(Refusal(R"({"allow_rules": [{"name": "a"}]})"), HasSubstr("\"name\" field is not present"));
  EXPECT_THAT(Refusal(R"({"name": 3, "allow_rules": [{"name": "a"}]})"), HasSubstr("\"name\" is not a string"));
  EXPECT_THAT(Refusal(R"({"name": "p"})"), HasSubstr("\"allow_rules\" is not present"));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": []})"), HasSubstr("\"allow_rules\" is empty"));
  EXPECT_THAT(Refusal(R"({"name": "p", "deny_rules": [], "allow_rules": [{"name": "a"}]})"),
              HasSubstr("\"deny_rules\" is empty"));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": {"name": "a"}})"),
              HasSubstr("\"allow_rules\" is not an array"));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"source": {}}]})"),
              HasSubstr("allow_rules 0: \"name\" is not present"));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a"}, "b"]})"),
              HasSubstr("allow_rules 1: is not an object"));
  // Unknown fields, at every level.
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a"}], "allow_rule": []})"),
              HasSubstr("unknown field \"allow_rule\" in the policy"));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "action": "ALLOW"}]})"),
              HasSubstr("allow_rules 0: policy contains unknown field \"action\" in a rule"));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "source": {"principal": ["x"]}}]})"),
              HasSubstr("unknown field \"principal\" in \"source\""));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "request": {"path": ["/x"]}}]})"),
              HasSubstr("unknown field \"path\" in \"request\""));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "request": {"headers": [
                {"key": "x", "values": ["y"], "invert": true}]}}]})"),
              HasSubstr("\"headers\" 0: policy contains unknown field \"invert\" in \"headers\""));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a"}],
                          "audit_logging_options": {"audit_condition": "NONE"}})"),
              HasSubstr("audit_logging_options"));
  // Wrong types, naming the index.
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "source": {"principals": "x"}}]})"),
              HasSubstr("\"principals\" is not an array"));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "request": {"paths": ["/a", 7]}}]})"),
              HasSubstr("allow_rules 0: \"request\": \"paths\" 1: is not a string"));
  // Headers gRPC will not match on, and header entries without key or values.
  for (const char* key : {":path", ":authority", "grpc-timeout", "host", "Host", "te", "connection"}) {
    EXPECT_THAT(Refusal(absl::StrCat(R"({"name": "p", "allow_rules": [{"name": "a", "request": {"headers": [{"key": ")",
                                     key, R"(", "values": ["v"]}]}}]})")),
                HasSubstr(absl::StrCat("unsupported \"key\" \"", key, "\"")))
        << key;
  }
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "request": {"headers": [{"key": "Sanhak-Role", "values": ["v"]}]}}]})"),
              HasSubstr("has capitals"));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "request": {"headers": [{"key": "x", "values": []}]}}]})"),
              HasSubstr("\"values\" list is empty"));
  EXPECT_THAT(Refusal(R"({"name": "p", "allow_rules": [{"name": "a", "request": {"headers": [{"values": ["v"]}]}}]})"),
              HasSubstr("\"key\" is not present"));
  EXPECT_THAT(Refusal(R"({"name": "p", "deny_rules": [{"name": "d", "request": {"headers": [{"key": "x"}]}}], "allow_rules": [{"name": "a"}]})"),
              HasSubstr("deny_rules 0: \"request\": \"headers\" 0: \"values\" is not present"));
}

TEST(AccessPolicyTest, ReloadsWhenTheFileChangesAndKeepsTheLastGoodOne) {
  sanhak::testing::TempDir dir("policy");
  const std::string path = dir.File("policy.json");
  ASSERT_TRUE(sanhak::testing::WriteFileAtomically(path, kPolicy).ok());
  auto policy = AccessPolicy::Create(path, absl::ZeroDuration());
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ((*policy)->Current()->GrantOf("spiffe://t/user/root").role, Role::kAdmin);
  ASSERT_TRUE(sanhak::testing::WriteFileAtomically(
                  path, R"({"name":"t2","allow_rules":[{"name":"reader","source":{"principals":["spiffe://t/user/root"]}}]})")
                  .ok());
  EXPECT_EQ((*policy)->Current()->GrantOf("spiffe://t/user/root").role, Role::kReader);
  EXPECT_EQ((*policy)->Current()->name(), "t2");
  for (const char* broken : {"{ half a file", R"({"name":"t3","allow_rules":[{"name":"x","bogus":1}]})"}) {
    ASSERT_TRUE(sanhak::testing::WriteFileAtomically(path, broken).ok());
    EXPECT_EQ((*policy)->Current()->name(), "t2") << broken;
  }
  // A file that is gone keeps the rules too.
  ASSERT_EQ(std::remove(path.c_str()), 0);
  EXPECT_EQ((*policy)->Current()->name(), "t2");
  // At start, a broken file is an error naming the file and the problem.
  ASSERT_TRUE(sanhak::testing::WriteFileAtomically(path, "{ half a file").ok());
  auto refused = AccessPolicy::Create(path, absl::ZeroDuration());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr(path + ": not valid JSON"));
}

TEST(MethodRolesTest, Table) {
  EXPECT_EQ(RequiredRole("GetCouncil"), Role::kReader);
  EXPECT_EQ(RequiredRole("GetCouncilScorecard"), Role::kReader);
  EXPECT_EQ(RequiredRole("WatchAggregates"), Role::kReader);
  EXPECT_EQ(RequiredRole("WhoAmI"), Role::kReader);
  EXPECT_EQ(RequiredRole("CreateCouncil"), Role::kEditor);
  EXPECT_EQ(RequiredRole("UpdateMembership"), Role::kEditor);
  EXPECT_EQ(RequiredRole("DeleteCouncil"), Role::kAdmin);
  EXPECT_EQ(RequiredRole("UndeleteCouncil"), Role::kAdmin);
  EXPECT_EQ(RequiredRole("ListAuditEntries"), Role::kAdmin);
  EXPECT_EQ(RequiredRole("Listen"), Role::kAdmin);  // not a List method
  EXPECT_EQ(RequiredRole("ImportCouncils"), Role::kAdmin);
  EXPECT_TRUE(RoleAllows(Role::kService, "GetCouncil"));
  EXPECT_FALSE(RoleAllows(Role::kService, "CreateCouncil"));
  EXPECT_FALSE(RoleAllows(Role::kEditor, "DeleteCouncil"));
  EXPECT_FALSE(RoleAllows(Role::kNone, "GetCouncil"));
}

// The principals scripts/run.sh's development certificates carry, one per role.
struct RoleCaller {
  Role role;
  const char* certificate;
};
constexpr RoleCaller kShippedCallers[] = {
    {Role::kAdmin, "spiffe://sanhak.local/user/admin"},
    {Role::kEditor, "spiffe://sanhak.local/user/editor"},
    {Role::kReader, "spiffe://sanhak.local/user/reader"},
    {Role::kService, "spiffe://sanhak.local/service/registry"},
};

// Every gRPC path of the suite's services, with its method's short name.
std::vector<std::pair<std::string, std::string>> SuitePaths() {
  std::vector<std::pair<std::string, std::string>> out;
  // Through a message of each file, so the linker keeps the generated descriptors.
  for (const google::protobuf::ServiceDescriptor* descriptor :
       {registry::v1::GetCouncilRequest::descriptor()->file()->service(0),
        events::v1::GetActivityRequest::descriptor()->file()->service(0),
        analytics::v1::GetAggregatesRequest::descriptor()->file()->service(0),
        identity::v1::WhoAmIRequest::descriptor()->file()->service(0)}) {
    for (int i = 0; i < descriptor->method_count(); ++i) {
      out.emplace_back(absl::StrCat("/", descriptor->full_name(), "/", descriptor->method(i)->name()),
                       descriptor->method(i)->name());
    }
  }
  return out;
}

absl::StatusOr<AuthorizationPolicy> ShippedPolicy() {
  const std::string path = std::string(SANHAK_SOURCE_DIR) + "/config/authz-policy.json";
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  return AuthorizationPolicy::Parse(*text);
}

// The request the authenticator hands the policy: the certificate's names, or for a token
// caller none and the role header set to its verified role.
PolicyRequest AsAuthenticated(absl::string_view path, absl::string_view certificate, Role role) {
  PolicyRequest request;
  request.path = path;
  if (!certificate.empty()) request.principals = {certificate};
  request.headers = {{"content-type", "application/grpc"}, {"user-agent", "grpc-c++/1.51.1"}};
  if (certificate.empty()) request.headers.emplace_back(kRoleHeader, RoleName(role));
  return request;
}

TEST(ShippedPolicyTest, AgreesWithTheEdgeTableForEveryMethod) {
  absl::StatusOr<AuthorizationPolicy> policy = ShippedPolicy();
  ASSERT_TRUE(policy.ok()) << policy.status();
  int checked = 0;
  for (const auto& [grpc_path, method] : SuitePaths()) {
    for (const RoleCaller& caller : kShippedCallers) {
      ASSERT_EQ(policy->GrantOf(caller.certificate).role, caller.role) << caller.certificate;
      // A certificate caller, and a token caller holding the same role.
      for (absl::string_view certificate : {absl::string_view(caller.certificate), absl::string_view()}) {
        if (certificate.empty() && caller.role == Role::kService) continue;  // no service tokens
        PolicyDecision decision =
            policy->Evaluate(AsAuthenticated(grpc_path, certificate, caller.role));
        EXPECT_EQ(decision.allowed, RoleAllows(caller.role, method))
            << RoleName(caller.role) << (certificate.empty() ? " token" : " certificate")
            << " on " << grpc_path << " (rule \"" << decision.rule << "\")";
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 300);
  // A certificate the policy names nowhere holds no role.
  EXPECT_EQ(policy->GrantOf("spiffe://sanhak.local/user/nobody").role, Role::kNone);
}

// The cost of the policy check the authenticator makes on every call, PRINTED (never
// asserted: a shared machine's timings are no pass/fail criterion). 100k evaluations of
// the shipped policy per case, as the authenticator makes them: the snapshot (with its
// look at whether the file is due a stat), the certificate's grant, the evaluation.
TEST(ShippedPolicyTest, PrintsTheCostOfOneEvaluation) {
  sanhak::testing::TempDir dir("policy-cost");
  const std::string path = dir.File("policy.json");
  absl::StatusOr<std::string> text =
      ReadSmallFile(std::string(SANHAK_SOURCE_DIR) + "/config/authz-policy.json");
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_TRUE(sanhak::testing::WriteFileAtomically(path, *text).ok());
  auto watched = AccessPolicy::Create(path, absl::Seconds(1));
  ASSERT_TRUE(watched.ok()) << watched.status();

  struct Case {
    const char* label;
    const char* path;
    const char* certificate;  // "" = token caller
    Role role;
    bool allowed;
  };
  const Case cases[] = {
      {"admin certificate, DeleteCouncil (first rule)", "/sanhak.registry.v1.RegistryService/DeleteCouncil",
       "spiffe://sanhak.local/user/admin", Role::kAdmin, true},
      {"service certificate, ListCouncils", "/sanhak.registry.v1.RegistryService/ListCouncils",
       "spiffe://sanhak.local/service/events", Role::kService, true},
      {"reader token, WatchAggregates (last rule)", "/sanhak.analytics.v1.AnalyticsService/WatchAggregates",
       "", Role::kReader, true},
      {"reader token, DeleteCouncil (denied: every rule tried)",
       "/sanhak.registry.v1.RegistryService/DeleteCouncil", "", Role::kReader, false},
  };
  constexpr int kRounds = 100000;
  for (const Case& c : cases) {
    int allowed = 0;
    const absl::Time start = absl::Now();
    for (int i = 0; i < kRounds; ++i) {
      std::shared_ptr<const AuthorizationPolicy> policy = (*watched)->Current();
      PolicyRequest request = AsAuthenticated(c.path, c.certificate, c.role);
      if (!request.principals.empty() && policy->GrantOf(request.principals).role != c.role) break;
      allowed += policy->Evaluate(request).allowed ? 1 : 0;
    }
    const absl::Duration took = absl::Now() - start;
    EXPECT_EQ(allowed, c.allowed ? kRounds : 0) << c.label;
    std::cout << "policy check, " << c.label << ": "
              << absl::ToDoubleNanoseconds(took) / kRounds << " ns per call (" << kRounds
              << " calls)\n";
  }
  // Of which: taking the snapshot (two uncontended mutexes, a clock comparison).
  int held = 0;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kRounds; ++i) held += (*watched)->Current() != nullptr ? 1 : 0;
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(held, kRounds);
  std::cout << "of which the snapshot: " << absl::ToDoubleNanoseconds(took) / kRounds
            << " ns per call\n";
}

}  // namespace
}  // namespace sanhak::auth
