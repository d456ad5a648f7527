// Field behavior (google.api.field_behavior, AIP-203) in the registry's and events' APIs:
// the annotations cover every field a client sends, agree with the protos' own prose
// ("Output only"), and a real registry over gRPC on loopback honours them: output-only
// values a client sends are not what it stores or returns, a create without a required
// field is refused naming that field, and an immutable field cannot be updated.
#include "common/field_behavior.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "common/resource_kind.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "sanhak/events/v1/events.pb.h"
#include "tests/registry/registry_fixture.h"

namespace sanhak {
namespace {

using google::api::FieldBehavior;
using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::ServiceDescriptor;
using ::sanhak::testing::Context;
using ::sanhak::testing::ViolatedFields;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

namespace registry_v1 = ::sanhak::registry::v1;

// The services whose APIs these tests check, from the generated descriptors (what the
// binaries carry). Naming a message of each file links it in.
std::vector<const ServiceDescriptor*> ApiServices() {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  (void)registry_v1::Council::descriptor();
  (void)events::v1::Activity::descriptor();
  return {pool->FindServiceByName("sanhak.registry.v1.RegistryService"),
          pool->FindServiceByName("sanhak.events.v1.EventsService")};
}

bool IsOurs(const Descriptor* message) {
  return absl::StartsWith(message->full_name(), "sanhak.");
}

// Every message a client sends (requests and the resources and parts they hold), found by
// walking each method's input through its message fields.
std::vector<const Descriptor*> ClientMessages() {
  std::vector<const Descriptor*> order;
  std::set<const Descriptor*> seen;
  std::vector<const Descriptor*> pending;
  for (const ServiceDescriptor* service : ApiServices()) {
    for (int i = 0; i < service->method_count(); ++i) {
      pending.push_back(service->method(i)->input_type());
    }
  }
  while (!pending.empty()) {
    const Descriptor* message = pending.back();
    pending.pop_back();
    if (!IsOurs(message) || !seen.insert(message).second) continue;
    order.push_back(message);
    for (int i = 0; i < message->field_count(); ++i) {
      if (message->field(i)->message_type() != nullptr) {
        pending.push_back(message->field(i)->message_type());
      }
    }
  }
  return order;
}

// The resources: what each Get method returns.
std::vector<const Descriptor*> Resources() {
  std::vector<const Descriptor*> resources;
  for (const ServiceDescriptor* service : ApiServices()) {
    for (int i = 0; i < service->method_count(); ++i) {
      if (absl::StartsWith(service->method(i)->name(), "Get")) {
        resources.push_back(service->method(i)->output_type());
      }
    }
  }
  return resources;
}

std::vector<std::string> Names(const std::vector<const FieldDescriptor*>& fields) {
  std::vector<std::string> names;
  for (const FieldDescriptor* f : fields) names.push_back(f->name());
  return names;
}

TEST(FieldBehaviorTest, TheServicesAndTheirMessagesAreFound) {
  for (const ServiceDescriptor* service : ApiServices()) ASSERT_NE(service, nullptr);
  std::vector<std::string> names;
  for (const Descriptor* d : ClientMessages()) names.push_back(d->full_name());
  EXPECT_THAT(names, Contains("sanhak.registry.v1.Council"));
  EXPECT_THAT(names, Contains("sanhak.registry.v1.MemberComposition"));
  EXPECT_THAT(names, Contains("sanhak.events.v1.TimetableSlot"));
  EXPECT_THAT(names, Contains("sanhak.audit.v1.ListAuditEntriesRequest"));
  EXPECT_THAT(names, Not(Contains("sanhak.registry.v1.ListCouncilsResponse")));
  EXPECT_EQ(Resources().size(), 10u);
}

// AIP-203: every field of a message used in a request says how it behaves, by exactly
// one of REQUIRED, OPTIONAL, OUTPUT_ONLY and IDENTIFIER (IMMUTABLE and NON_EMPTY_DEFAULT
// qualify one of those).
TEST(FieldBehaviorTest, EveryFieldAClientSendsHasExactlyOneBehavior) {
  for (const Descriptor* message : ClientMessages()) {
    for (int i = 0; i < message->field_count(); ++i) {
      const FieldDescriptor* f = message->field(i);
      int kinds = 0;
      for (FieldBehavior b : {google::api::REQUIRED, google::api::OPTIONAL,
                              google::api::OUTPUT_ONLY, google::api::IDENTIFIER}) {
        kinds += HasBehavior(f, b);
      }
      EXPECT_EQ(kinds, 1) << f->full_name();
    }
  }
}

// The resource's `name` is its IDENTIFIER (AIP-203 as of 2023); a request naming one
// resource (Get, Delete, Undelete) requires the name.
TEST(FieldBehaviorTest, NamesAreIdentifiersOfResourcesAndRequiredInRequests) {
  for (const Descriptor* resource : Resources()) {
    const FieldDescriptor* name = resource->FindFieldByName("name");
    ASSERT_NE(name, nullptr) << resource->full_name();
    EXPECT_TRUE(HasBehavior(name, google::api::IDENTIFIER)) << name->full_name();
    EXPECT_THAT(Names(FieldsWith(resource, google::api::IDENTIFIER)), ElementsAre("name"))
        << resource->full_name();
  }
  for (const ServiceDescriptor* service : ApiServices()) {
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string& method = service->method(i)->name();
      if (absl::StartsWith(method, "Get") || absl::StartsWith(method, "Delete") ||
          absl::StartsWith(method, "Undelete")) {
        const FieldDescriptor* name =
            service->method(i)->input_type()->FindFieldByName("name");
        ASSERT_NE(name, nullptr) << method;
        EXPECT_TRUE(HasBehavior(name, google::api::REQUIRED)) << name->full_name();
      }
    }
  }
}

// The times a store keeps are output only wherever they appear. The etag is not: an
// update reads the one the client sends back and refuses a stale one (AIP-154), so it is
// OPTIONAL, and ignored on create (checked against the server below).
TEST(FieldBehaviorTest, MetaFieldsAreOutputOnlyAndTheEtagIsOptional) {
  int times = 0, etags = 0;
  for (const Descriptor* message : ClientMessages()) {
    for (const char* time : {"create_time", "update_time", "delete_time"}) {
      if (const FieldDescriptor* f = message->FindFieldByName(time); f != nullptr) {
        ++times;
        EXPECT_TRUE(HasBehavior(f, google::api::OUTPUT_ONLY)) << f->full_name();
      }
    }
    if (const FieldDescriptor* f = message->FindFieldByName("etag"); f != nullptr) {
      ++etags;
      EXPECT_TRUE(HasBehavior(f, google::api::OPTIONAL)) << f->full_name();
      EXPECT_FALSE(HasBehavior(f, google::api::OUTPUT_ONLY)) << f->full_name();
    }
  }
  EXPECT_EQ(times, 7 * 2 + 3);  // 7 writable resources; 3 soft-deleted kinds
  EXPECT_GT(etags, 7);          // the resources and the Delete/Undelete requests
}

// The protos as written, comments included (generated code drops them): built by protoc
// with --include_source_info (protos/CMakeLists.txt) into a pool of its own.
class SourceInfoPool {
 public:
  SourceInfoPool() {
    std::ifstream in(SANHAK_API_DESCRIPTOR_SET, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    EXPECT_TRUE(in.good()) << "cannot read " << SANHAK_API_DESCRIPTOR_SET;
    google::protobuf::FileDescriptorSet set;
    EXPECT_TRUE(set.ParseFromString(bytes.str()));
    // --include_imports lists every file after the files it imports.
    for (const google::protobuf::FileDescriptorProto& file : set.file()) {
      const google::protobuf::FileDescriptor* built = pool_.BuildFile(file);
      EXPECT_NE(built, nullptr) << file.name();
    }
  }
  const DescriptorPool& pool() const { return pool_; }

 private:
  DescriptorPool pool_;
};

std::string LeadingComment(const FieldDescriptor* f) {
  google::protobuf::SourceLocation location;
  if (!f->GetSourceLocation(&location)) return "";
  return std::string(absl::StripLeadingAsciiWhitespace(location.leading_comments));
}

// The prose and the annotation say the same: a field whose comment begins "Output only"
// is OUTPUT_ONLY, and every OUTPUT_ONLY field's comment begins so.
// Calls `check` with each field of the registry's and events' top-level messages, as
// written (with its comment) and as generated (what the binaries carry).
void ForEachApiField(
    const std::function<void(const FieldDescriptor* from_source,
                             const FieldDescriptor* generated)>& check) {
  SourceInfoPool source;
  for (const char* file :
       {"sanhak/registry/v1/registry.proto", "sanhak/events/v1/events.proto"}) {
    const google::protobuf::FileDescriptor* from_source = source.pool().FindFileByName(file);
    ASSERT_NE(from_source, nullptr) << file;
    for (int m = 0; m < from_source->message_type_count(); ++m) {
      const Descriptor* message = from_source->message_type(m);
      for (int i = 0; i < message->field_count(); ++i) {
        const FieldDescriptor* f = message->field(i);
        const FieldDescriptor* generated =
            DescriptorPool::generated_pool()->FindFieldByName(f->full_name());
        ASSERT_NE(generated, nullptr) << f->full_name();
        check(f, generated);
      }
    }
  }
}

TEST(FieldBehaviorTest, OutputOnlyCommentsAndAnnotationsAgree) {
  int commented = 0;
  ForEachApiField([&](const FieldDescriptor* f, const FieldDescriptor* generated) {
    const bool says = absl::StartsWith(LeadingComment(f), "Output only");
    commented += says;
    EXPECT_EQ(says, HasBehavior(generated, google::api::OUTPUT_ONLY))
        << f->full_name() << ": comment \"" << LeadingComment(f) << "\"";
  });
  // Source info was there: the resources' times alone are 17 such comments.
  EXPECT_GE(commented, 17);
}

// The first resource name pattern a comment quotes, e.g. "councils" for "`councils/{council}`:
// the host"; empty when it quotes none.
std::string QuotedCollection(const std::string& comment) {
  const size_t open = comment.find('`');
  if (open == std::string::npos) return "";
  const size_t slash = comment.find("/{", open);
  const size_t close = comment.find('`', open + 1);
  if (slash == std::string::npos || close == std::string::npos || slash > close) return "";
  const std::string collection = comment.substr(open + 1, slash - open - 1);
  return collection.find_first_of(" /") == std::string::npos ? collection : "";
}

// The prose and google.api.resource_reference say the same: a field whose comment quotes
// a resource name pattern names that kind, and every field that names a kind says so in
// its comment. Identifiers (a resource's own name) quote their own pattern and are no
// references.
TEST(FieldBehaviorTest, ResourceReferenceCommentsAndAnnotationsAgree) {
  int references = 0;
  ForEachApiField([&](const FieldDescriptor* f, const FieldDescriptor* generated) {
    if (HasBehavior(generated, google::api::IDENTIFIER)) return;
    std::string comment = LeadingComment(f);
    if (absl::StartsWith(comment, "Output only: ")) comment = comment.substr(13);
    const std::string quoted = QuotedCollection(comment);
    const ResourceKind* named = ResourceKind::NamedBy(generated);
    references += named != nullptr;
    EXPECT_EQ(quoted, named == nullptr ? "" : named->collection())
        << f->full_name() << ": comment \"" << LeadingComment(f) << "\"";
  });
  EXPECT_GE(references, 25);
}

// ------------------------------------------------------------------ the library itself

TEST(FieldBehaviorTest, ClearOutputOnlyClearsThemAtAnyDepthAndKeepsTheRest) {
  registry_v1::ListCouncilsResponse response;
  registry_v1::Council* c = response.add_councils();
  c->set_name("councils/x");
  c->set_display_name("x");
  c->add_regions("regions/seoul");
  c->set_membership_count(3);
  c->set_etag("e1");
  c->mutable_create_time()->set_seconds(1);
  c->mutable_update_time()->set_seconds(2);
  c->mutable_delete_time()->set_seconds(3);
  c->mutable_reported_members()->set_total(5);
  response.set_next_page_token("t");
  ClearOutputOnly(response);
  registry_v1::ListCouncilsResponse want;
  registry_v1::Council* w = want.add_councils();
  w->set_name("councils/x");
  w->set_display_name("x");
  w->set_etag("e1");
  w->mutable_reported_members()->set_total(5);
  want.set_next_page_token("t");
  EXPECT_EQ(response.DebugString(), want.DebugString());
}

// ------------------------------------------------------------------ a real registry

// A value no server would choose, in `field` of `message`: a string, a number, true, the
// last enum value, or a sub-message with its first field so set; one entry of a list.
void SetClientValue(Message& message, const FieldDescriptor* f);

void SetFirstField(Message& message) {
  SetClientValue(message, message.GetDescriptor()->field(0));
}

void SetClientValue(Message& message, const FieldDescriptor* f) {
  const Reflection* r = message.GetReflection();
  const int last_enum =
      f->enum_type() != nullptr
          ? f->enum_type()->value(f->enum_type()->value_count() - 1)->number()
          : 0;
  if (f->is_repeated()) {
    r->ClearField(&message, f);
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        return r->AddString(&message, f, "client-value");
      case FieldDescriptor::CPPTYPE_INT32:
        return r->AddInt32(&message, f, 424242);
      case FieldDescriptor::CPPTYPE_INT64:
        return r->AddInt64(&message, f, 424242);
      case FieldDescriptor::CPPTYPE_BOOL:
        return r->AddBool(&message, f, true);
      case FieldDescriptor::CPPTYPE_ENUM:
        return r->AddEnumValue(&message, f, last_enum);
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return SetFirstField(*r->AddMessage(&message, f));
      default:
        FAIL() << "no client value for " << f->full_name();
    }
  }
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return r->SetString(&message, f, "client-value");
    case FieldDescriptor::CPPTYPE_INT32:
      return r->SetInt32(&message, f, 424242);
    case FieldDescriptor::CPPTYPE_INT64:
      return r->SetInt64(&message, f, 424242);
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->SetBool(&message, f, true);
    case FieldDescriptor::CPPTYPE_ENUM:
      return r->SetEnumValue(&message, f, last_enum);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return SetFirstField(*r->MutableMessage(&message, f));
    default:
      FAIL() << "no client value for " << f->full_name();
  }
}

// `field` of `message` alone, as text: "" when unset.
std::string FieldText(const Message& message, const FieldDescriptor* field) {
  std::unique_ptr<Message> only(message.New());
  only->CopyFrom(message);
  std::vector<const FieldDescriptor*> set;
  only->GetReflection()->ListFields(*only, &set);
  for (const FieldDescriptor* f : set) {
    if (f != field) only->GetReflection()->ClearField(only.get(), f);
  }
  return only->ShortDebugString();
}

constexpr char kWorld[] = R"pb(
  fields { name: "fields/mobility" display_name: "미래 모빌리티" }
  regions { name: "regions/seoul" display_name: "서울특별시" short_name: "서울" }
  regions { name: "regions/ulsan" display_name: "울산광역시" short_name: "울산" }
  complexes {
    name: "complexes/seoul-digital"
    display_name: "디지털첨단국가"
    region: "regions/seoul"
    kind: NATIONAL
  }
  complexes {
    name: "complexes/mipo-onsan"
    display_name: "미포·온산국가"
    region: "regions/ulsan"
    kind: NATIONAL
  }
  organizations {
    name: "organizations/kicox"
    display_name: "한국산업단지공단"
    kind: GOVERNMENT
  }
  councils {
    name: "councils/smart-mobility"
    display_name: "스마트그린모빌리티"
    field: "fields/mobility"
    complexes: "complexes/seoul-digital"
    complexes: "complexes/mipo-onsan"
  }
)pb";

// One writable kind of the registry, for tests that run alike on each: the request field
// holding the resource, a valid resource to create, and the three calls.
template <typename Resource, typename CreateRequest, typename UpdateRequest>
struct Kind {
  using CreateType = CreateRequest;
  using UpdateType = UpdateRequest;
  std::string field;  // e.g. "council": the resource's field in its requests
  Resource valid;
  // Fills the create request's other fields (e.g. a membership's parent).
  std::function<void(CreateRequest&)> complete = [](CreateRequest&) {};
  std::function<grpc::Status(const CreateRequest&, Resource*)> create;
  std::function<grpc::Status(const UpdateRequest&, Resource*)> update;
  std::function<grpc::Status(const std::string&, Resource*)> get;
  // Changes one field an update may change, at `change_path`.
  std::function<void(Resource&)> change;
  std::string change_path;

  // The create request for `resource`.
  CreateRequest Create(const Resource& resource) const {
    CreateRequest request;
    const FieldDescriptor* f = request.GetDescriptor()->FindFieldByName(field);
    request.GetReflection()->MutableMessage(&request, f)->CopyFrom(resource);
    complete(request);
    return request;
  }
};

template <typename K>
using CreateRequestOf = typename K::CreateType;
template <typename K>
using UpdateRequestOf = typename K::UpdateType;

// The top-level field `name` of `message`'s type.
const FieldDescriptor* ResourceField(const Message& message, const std::string& name) {
  const FieldDescriptor* f = message.GetDescriptor()->FindFieldByName(name);
  EXPECT_NE(f, nullptr) << message.GetDescriptor()->full_name() << "." << name;
  return f;
}

// Reflection works alike on every generated message; one for the calls below.
struct ReflectionOf {
  Message* MutableMessage(Message* m, const FieldDescriptor* f) const {
    return m->GetReflection()->MutableMessage(m, f);
  }
  void ClearField(Message* m, const FieldDescriptor* f) const {
    m->GetReflection()->ClearField(m, f);
  }
};
ReflectionOf Reflect() { return {}; }

class FieldBehaviorRegistryTest : public registry::RegistryFixture {
 protected:
  void SetUp() override {
    registry_v1::RegistryData world;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kWorld, &world));
    std::string path = dir_.File("world.textproto");
    std::ofstream(path) << world.DebugString();
    StartRegistry(path);
  }

  auto Councils() {
    Kind<registry_v1::Council, registry_v1::CreateCouncilRequest,
         registry_v1::UpdateCouncilRequest>
        kind;
    kind.field = "council";
    kind.valid.set_display_name("서울+울산 모빌리티");
    kind.valid.set_field("fields/mobility");
    kind.valid.add_complexes("complexes/seoul-digital");
    kind.valid.add_complexes("complexes/mipo-onsan");
    kind.change = [](registry_v1::Council& c) { c.set_display_name("서울+울산 모빌리티 2"); };
    kind.change_path = "display_name";
    kind.create = [this](const auto& request, auto* out) {
      return stub_->CreateCouncil(Context().get(), request, out);
    };
    kind.update = [this](const auto& request, auto* out) {
      return stub_->UpdateCouncil(Context().get(), request, out);
    };
    kind.get = [this](const std::string& name, auto* out) {
      registry_v1::GetCouncilRequest request;
      request.set_name(name);
      return stub_->GetCouncil(Context().get(), request, out);
    };
    return kind;
  }

  auto Organizations() {
    Kind<registry_v1::Organization, registry_v1::CreateOrganizationRequest,
         registry_v1::UpdateOrganizationRequest>
        kind;
    kind.field = "organization";
    kind.valid.set_display_name("울산대학교");
    kind.valid.set_kind(registry_v1::UNIVERSITY);
    kind.change = [](registry_v1::Organization& o) { o.set_description("공과대학"); };
    kind.change_path = "description";
    kind.create = [this](const auto& request, auto* out) {
      return stub_->CreateOrganization(Context().get(), request, out);
    };
    kind.update = [this](const auto& request, auto* out) {
      return stub_->UpdateOrganization(Context().get(), request, out);
    };
    kind.get = [this](const std::string& name, auto* out) {
      registry_v1::GetOrganizationRequest request;
      request.set_name(name);
      return stub_->GetOrganization(Context().get(), request, out);
    };
    return kind;
  }

  auto Complexes() {
    Kind<registry_v1::IndustrialComplex, registry_v1::CreateComplexRequest,
         registry_v1::UpdateComplexRequest>
        kind;
    kind.field = "complex";
    kind.valid.set_display_name("온산국가");
    kind.valid.set_region("regions/ulsan");
    kind.valid.set_kind(registry_v1::NATIONAL);
    kind.change = [](registry_v1::IndustrialComplex& c) { c.add_aliases("온산"); };
    kind.change_path = "aliases";
    kind.create = [this](const auto& request, auto* out) {
      return stub_->CreateComplex(Context().get(), request, out);
    };
    kind.update = [this](const auto& request, auto* out) {
      return stub_->UpdateComplex(Context().get(), request, out);
    };
    kind.get = [this](const std::string& name, auto* out) {
      registry_v1::GetComplexRequest request;
      request.set_name(name);
      return stub_->GetComplex(Context().get(), request, out);
    };
    return kind;
  }

  auto Memberships() {
    Kind<registry_v1::Membership, registry_v1::CreateMembershipRequest,
         registry_v1::UpdateMembershipRequest>
        kind;
    kind.field = "membership";
    kind.valid.set_organization("organizations/kicox");
    kind.valid.set_role(registry_v1::MEMBER);
    kind.change = [](registry_v1::Membership& m) { m.set_role(registry_v1::LEADING_COMPANY); };
    kind.change_path = "role";
    kind.complete = [](registry_v1::CreateMembershipRequest& request) {
      request.set_parent("councils/smart-mobility");
    };
    kind.create = [this](const auto& request, auto* out) {
      return stub_->CreateMembership(Context().get(), request, out);
    };
    kind.update = [this](const auto& request, auto* out) {
      return stub_->UpdateMembership(Context().get(), request, out);
    };
    kind.get = [this](const std::string& name, auto* out) {
      registry_v1::GetMembershipRequest request;
      request.set_name(name);
      return stub_->GetMembership(Context().get(), request, out);
    };
    return kind;
  }

  // Creates with every OUTPUT_ONLY field (and the etag) set by the client, then updates
  // with them set again: neither the answers nor what is stored carry the client's values.
  template <typename K>
  void ExpectOutputOnlyIgnored(const K& kind) {
    using Resource = decltype(kind.valid);
    const std::vector<const FieldDescriptor*> output_only =
        FieldsWith(Resource::descriptor(), google::api::OUTPUT_ONLY);
    ASSERT_THAT(output_only, Not(IsEmpty())) << Resource::descriptor()->full_name();
    Resource sent = kind.valid;
    for (const FieldDescriptor* f : output_only) SetClientValue(sent, f);
    sent.set_etag("client-etag");

    Resource created, stored;
    grpc::Status status = kind.create(kind.Create(sent), &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(kind.get(created.name(), &stored).ok());
    for (const FieldDescriptor* f : output_only) {
      EXPECT_NE(FieldText(created, f), FieldText(sent, f))
          << "create answered " << f->full_name();
      EXPECT_NE(FieldText(stored, f), FieldText(sent, f))
          << "create stored " << f->full_name();
      EXPECT_EQ(FieldText(stored, f), FieldText(created, f)) << f->full_name();
    }
    EXPECT_THAT(created.etag(), Not(IsEmpty()));
    EXPECT_NE(created.etag(), "client-etag");
    EXPECT_EQ(stored.etag(), created.etag());
    if (const FieldDescriptor* f = Resource::descriptor()->FindFieldByName("delete_time")) {
      EXPECT_EQ(FieldText(stored, f), "") << "a create made it deleted";
    }

    // An update of one field the kind may change, with the etag read: the same again.
    Resource patch = sent;
    patch.set_name(created.name());
    patch.set_etag(created.etag());
    kind.change(patch);
    UpdateRequestOf<K> request;
    Reflect().MutableMessage(&request, ResourceField(request, kind.field))->CopyFrom(patch);
    request.mutable_update_mask()->add_paths(kind.change_path);
    Resource updated, restored;
    status = kind.update(request, &updated);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(kind.get(created.name(), &restored).ok());
    EXPECT_NE(updated.etag(), created.etag());
    EXPECT_EQ(FieldText(updated, ResourceField(updated, kind.change_path)),
              FieldText(patch, ResourceField(patch, kind.change_path)));
    for (const FieldDescriptor* f : output_only) {
      EXPECT_NE(FieldText(updated, f), FieldText(sent, f))
          << "update answered " << f->full_name();
      EXPECT_NE(FieldText(restored, f), FieldText(sent, f))
          << "update stored " << f->full_name();
    }
    EXPECT_EQ(FieldText(updated, ResourceField(updated, "create_time")),
              FieldText(created, ResourceField(created, "create_time")));

    // A mask naming an output-only field is refused, naming the mask: nothing to update.
    for (const FieldDescriptor* f : output_only) {
      UpdateRequestOf<K> bad = request;
      Message* resource = Reflect().MutableMessage(&bad, ResourceField(bad, kind.field));
      Reflect().ClearField(resource, ResourceField(*resource, "etag"));
      bad.mutable_update_mask()->clear_paths();
      bad.mutable_update_mask()->add_paths(f->name());
      Resource out;
      status = kind.update(bad, &out);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << f->full_name();
      EXPECT_THAT(ViolatedFields(status), ElementsAre("update_mask")) << f->full_name();
    }
  }

  // A create with one REQUIRED field cleared, for each such field of the resource and of
  // the create request, where the request whole passes: INVALID_ARGUMENT naming that field
  // (the resource's fields as `council.display_name`, the request's own by their name).
  template <typename K>
  void ExpectRequiredFieldsRequired(const K& kind) {
    using Resource = decltype(kind.valid);
    // validate_only: every check runs and nothing is written, so the valid request stays
    // valid (no id or membership taken) for each case built from it.
    CreateRequestOf<K> valid = kind.Create(kind.valid);
    valid.set_validate_only(true);
    std::vector<std::pair<std::string, CreateRequestOf<K>>> cases;
    for (const FieldDescriptor* f :
         FieldsWith(Resource::descriptor(), google::api::REQUIRED)) {
      CreateRequestOf<K> request = valid;
      Message* resource =
          Reflect().MutableMessage(&request, ResourceField(request, kind.field));
      resource->GetReflection()->ClearField(resource, f);
      cases.emplace_back(absl::StrCat(kind.field, ".", f->name()), request);
    }
    for (const FieldDescriptor* f : FieldsWith(valid.GetDescriptor(), google::api::REQUIRED)) {
      if (f->name() == kind.field) continue;  // the resource: its own fields, above
      CreateRequestOf<K> request = valid;
      Reflect().ClearField(&request, f);
      cases.emplace_back(f->name(), request);
    }
    ASSERT_THAT(cases, Not(IsEmpty())) << valid.GetDescriptor()->full_name();
    Resource out;
    ASSERT_TRUE(kind.create(valid, &out).ok()) << "the valid create itself failed";
    for (const auto& [path, request] : cases) {
      grpc::Status status = kind.create(request, &out);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << path;
      EXPECT_THAT(ViolatedFields(status), Contains(path)) << status.error_message();
    }
  }

  // An update whose mask names an IMMUTABLE field is refused, naming the mask. Returns
  // how many such fields the kind has.
  template <typename K>
  int ExpectImmutableFieldsRefused(const K& kind) {
    using Resource = decltype(kind.valid);
    const std::vector<const FieldDescriptor*> immutable =
        FieldsWith(Resource::descriptor(), google::api::IMMUTABLE);
    if (immutable.empty()) return 0;
    Resource created;
    grpc::Status status = kind.create(kind.Create(kind.valid), &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (const FieldDescriptor* f : immutable) {
      Resource patch = created;
      SetClientValue(patch, f);
      UpdateRequestOf<K> request;
      Reflect().MutableMessage(&request, ResourceField(request, kind.field))->CopyFrom(patch);
      request.mutable_update_mask()->add_paths(f->name());
      Resource out;
      status = kind.update(request, &out);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << f->full_name();
      EXPECT_THAT(ViolatedFields(status), ElementsAre("update_mask")) << f->full_name();
      Resource stored;
      EXPECT_TRUE(kind.get(created.name(), &stored).ok());
      EXPECT_EQ(FieldText(stored, f), FieldText(created, f)) << f->full_name();
    }
    return static_cast<int>(immutable.size());
  }
};

TEST_F(FieldBehaviorRegistryTest, OutputOnlyValuesAClientSendsAreIgnored) {
  {
    SCOPED_TRACE("councils");
    ExpectOutputOnlyIgnored(Councils());
  }
  {
    SCOPED_TRACE("organizations");
    ExpectOutputOnlyIgnored(Organizations());
  }
  {
    SCOPED_TRACE("complexes");
    ExpectOutputOnlyIgnored(Complexes());
  }
  {
    SCOPED_TRACE("memberships");
    ExpectOutputOnlyIgnored(Memberships());
  }
}

TEST_F(FieldBehaviorRegistryTest, CreateWithoutARequiredFieldIsRefusedNamingIt) {
  {
    SCOPED_TRACE("councils");
    ExpectRequiredFieldsRequired(Councils());
  }
  {
    SCOPED_TRACE("organizations");
    ExpectRequiredFieldsRequired(Organizations());
  }
  {
    SCOPED_TRACE("complexes");
    ExpectRequiredFieldsRequired(Complexes());
  }
  {
    SCOPED_TRACE("memberships");
    ExpectRequiredFieldsRequired(Memberships());
  }
}

TEST_F(FieldBehaviorRegistryTest, ImmutableFieldsCannotBeUpdated) {
  int immutable = ExpectImmutableFieldsRefused(Councils()) +
                  ExpectImmutableFieldsRefused(Organizations()) +
                  ExpectImmutableFieldsRefused(Complexes()) +
                  ExpectImmutableFieldsRefused(Memberships());
  EXPECT_GE(immutable, 1);  // a membership's organization
}

// Every registry method whose request has one REQUIRED field, called with an empty
// request through a generic stub: INVALID_ARGUMENT naming that field (or a field inside
// it, for a resource).
TEST_F(FieldBehaviorRegistryTest, EmptyRequestsNameTheirRequiredField) {
  const ServiceDescriptor* service = ApiServices()[0];
  grpc::GenericStub generic(channel_);
  int checked = 0;
  for (int i = 0; i < service->method_count(); ++i) {
    const Descriptor* input = service->method(i)->input_type();
    const std::vector<const FieldDescriptor*> required =
        FieldsWith(input, google::api::REQUIRED);
    if (required.size() != 1) continue;
    ++checked;
    const std::string path = required[0]->name();
    grpc::Slice empty;
    grpc::ByteBuffer request(&empty, 1), response;
    grpc::Status status;
    absl::Notification done;
    auto context = Context();
    generic.UnaryCall(context.get(),
                      absl::StrCat("/", service->full_name(), "/", service->method(i)->name()),
                      grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << service->method(i)->name() << ": " << status.error_message();
    std::vector<std::string> fields = ViolatedFields(status);
    EXPECT_TRUE(std::any_of(fields.begin(), fields.end(),
                            [&](const std::string& f) {
                              return f == path || absl::StartsWith(f, absl::StrCat(path, "."));
                            }))
        << service->method(i)->name() << " names " << absl::StrJoin(fields, ", ") << ", not "
        << path;
  }
  EXPECT_GE(checked, 20);
}

}  // namespace
}  // namespace sanhak
