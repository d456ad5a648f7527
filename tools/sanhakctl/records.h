// The import/export file formats: one record per resource.
//
// JSON lines: {"kind":"council","resource":{...}} per line, the resource in protobuf's
// JSON mapping. Blank lines and lines starting with '#' are skipped.
//
// CSV: one table per kind, one column per field, for spreadsheets (csv_table.h); this
// file has the RFC 4180 reading and writing it rests on. A quoted cell may span lines; a
// row's line number is the line it starts on.
#ifndef SANHAK_TOOLS_SANHAKCTL_RECORDS_H_
#define SANHAK_TOOLS_SANHAKCTL_RECORDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace sanhak::ctl {

struct Record {
  // The file the record is in, for CSV ("council.csv"; errors say "council.csv line 3:"),
  // "" for JSON lines ("line 3:").
  std::string file;
  // 1-based line of the input the record starts on.
  int line = 0;
  std::string kind;
  // The resource as JSON text.
  std::string resource_json;
};

// INVALID_ARGUMENT "line N: ..." at the first malformed line.
absl::StatusOr<std::vector<Record>> ParseJsonLines(absl::string_view text);

// RFC 4180 rows with the line each starts on. INVALID_ARGUMENT "line N: ..." for an
// unterminated quote or text after a closing quote.
absl::StatusOr<std::vector<std::pair<int, std::vector<std::string>>>> ParseCsv(
    absl::string_view text);
// One CSV row, quoting cells that need it, ending in "\n".
std::string CsvRow(const std::vector<std::string>& cells);

// A resource as protobuf JSON on one line (field names in lowerCamelCase).
std::string ToJson(const google::protobuf::Message& message);
// Parses protobuf JSON into `message`; unknown fields are an error.
absl::Status FromJson(absl::string_view json, google::protobuf::Message* message);

std::string JsonLine(absl::string_view kind, const google::protobuf::Message& resource);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_RECORDS_H_
