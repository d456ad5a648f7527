// `sanhakctl report --out=FILE.xlsx`: an Excel workbook for people who read the suite's
// figures in a spreadsheet (written with Debian's libxlsxwriter).
//
// Sheets, in this order: councils, activities, outcomes, scorecards. Each has one row per
// resource (per council for scorecards) and a column per field, laid out as the CSV
// export lays them out (csv_table.h's FlattenFields: dotted paths of nested fields),
// except that the server's fields are in (counts, create and update times) and the etag
// and lists of messages (a forum's timetable) are out. The header row holds the field
// paths, bold and frozen, with an autofilter; columns are sized to their text. Cells are
// typed:
//   - text as it is (Korean kept); lists joined by ", ";
//   - numbers as numbers; amounts of money (fields ending in _krw) as numbers in the
//     format #,##0"원";
//   - full dates (google.type.Date with a day) as date cells (yyyy-mm-dd); a year-month
//     or year alone as text ("2025-07");
//   - times (google.protobuf.Timestamp) as date-time cells in Korea time (Excel has no
//     time zones; the format says KST: yyyy-mm-dd hh:mm "KST");
//   - bools as TRUE/FALSE cells; enums by name; an unset field: an empty cell.
#ifndef SANHAK_TOOLS_SANHAKCTL_XLSX_REPORT_H_
#define SANHAK_TOOLS_SANHAKCTL_XLSX_REPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace sanhak::ctl {

struct ReportData {
  std::vector<std::unique_ptr<google::protobuf::Message>> councils;
  std::vector<std::unique_ptr<google::protobuf::Message>> activities;
  std::vector<std::unique_ptr<google::protobuf::Message>> outcomes;
  std::vector<std::unique_ptr<google::protobuf::Message>> scorecards;
};

// The sheet names, in order.
inline constexpr const char* kReportSheets[] = {"councils", "activities", "outcomes", "scorecards"};

// Writes the workbook to `path` (replaced). INVALID_ARGUMENT naming the file when it
// cannot be written.
absl::Status WriteXlsxReport(const std::string& path, const ReportData& data);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_XLSX_REPORT_H_
