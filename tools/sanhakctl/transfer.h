// `import` and `export` of the whole data set (see records.h for the formats).
//
// Export lists every kind in dependency order (reference data first: fields, regions,
// reported figures; then complexes, organizations, councils, memberships, activities,
// registrations, outcomes), without the fields the server sets.
//
// Import is idempotent: each record is compared with what the server holds and is
// created (stable id, stable request_id), updated (only the fields that differ, with the
// etag read) or left alone. Records are taken in dependency order, in batches; a batch is
// fully checked (kind known, JSON valid for the kind, name present and unique, every
// reference found in the file or on the server, reference data present) before any of
// it is written, and the first bad record stops the import with "line N: ...".
#ifndef SANHAK_TOOLS_SANHAKCTL_TRANSFER_H_
#define SANHAK_TOOLS_SANHAKCTL_TRANSFER_H_

#include <iosfwd>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/sanhakctl/client.h"

namespace sanhak::ctl {

struct ImportStats {
  int created = 0;
  int updated = 0;
  int unchanged = 0;
  // Reference data found as the file has it (fields, regions, figures: never written).
  int checked = 0;
};

struct TransferConfig {
  // "jsonl" or "csv".
  std::string format = "jsonl";
  int batch_size = 500;
  // A progress bar (redrawn with \r) instead of plain progress lines.
  bool terminal = false;
};

absl::StatusOr<ImportStats> Import(Client& client, absl::string_view text,
                                   const TransferConfig& config, std::ostream& progress);

// Writes the whole data set to `out`; returns how many records.
absl::StatusOr<int> Export(Client& client, const TransferConfig& config, std::ostream& out,
                           std::ostream& progress);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_TRANSFER_H_
