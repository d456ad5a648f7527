// Watch resume tokens (services/analytics/analytics.h ParseResumeToken, the parser
// Analytics::Subscribe runs on WatchAggregatesRequest.resume_token): an input is a token.
// Anything not issued by the service must be INVALID_ARGUMENT; a token that parses names
// a position at or after the start (useq >= 0).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/analytics/analytics.h"

namespace sanhak::fuzz {

int TestOneInput(const uint8_t* data, size_t size) {
  const std::string token(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<analytics::ResumePosition> position = analytics::ParseResumeToken(token);
  if (!position.ok() && position.status().code() != absl::StatusCode::kInvalidArgument) {
    std::fprintf(stderr, "resume_token_fuzzer: refused with %s\n",
                 position.status().ToString().c_str());
    std::abort();
  }
  if (position.ok() && position->useq < 0) {
    std::fprintf(stderr, "resume_token_fuzzer: negative position %lld\n",
                 static_cast<long long>(position->useq));
    std::abort();
  }
  return 0;
}

}  // namespace sanhak::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sanhak::fuzz::TestOneInput(data, size);
}
