// Which build this is: what every binary's --version prints and sanhak_build_info reports.
#ifndef SANHAK_COMMON_VERSION_H_
#define SANHAK_COMMON_VERSION_H_

#include <string>

#include "absl/strings/string_view.h"

namespace sanhak {

// SANHAK_VERSION as the build was configured (by default `git describe` of the checkout),
// "unknown" when there was none.
absl::string_view BuildVersion();

// What `PROGRAM --version` prints: the program, this build's version, and the gRPC and
// protobuf it runs on, one per line.
std::string VersionText(absl::string_view program);
// The same as one JSON object: {"program":..,"version":..,"grpc":..,"protobuf":..}.
std::string VersionJson(absl::string_view program);

// Makes abseil's built-in --version flag print VersionText(program); for binaries that
// parse their flags with absl::ParseCommandLine. Call before it.
void SetVersionFlagText(absl::string_view program);

}  // namespace sanhak

#endif  // SANHAK_COMMON_VERSION_H_
