// Page tokens (common/page_token.h): an input is "<fingerprint>\n<token>" (no newline:
// all of it is the token, under an empty fingerprint). DecodePageToken must refuse
// anything it did not issue with INVALID_ARGUMENT and never misread what it did; and a
// token encoded for any name (the token's bytes, taken as one) decodes back to that name
// under the same fingerprint only. Tokens are signed with fuzz::kPageTokenKey, so a seed
// made with it (fuzz/make_corpus.sh) decodes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/page_token.h"
#include "fuzz/fuzz_support.h"

namespace sanhak::fuzz {
namespace {

[[noreturn]] void Broken(const char* what, absl::string_view fingerprint,
                         absl::string_view token) {
  std::fprintf(stderr, "page_token_fuzzer: %s (fingerprint %zu bytes, token %zu bytes)\n",
               what, fingerprint.size(), token.size());
  std::abort();
}

}  // namespace

int TestOneInput(const uint8_t* data, size_t size) {
  InstallPageTokenKey();
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::string_view fingerprint;
  absl::string_view token = input;
  if (size_t newline = input.find('\n'); newline != absl::string_view::npos) {
    fingerprint = input.substr(0, newline);
    token = input.substr(newline + 1);
  }

  absl::StatusOr<std::string> decoded = DecodePageToken(token, fingerprint);
  if (!decoded.ok() && decoded.status().code() != absl::StatusCode::kInvalidArgument) {
    Broken("a refused token is not INVALID_ARGUMENT", fingerprint, token);
  }
  if (token.empty() && (!decoded.ok() || !decoded->empty())) {
    Broken("an empty token is not the first page", fingerprint, token);
  }

  // Round trip: what the service issues for a name it gets back, under that fingerprint
  // alone. Names are at most 200 characters; longer would outgrow kMaxPageTokenChars.
  if (token.size() <= 200) {
    std::string issued = EncodePageToken(token, fingerprint);
    absl::StatusOr<std::string> back = DecodePageToken(issued, fingerprint);
    if (!back.ok() || *back != token) Broken("an issued token does not decode", fingerprint, token);
    std::string other = std::string(fingerprint) + "x";
    if (DecodePageToken(issued, other).ok()) {
      Broken("a token decodes under another fingerprint", fingerprint, token);
    }
  }
  return 0;
}

}  // namespace sanhak::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sanhak::fuzz::TestOneInput(data, size);
}
