// Resource names, ids, page tokens and search text: the parts of Google's API
// conventions every service shares.
#ifndef SANHAK_COMMON_RESOURCE_NAMES_H_
#define SANHAK_COMMON_RESOURCE_NAMES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sanhak {

// Ids are `[a-z][a-z0-9-]{0,62}`, not ending in '-': readable, URL- and DNS-safe.
bool IsValidId(absl::string_view id);

// "councils/x" with collection "councils" -> "x". INVALID_ARGUMENT naming `field` when
// the name is empty, of another collection, or has an invalid id; the error quotes at most
// a short prefix of the name (QuoteValue), however long it is.
absl::StatusOr<std::string> ParseName(absl::string_view name, absl::string_view collection,
                                      absl::string_view field);

// A fresh random id with a readable prefix, e.g. "council-k3x9q2vd7m", for creates that
// name no id.
std::string GenerateId(absl::string_view prefix);

// Text as search matches it: white space removed, ASCII lowercased; Korean and every
// other script unchanged. Applied to both the indexed text and the query, so "미래 모빌리티"
// finds "미래모빌리티".
std::string NormalizeSearchText(absl::string_view text);

// The page size a List call uses: `requested` if positive, else the default 50, capped at
// 1000. INVALID_ARGUMENT (field "page_size") when negative.
absl::StatusOr<int> PageSize(int requested);

// A stable 64-bit fingerprint (FNV-1a) of a request, so a retried request_id is told
// apart from a different request reusing it. Not a MAC: page tokens sign their filters
// (common/page_token.h).
std::string Fingerprint(absl::string_view text);

}  // namespace sanhak

#endif  // SANHAK_COMMON_RESOURCE_NAMES_H_
