// Reading google.api.field_behavior (AIP-203) from descriptors, so code and tests can ask
// the protos which fields are required, output only, immutable or the identifier instead
// of restating it per resource kind.
#ifndef SANHAK_COMMON_FIELD_BEHAVIOR_H_
#define SANHAK_COMMON_FIELD_BEHAVIOR_H_

#include <vector>

#include "google/api/field_behavior.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sanhak {

// Whether `field` is annotated with `behavior`.
bool HasBehavior(const google::protobuf::FieldDescriptor* field,
                 google::api::FieldBehavior behavior);

// Whether `field` carries any field_behavior annotation at all.
bool HasAnyBehavior(const google::protobuf::FieldDescriptor* field);

// The fields of `message` (its own, not of sub-messages; in declaration order) annotated
// with `behavior`.
std::vector<const google::protobuf::FieldDescriptor*> FieldsWith(
    const google::protobuf::Descriptor* message, google::api::FieldBehavior behavior);

// Clears every OUTPUT_ONLY field of `message` and of the messages it holds, at any depth:
// what a service does to a resource a client sent (AIP-203: a value sent in an output-only
// field is ignored).
void ClearOutputOnly(google::protobuf::Message& message);

}  // namespace sanhak

#endif  // SANHAK_COMMON_FIELD_BEHAVIOR_H_
