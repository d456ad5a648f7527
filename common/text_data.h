// Reading data bundles written in protobuf text format (data/*.textproto).
#ifndef SANHAK_COMMON_TEXT_DATA_H_
#define SANHAK_COMMON_TEXT_DATA_H_

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace sanhak {

// Parses the file at `path` into `message`. NOT_FOUND when unreadable; INVALID_ARGUMENT
// naming the line and column of the first syntax error.
absl::Status LoadTextProto(const std::string& path, google::protobuf::Message* message);

}  // namespace sanhak

#endif  // SANHAK_COMMON_TEXT_DATA_H_
