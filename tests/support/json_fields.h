// One JSON object (a log line, as a shipper would read it) parsed with protobuf's JSON
// parser into its top-level fields.
//
// The fields are copied out of the parsed google.protobuf.Struct through reflection, that
// is inside libprotobuf, because code built with ThreadSanitizer must not look into a
// protobuf Map that the uninstrumented library filled: `fields().at(...)` crashed in
// map.h's bucket lookup under TSan (common_unit_tests runs in the tsan pass).
#ifndef SANHAK_TESTS_SUPPORT_JSON_FIELDS_H_
#define SANHAK_TESTS_SUPPORT_JSON_FIELDS_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sanhak::testing {

using JsonFields = std::map<std::string, google::protobuf::Value>;

inline absl::StatusOr<JsonFields> ParseJsonFields(absl::string_view json) {
  google::protobuf::Struct parsed;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(json), &parsed);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(status.ToString(), " in ", json.substr(0, 200)));
  }
  const google::protobuf::Reflection* reflection = parsed.GetReflection();
  const google::protobuf::FieldDescriptor* fields =
      parsed.GetDescriptor()->FindFieldByName("fields");
  JsonFields out;
  for (int i = 0; i < reflection->FieldSize(parsed, fields); ++i) {
    const google::protobuf::Message& entry = reflection->GetRepeatedMessage(parsed, fields, i);
    const google::protobuf::Descriptor* d = entry.GetDescriptor();
    const google::protobuf::Reflection* r = entry.GetReflection();
    google::protobuf::Value value;
    value.CopyFrom(r->GetMessage(entry, d->FindFieldByName("value")));
    out[r->GetString(entry, d->FindFieldByName("key"))] = std::move(value);
  }
  return out;
}

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_JSON_FIELDS_H_
