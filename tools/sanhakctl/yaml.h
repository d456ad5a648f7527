// `--output=yaml`: the protobuf JSON mapping of what a command prints, written as YAML
// (block style, as kubectl writes it), so YAML and JSON always say the same thing: a
// YAML parser reads back exactly the value the JSON holds.
//
// - Keys keep the JSON's order and spelling (lowerCamelCase).
// - Strings are plain when no YAML 1.1 reader could take them for anything else (a
//   number, a bool such as yes/no, null, a time, a flow or block indicator), else
//   double-quoted; UTF-8 (Korean, emoji) stays as it is, never \u-escaped. Times are the
//   JSON mapping's RFC 3339 text, quoted, so they read back as the same strings.
// - int64 values stay strings, as the JSON mapping has them; other numbers, true, false
//   and null are as in the JSON.
// - A list command prints the List response (`councils: [...]`, `totalSize: 25`), the
//   same object its --output=json prints.
#ifndef SANHAK_TOOLS_SANHAKCTL_YAML_H_
#define SANHAK_TOOLS_SANHAKCTL_YAML_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace sanhak::ctl {

// The JSON text `json` (one value) as a YAML document ending in '\n'. INVALID_ARGUMENT
// for text that is not JSON.
absl::StatusOr<std::string> JsonToYaml(absl::string_view json);

// `message` in protobuf's JSON mapping, as YAML.
std::string ToYaml(const google::protobuf::Message& message);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_YAML_H_
