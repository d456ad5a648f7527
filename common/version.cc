#include "common/version.h"

#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/common.h"
#include "grpcpp/grpcpp.h"

#ifndef SANHAK_VERSION
#define SANHAK_VERSION "unknown"
#endif

namespace sanhak {

absl::string_view BuildVersion() {
  static constexpr char kVersion[] = SANHAK_VERSION;
  return kVersion[0] != '\0' ? kVersion : "unknown";
}

std::string VersionText(absl::string_view program) {
  return absl::StrCat(program, " ", BuildVersion(), "\ngRPC ", grpc::Version(), "\nprotobuf ",
                      google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION), "\n");
}

std::string VersionJson(absl::string_view program) {
  // Every value is ASCII the build controls (no quote or backslash to escape).
  return absl::StrCat("{\"program\":\"", program, "\",\"version\":\"", BuildVersion(),
                      "\",\"grpc\":\"", grpc::Version(), "\",\"protobuf\":\"",
                      google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION),
                      "\"}");
}

void SetVersionFlagText(absl::string_view program) {
  absl::FlagsUsageConfig config;
  config.version_string = [name = std::string(program)] { return VersionText(name); };
  absl::SetFlagsUsageConfig(config);
}

}  // namespace sanhak
