// `import` and `export` of the whole data set (records.h: JSON lines; csv_table.h: CSV
// tables, one file per kind).
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
// it is written, and the first bad record stops the import with "line N: ..." (CSV:
// "FILE line N: ...").
#ifndef SANHAK_TOOLS_SANHAKCTL_TRANSFER_H_
#define SANHAK_TOOLS_SANHAKCTL_TRANSFER_H_

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/sanhakctl/client.h"
#include "tools/sanhakctl/records.h"

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

// Imports JSON lines.
absl::StatusOr<ImportStats> Import(Client& client, absl::string_view text,
                                   const TransferConfig& config, std::ostream& progress);
// Imports records already read (CSV: csv_table.h's ReadCsvTables); errors name each
// record's file and line.
absl::StatusOr<ImportStats> ImportRecords(Client& client, std::vector<Record> records,
                                          const TransferConfig& config, std::ostream& progress);

// Writes the whole data set to `out` as JSON lines; returns how many records.
absl::StatusOr<int> Export(Client& client, const TransferConfig& config, std::ostream& out,
                           std::ostream& progress);
// Writes the whole data set as CSV tables into the folder `dir` (csv_table.h).
absl::StatusOr<int> ExportCsv(Client& client, const TransferConfig& config,
                              const std::string& dir, std::ostream& progress);

// Every resource of every kind, in dependency order, without the server-set fields:
// `each` gets each kind's resources; returns how many in all.
absl::StatusOr<int> ForEachKind(
    Client& client, const TransferConfig& config, std::ostream& progress,
    const std::function<void(const Kind&,
                             std::vector<std::unique_ptr<google::protobuf::Message>>&)>& each);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_TRANSFER_H_
