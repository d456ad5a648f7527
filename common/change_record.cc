#include "common/change_record.h"

#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/time_proto.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/message_differencer.h"

namespace sanhak {
namespace {

// Collects the first path element of every difference.
class TopLevelFields : public google::protobuf::util::MessageDifferencer::Reporter {
 public:
  using SpecificField = google::protobuf::util::MessageDifferencer::SpecificField;

  void ReportAdded(const google::protobuf::Message&, const google::protobuf::Message&,
                   const std::vector<SpecificField>& path) override {
    Note(path);
  }
  void ReportDeleted(const google::protobuf::Message&, const google::protobuf::Message&,
                     const std::vector<SpecificField>& path) override {
    Note(path);
  }
  void ReportModified(const google::protobuf::Message&, const google::protobuf::Message&,
                      const std::vector<SpecificField>& path) override {
    Note(path);
  }

  std::vector<std::string> fields() const { return {fields_.begin(), fields_.end()}; }

 private:
  void Note(const std::vector<SpecificField>& path) {
    if (!path.empty() && path[0].field != nullptr) fields_.insert(path[0].field->name());
  }
  std::set<std::string> fields_;
};

}  // namespace

std::vector<std::string> ChangedFields(absl::string_view type, absl::string_view before,
                                       absl::string_view after) {
  const google::protobuf::Descriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          std::string(type));
  if (descriptor == nullptr) return {};
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor);
  std::unique_ptr<google::protobuf::Message> a(prototype->New());
  std::unique_ptr<google::protobuf::Message> b(prototype->New());
  if (!a->ParseFromArray(before.data(), static_cast<int>(before.size())) ||
      !b->ParseFromArray(after.data(), static_cast<int>(after.size()))) {
    return {};
  }
  TopLevelFields reporter;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesTo(&reporter);
  differencer.Compare(*a, *b);
  return reporter.fields();
}

changes::v1::ChangeRecord MakeChangeRecord(absl::string_view service, int64_t sequence,
                                           changes::v1::ChangeKind kind,
                                           const store::Resource& resource,
                                           const store::Resource* before) {
  changes::v1::ChangeRecord record;
  record.set_id(absl::StrCat(service, "-", sequence));
  record.set_service(std::string(service));
  record.set_sequence(sequence);
  record.set_resource_name(resource.name);
  record.set_collection(resource.collection);
  record.set_kind(kind);
  record.mutable_state()->set_type_url(absl::StrCat("type.googleapis.com/", resource.type));
  record.mutable_state()->set_value(resource.data);
  if (kind == changes::v1::UPDATED && before != nullptr) {
    for (std::string& field : ChangedFields(resource.type, before->data, resource.data)) {
      record.add_changed_fields(std::move(field));
    }
  }
  *record.mutable_time() = ToTimestamp(absl::Now());
  record.set_revision(resource.revision);
  return record;
}

}  // namespace sanhak
