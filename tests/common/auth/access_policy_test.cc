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
    {"name": "editor:councils/z", "source": {"principals": ["spiffe://t/user/lee"]}},
    {"name": "admin", "source": {"principals": ["spiffe://t/user/root"]}},
    {"name": "token-reader", "request": {"headers": [{"key": "sanhak-role", "values": ["reader"]}]}}
  ]
})json";

TEST(PolicyRolesTest, StrongestRoleAndUnionOfScopes) {
  absl::StatusOr<PolicyRoles> roles = PolicyRoles::Parse(kPolicy);
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
}

TEST(PolicyRolesTest, RefusesRuleWithPrincipalsThatIsNotARole) {
  auto bad = PolicyRoles::Parse(
      R"({"name":"t","allow_rules":[{"name":"friends","source":{"principals":["x"]}}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("must be a role"));
  EXPECT_FALSE(PolicyRoles::Parse(
                   R"({"name":"t","allow_rules":[{"name":"reader:councils/a","source":{"principals":["x"]}}]})")
                   .ok());
  EXPECT_FALSE(PolicyRoles::Parse("{").ok());
}

TEST(AccessPolicyTest, ReloadsWhenTheFileChangesAndKeepsTheLastGoodOne) {
  sanhak::testing::TempDir dir("policy");
  const std::string path = dir.File("policy.json");
  ASSERT_TRUE(sanhak::testing::WriteFileAtomically(path, kPolicy).ok());
  auto policy = AccessPolicy::Create(path, absl::ZeroDuration());
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ((*policy)->GrantOf("spiffe://t/user/root").role, Role::kAdmin);
  ASSERT_TRUE(sanhak::testing::WriteFileAtomically(
                  path, R"({"name":"t","allow_rules":[{"name":"reader","source":{"principals":["spiffe://t/user/root"]}}]})")
                  .ok());
  EXPECT_EQ((*policy)->GrantOf("spiffe://t/user/root").role, Role::kReader);
  ASSERT_TRUE(sanhak::testing::WriteFileAtomically(path, "{ half a file").ok());
  EXPECT_EQ((*policy)->GrantOf("spiffe://t/user/root").role, Role::kReader);
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

// gRPC's string matching for policy paths and header values (A43): exact, "prefix*",
// "*suffix", "*".
bool Matches(const std::string& pattern, const std::string& value) {
  if (pattern == "*") return true;
  if (absl::StartsWith(pattern, "*")) return absl::EndsWith(value, pattern.substr(1));
  if (absl::EndsWith(pattern, "*")) {
    return absl::StartsWith(value, pattern.substr(0, pattern.size() - 1));
  }
  return pattern == value;
}

// Whether `rule` of the shipped policy lets `path` through.
bool RuleAllowsPath(const google::protobuf::Struct& rule, const std::string& path) {
  auto request = rule.fields().find("request");
  if (request == rule.fields().end()) return true;
  auto paths = request->second.struct_value().fields().find("paths");
  if (paths == request->second.struct_value().fields().end()) return true;
  for (const auto& p : paths->second.list_value().values()) {
    if (Matches(p.string_value(), path)) return true;
  }
  return false;
}

TEST(ShippedPolicyTest, AgreesWithTheEdgeTableForEveryMethod) {
  const std::string path = std::string(SANHAK_SOURCE_DIR) + "/config/authz-policy.json";
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<PolicyRoles> roles = PolicyRoles::Parse(*text);
  ASSERT_TRUE(roles.ok()) << roles.status();
  // The development principals of scripts/run.sh.
  EXPECT_EQ(roles->GrantOf("spiffe://sanhak.local/service/registry").role, Role::kService);
  EXPECT_EQ(roles->GrantOf("spiffe://sanhak.local/user/admin").role, Role::kAdmin);

  google::protobuf::Struct policy;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*text, &policy).ok());
  ASSERT_EQ(policy.fields().count("deny_rules"), 0u) << "extend this test for deny rules";
  int checked = 0;
  // Through a message of each file, so the linker keeps the generated descriptors.
  for (const google::protobuf::ServiceDescriptor* descriptor :
       {registry::v1::GetCouncilRequest::descriptor()->file()->service(0),
        events::v1::GetActivityRequest::descriptor()->file()->service(0),
        analytics::v1::GetAggregatesRequest::descriptor()->file()->service(0),
        identity::v1::WhoAmIRequest::descriptor()->file()->service(0)}) {
    const std::string service = descriptor->full_name();
    for (int i = 0; i < descriptor->method_count(); ++i) {
      const std::string method = descriptor->method(i)->name();
      const std::string grpc_path = absl::StrCat("/", service, "/", method);
      for (const auto& rule_value : policy.fields().at("allow_rules").list_value().values()) {
        const google::protobuf::Struct& rule = rule_value.struct_value();
        const std::string name = rule.fields().at("name").string_value();
        // Principal rules are named by their role, token rules "token-{role}".
        const std::string role_name =
            absl::StartsWith(name, "token-") ? name.substr(6) : name.substr(0, name.find(':'));
        const Role role = RoleFromName(role_name);
        ASSERT_NE(role, Role::kNone) << name;
        EXPECT_EQ(RuleAllowsPath(rule, grpc_path), RoleAllows(role, method))
            << "rule " << name << " and the edge table disagree on " << grpc_path;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace sanhak::auth
