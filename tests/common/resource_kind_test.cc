// Resource kinds read from the registry's and events' protos (google.api.resource and
// google.api.resource_reference): what each kind's collection, parent, updatable fields
// and references come out as is what the API documents for it, and every reference in
// both APIs resolves to a kind.
#include "common/resource_kind.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sanhak/events/v1/events.pb.h"
#include "sanhak/registry/v1/registry.pb.h"
#include "sanhak/store/v1/index.pb.h"

namespace sanhak {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

namespace registry_v1 = ::sanhak::registry::v1;
namespace events_v1 = ::sanhak::events::v1;

std::vector<std::string> Paths(const ResourceKind& kind) {
  std::vector<std::string> paths;
  for (const ReferenceField& reference : kind.references()) paths.push_back(reference.path);
  return paths;
}

std::vector<std::string> Collections(const ResourceKind& kind) {
  std::vector<std::string> collections;
  for (const ReferenceField& reference : kind.references()) {
    collections.push_back(reference.kind == nullptr ? "(unresolved)"
                                                    : reference.kind->collection());
  }
  return collections;
}

TEST(ResourceKindTest, ACouncilIsNamedInCouncilsAndIsSoftDeleted) {
  const ResourceKind& council = ResourceKind::Of<registry_v1::Council>();
  EXPECT_EQ(council.type(), "registry.sanhak.kr/Council");
  EXPECT_EQ(council.pattern(), "councils/{council}");
  EXPECT_EQ(council.collection(), "councils");
  EXPECT_EQ(council.parent_collection(), "");
  EXPECT_EQ(council.id_variable(), "council");
  EXPECT_EQ(council.singular(), "council");
  EXPECT_EQ(council.plural(), "councils");
  EXPECT_EQ(council.message(), registry_v1::Council::descriptor());
  EXPECT_TRUE(council.soft_deletable());
  // What UpdateCouncil's mask may name (the proto's fields less name, etag and the
  // output-only ones).
  EXPECT_THAT(council.mutable_paths(),
              ElementsAre("display_name", "field", "forum_session", "complexes",
                          "host_organization", "launch_date", "reported_members",
                          "description", "outcome_summary"));
  EXPECT_THAT(council.output_only_paths(),
              ElementsAre("regions", "membership_count", "create_time", "update_time",
                          "delete_time"));
  // `regions` names regions too, but the service sets it: not a reference a client writes.
  EXPECT_THAT(Paths(council), ElementsAre("field", "complexes", "host_organization"));
  EXPECT_THAT(Collections(council), ElementsAre("fields", "complexes", "organizations"));
}

TEST(ResourceKindTest, AMembershipIsAChildOfACouncilAndKeepsItsOrganization) {
  const ResourceKind& membership = ResourceKind::Of<registry_v1::Membership>();
  EXPECT_EQ(membership.collection(), "memberships");
  EXPECT_EQ(membership.parent_collection(), "councils");
  EXPECT_EQ(membership.id_variable(), "membership");
  EXPECT_FALSE(membership.soft_deletable());
  // organization is IMMUTABLE: not in the mask.
  EXPECT_THAT(membership.mutable_paths(), ElementsAre("role", "join_date"));
  EXPECT_THAT(Paths(membership), ElementsAre("organization"));
}

TEST(ResourceKindTest, ReferenceDataAndItsShortNames) {
  const ResourceKind& figure = ResourceKind::Of<registry_v1::ReportedFigure>();
  EXPECT_EQ(figure.collection(), "reportedFigures");
  EXPECT_EQ(figure.id_variable(), "figure");
  EXPECT_EQ(figure.singular(), "reportedFigure");
  const ResourceKind& complex = ResourceKind::Of<registry_v1::IndustrialComplex>();
  EXPECT_EQ(complex.collection(), "complexes");
  EXPECT_EQ(complex.singular(), "complex");
  EXPECT_THAT(complex.mutable_paths(),
              ElementsAre("display_name", "english_name", "region", "kind", "aliases"));
  EXPECT_THAT(ResourceKind::Of<registry_v1::Organization>().mutable_paths(),
              ElementsAre("display_name", "english_name", "kind", "home_complex",
                          "description"));
  EXPECT_EQ(ResourceKind::Of(registry_v1::ListCouncilsRequest::descriptor()), nullptr);
}

TEST(ResourceKindTest, AnActivitysReferencesIncludeItsSessionsAndNameTheRegistrysKinds) {
  const ResourceKind& activity = ResourceKind::Of<events_v1::Activity>();
  EXPECT_EQ(activity.collection(), "activities");
  EXPECT_FALSE(activity.soft_deletable());
  EXPECT_THAT(activity.mutable_paths(),
              ElementsAre("kind", "title", "councils", "start_time", "end_time", "time_zone",
                          "date_only", "place", "reported_attendance",
                          "attendance_approximate", "description", "sessions", "timetable",
                          "press_open_until_slot", "organizer"));
  EXPECT_THAT(Paths(activity),
              ElementsAre("councils", "sessions.fields", "sessions.councils"));
  EXPECT_THAT(Collections(activity), ElementsAre("councils", "fields", "councils"));
  // The events protos do not import the registry's: its councils are known from the
  // file's resource_definition, by pattern only.
  const ResourceKind* council = activity.references()[0].kind;
  EXPECT_EQ(council->type(), "registry.sanhak.kr/Council");
  EXPECT_EQ(council->message(), nullptr);
  EXPECT_EQ(council->id_variable(), "council");
}

TEST(ResourceKindTest, RegistrationsAndOutcomes) {
  const ResourceKind& registration = ResourceKind::Of<events_v1::Registration>();
  EXPECT_EQ(registration.parent_collection(), "activities");
  EXPECT_THAT(registration.mutable_paths(), UnorderedElementsAre("person", "state"));
  EXPECT_THAT(Collections(registration), ElementsAre("organizations"));
  const ResourceKind& outcome = ResourceKind::Of<events_v1::Outcome>();
  EXPECT_THAT(outcome.mutable_paths(),
              ElementsAre("council", "category", "title", "description", "start_date",
                          "end_date", "total_budget_krw", "national_share_krw",
                          "deal_amount_krw", "counts", "activity"));
  EXPECT_THAT(Collections(outcome), ElementsAre("councils", "activities"));
}

TEST(ResourceKindTest, AParentFieldNamesTheParentKind) {
  const ResourceKind* parent = ResourceKind::NamedBy(
      registry_v1::ListMembershipsRequest::descriptor()->FindFieldByName("parent"));
  ASSERT_NE(parent, nullptr);
  EXPECT_EQ(parent, &ResourceKind::Of<registry_v1::Council>());
  const ResourceKind* activity = ResourceKind::NamedBy(
      events_v1::CreateRegistrationRequest::descriptor()->FindFieldByName("parent"));
  EXPECT_EQ(activity, &ResourceKind::Of<events_v1::Activity>());
  EXPECT_EQ(ResourceKind::NamedBy(
                registry_v1::ListCouncilsRequest::descriptor()->FindFieldByName("query")),
            nullptr);
}

// Every field of either API that carries a reference resolves: a misspelt type in a
// proto would leave a kind's reference unchecked.
TEST(ResourceKindTest, EveryReferenceInTheApisResolves) {
  int references = 0;
  for (const google::protobuf::FileDescriptor* file :
       {registry_v1::Council::descriptor()->file(), events_v1::Activity::descriptor()->file()}) {
    for (int m = 0; m < file->message_type_count(); ++m) {
      const google::protobuf::Descriptor* message = file->message_type(m);
      for (int i = 0; i < message->field_count(); ++i) {
        const google::protobuf::FieldDescriptor* field = message->field(i);
        if (!field->options().HasExtension(google::api::resource_reference)) continue;
        ++references;
        EXPECT_NE(ResourceKind::NamedBy(field), nullptr) << field->full_name();
      }
    }
  }
  EXPECT_GE(references, 20);
  EXPECT_EQ(ResourceKind::DeclaredIn(registry_v1::Council::descriptor()->file()).size(), 7u);
  EXPECT_EQ(ResourceKind::DeclaredIn(events_v1::Activity::descriptor()->file()).size(), 3u);
}

TEST(ResourceKindTest, NamesInListsEveryNameWithTheFieldAsErrorsNameIt) {
  events_v1::Activity activity;
  activity.add_councils("councils/a");
  activity.add_councils("councils/b");
  events_v1::ForumSession* session = activity.add_sessions();
  session->add_fields("fields/mobility");
  activity.add_sessions()->add_councils("councils/b");
  std::vector<std::string> found;
  for (const NamedResource& named :
       NamesIn(ResourceKind::Of<events_v1::Activity>(), activity, "activity")) {
    found.push_back(named.path + "=" + named.name + " (" + named.kind->collection() + ")");
  }
  EXPECT_THAT(found, ElementsAre("activity.councils[0]=councils/a (councils)",
                                 "activity.councils[1]=councils/b (councils)",
                                 "activity.sessions[0].fields[0]=fields/mobility (fields)",
                                 "activity.sessions[1].councils[0]=councils/b (councils)"));
  // Empty names are no references.
  registry_v1::Council council;
  council.add_complexes("complexes/x");
  EXPECT_THAT(NamesIn(ResourceKind::Of<registry_v1::Council>(), council, ""),
              ::testing::SizeIs(1));
  EXPECT_THAT(NamesIn(ResourceKind::Of<registry_v1::Region>(), registry_v1::Region(), "r"),
              IsEmpty());
}

// What the stores index comes from the protos (sanhak.store.v1.index): the keys each
// kind declares, and the entries a message holds in them.
TEST(ResourceKindTest, IndexesAreDeclaredOnTheFieldsTheyRead) {
  std::vector<std::string> keys;
  for (const IndexedField& f : ResourceKind::Of<events_v1::Activity>().indexes()) {
    keys.push_back(f.key + "<-" + f.field->name());
  }
  EXPECT_THAT(keys, ElementsAre("kind<-kind", "council<-councils"));
  EXPECT_EQ(*ResourceKind::Of<events_v1::Activity>().index_key("councils"), "council");
  EXPECT_EQ(ResourceKind::Of<events_v1::Activity>().index_key("title"), nullptr);
  EXPECT_EQ(*ResourceKind::Of<registry_v1::Organization>().index_key("home_complex"), "complex");
  EXPECT_THAT(ResourceKind::Of<registry_v1::Region>().indexes(), IsEmpty());
}

TEST(ResourceKindTest, IndexEntriesAreEachSetValueOfEachIndexedField) {
  using Entries = std::vector<std::pair<std::string, std::string>>;
  events_v1::Activity activity;
  activity.set_kind(events_v1::SEMINAR);
  activity.add_councils("councils/a");
  activity.add_councils("councils/b");
  activity.set_title("세미나");
  EXPECT_EQ(ResourceKind::Of<events_v1::Activity>().IndexEntries(activity),
            (Entries{{"kind", "SEMINAR"}, {"council", "councils/a"}, {"council", "councils/b"}}));
  // Unset values are not kept: an enum's 0, an empty string, a number's 0.
  EXPECT_THAT(ResourceKind::Of<events_v1::Activity>().IndexEntries(events_v1::Activity()),
              IsEmpty());
  registry_v1::Council council;
  council.set_field("fields/mobility");
  EXPECT_EQ(ResourceKind::Of<registry_v1::Council>().IndexEntries(council),
            (Entries{{"field", "fields/mobility"}}));
  council.set_forum_session(2);
  council.add_regions("regions/busan");
  council.set_host_organization("organizations/x");
  EXPECT_EQ(ResourceKind::Of<registry_v1::Council>().IndexEntries(council),
            (Entries{{"field", "fields/mobility"},
                     {"session", "2"},
                     {"host", "organizations/x"},
                     {"region", "regions/busan"}}));
  // A oneof member is kept only when chosen.
  events_v1::Registration registration;
  registration.mutable_person()->set_display_name("홍길동");
  EXPECT_EQ(ResourceKind::Of<events_v1::Registration>().IndexEntries(registration),
            Entries{});
  registration.set_organization("organizations/widetns");
  registration.set_state(events_v1::CHECKED_IN);
  EXPECT_EQ(ResourceKind::Of<events_v1::Registration>().IndexEntries(registration),
            (Entries{{"organization", "organizations/widetns"}, {"state", "CHECKED_IN"}}));
}

// Every index declared in either API is on a field an index can keep (a string, an enum
// or an integer, at the top level of a resource message), and no two fields of one kind
// share a key.
TEST(ResourceKindTest, EveryIndexedFieldHoldsValuesAnIndexCanKeep) {
  int indexed = 0;
  for (const google::protobuf::FileDescriptor* file :
       {registry_v1::Council::descriptor()->file(), events_v1::Activity::descriptor()->file()}) {
    for (int m = 0; m < file->message_type_count(); ++m) {
      const google::protobuf::Descriptor* message = file->message_type(m);
      const ResourceKind* kind = ResourceKind::Of(message);
      std::set<std::string> keys;
      for (int i = 0; i < message->field_count(); ++i) {
        const google::protobuf::FieldDescriptor* field = message->field(i);
        if (!field->options().HasExtension(store::v1::index)) continue;
        ++indexed;
        SCOPED_TRACE(field->full_name());
        ASSERT_NE(kind, nullptr) << "indexed, but not a resource";
        EXPECT_THAT(field->cpp_type(),
                    ::testing::AnyOf(google::protobuf::FieldDescriptor::CPPTYPE_STRING,
                                     google::protobuf::FieldDescriptor::CPPTYPE_ENUM,
                                     google::protobuf::FieldDescriptor::CPPTYPE_INT32,
                                     google::protobuf::FieldDescriptor::CPPTYPE_INT64));
        const std::string& key = field->options().GetExtension(store::v1::index);
        EXPECT_FALSE(key.empty());
        EXPECT_TRUE(keys.insert(key).second) << key << " twice";
        EXPECT_EQ(*kind->index_key(field->name()), key);
      }
    }
  }
  EXPECT_EQ(indexed, 20);
}

}  // namespace
}  // namespace sanhak
