// The import/export file formats: one record per resource.
//
// JSON lines: {"kind":"council","resource":{...}} per line, the resource in protobuf's
// JSON mapping. Blank lines and lines starting with '#' are skipped.
//
// CSV (RFC 4180): a header `kind,name,resource`, then one row per resource; `resource`
// holds the same JSON as above (nested fields such as a forum's timetable stay whole),
// `name` repeats the resource's name for people and spreadsheets to sort on. A quoted
// cell may span lines; a record's line number is the line it starts on.
#ifndef SANHAK_TOOLS_SANHAKCTL_RECORDS_H_
#define SANHAK_TOOLS_SANHAKCTL_RECORDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace sanhak::ctl {

struct Record {
  // 1-based line of the input the record starts on.
  int line = 0;
  std::string kind;
  // The resource as JSON text.
  std::string resource_json;
  // CSV only: the `name` column ("" in JSON lines).
  std::string name;
};

// INVALID_ARGUMENT "line N: ..." at the first malformed line.
absl::StatusOr<std::vector<Record>> ParseJsonLines(absl::string_view text);
absl::StatusOr<std::vector<Record>> ParseCsvRecords(absl::string_view text);

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
std::string CsvRecord(absl::string_view kind, const google::protobuf::Message& resource);
inline constexpr char kCsvHeader[] = "kind,name,resource\n";

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_RECORDS_H_
