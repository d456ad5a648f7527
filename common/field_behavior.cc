#include "common/field_behavior.h"

#include <algorithm>

namespace sanhak {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool HasBehavior(const FieldDescriptor* field, google::api::FieldBehavior behavior) {
  const auto& behaviors = field->options().GetRepeatedExtension(google::api::field_behavior);
  return std::find(behaviors.begin(), behaviors.end(), behavior) != behaviors.end();
}

bool HasAnyBehavior(const FieldDescriptor* field) {
  return field->options().ExtensionSize(google::api::field_behavior) > 0;
}

std::vector<const FieldDescriptor*> FieldsWith(const Descriptor* message,
                                               google::api::FieldBehavior behavior) {
  std::vector<const FieldDescriptor*> fields;
  for (int i = 0; i < message->field_count(); ++i) {
    if (HasBehavior(message->field(i), behavior)) fields.push_back(message->field(i));
  }
  return fields;
}

void ClearOutputOnly(Message& message) {
  const Reflection* reflection = message.GetReflection();
  // Only the fields set: an unset sub-message holds nothing to clear, and walking only
  // set fields bounds the work by the message's size, also for recursive types.
  std::vector<const FieldDescriptor*> set;
  reflection->ListFields(message, &set);
  for (const FieldDescriptor* field : set) {
    if (HasBehavior(field, google::api::OUTPUT_ONLY)) {
      reflection->ClearField(&message, field);
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          ClearOutputOnly(*reflection->MutableRepeatedMessage(&message, field, i));
        }
      } else {
        ClearOutputOnly(*reflection->MutableMessage(&message, field));
      }
    }
  }
}

}  // namespace sanhak
