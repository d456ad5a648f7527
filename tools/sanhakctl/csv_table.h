// CSV tables of resources for spreadsheets (`export --format=csv --out=DIR`, `import DIR`):
// one column per field, laid out from the resource's descriptor, so a field added to a
// proto gets its column without a change here.
//
// Files: one `<kind>.csv` per resource kind (council.csv, activity.csv, ...), and one
// `<kind>.<field>.csv` per list of messages in it (activity.timetable.csv,
// activity.sessions.csv, outcome.counts.csv): a row per item, its first column (named
// after the kind, e.g. `activity`) the name of the resource it belongs to, the items of
// one resource in order. Every file is written as Excel and LibreOffice read Korean
// without asking: UTF-8 with a byte order mark, RFC 4180 quoting, CRLF line ends (a line
// break inside a cell stays as the text has it, inside quotes).
//
// Columns: the header row names each column by its field path ("display_name",
// "reported_members.total", "place.city"): nested messages are flattened into dotted
// paths; fields the server sets (etag, times, counts) are left out, as in the JSON lines
// export. Cells:
//   - strings as they are, except that one starting with =, +, -, @, a tab, a carriage
//     return or an apostrophe is written behind an apostrophe (so a spreadsheet never
//     runs a caller's text as a formula; reading drops it again); numbers in decimal; bools true/false; enums by name (an unset
//     enum without presence: empty);
//   - google.protobuf.Timestamp: RFC 3339 in UTC, as the JSON mapping writes it
//     ("2025-07-30T01:00:00Z");
//   - google.type.Date: "2025-07-30", "2025-07" (no day) or "2025" (year only);
//   - a list of scalars: its items joined by ';' (kListSeparator), each item with '\'
//     written "\\" and ';' written "\;" (so "a;b" as one item is "a\;b");
//   - an empty cell is an unset field: a field with presence (optional, oneof, message)
//     stays unset, any other gets its default. So a message present but entirely empty,
//     or a list holding just one empty string, reads back as absent (the services store
//     neither).
//   - a list of messages inside another message, or a map, which no resource of the
//     suite has, would take its JSON in one cell.
//
// Reading: the header decides the columns (any order; a column left out is empty; an
// unknown one is an error); a byte order mark is optional; CRLF or LF. Errors name the
// file and line: "council.csv line 7: column \"forum_session\": \"x\" is not an integer".
#ifndef SANHAK_TOOLS_SANHAKCTL_CSV_TABLE_H_
#define SANHAK_TOOLS_SANHAKCTL_CSV_TABLE_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "tools/sanhakctl/client.h"
#include "tools/sanhakctl/records.h"

namespace sanhak::ctl {

inline constexpr char kListSeparator = ';';
inline constexpr char kUtf8Bom[] = "\xEF\xBB\xBF";

// A column: a field path ("reported_members.total") and the fields from the row's
// message down to the one the cell holds.
struct FieldPath {
  std::string path;
  std::vector<const google::protobuf::FieldDescriptor*> chain;
};

// The columns of `type` as the CSV tables (and the .xlsx report) lay them out: every
// field in declaration order but those in `skip` (top-level names), singular messages
// flattened into dotted paths (Timestamp and Date stay one column each). Lists of
// messages are no column: they go to `lists` when it is not null, and are left out
// otherwise (a list of messages inside a nested message is one column, its JSON).
std::vector<FieldPath> FlattenFields(const google::protobuf::Descriptor* type,
                                     const std::set<std::string>& skip,
                                     std::vector<const google::protobuf::FieldDescriptor*>* lists);

// A file of a CSV export: its name within the folder ("council.csv") and its bytes.
struct CsvFile {
  std::string name;
  std::string text;
};

// The header of `kind`'s main table: field paths, "name" first.
std::vector<std::string> CsvColumns(const Kind& kind);

// The files of `kind` (its table, then one per list of messages) holding `resources`,
// whose server-set fields the caller has cleared. Written even when empty (a header
// only), so a folder always shows every kind.
std::vector<CsvFile> WriteCsvTables(const Kind& kind,
                                    const std::vector<const google::protobuf::Message*>& resources);

// The records in `files` (any kinds, each `<kind>.csv` with its `<kind>.<field>.csv`
// files), in file order; each record's file and line are those of its row in the
// `<kind>.csv`. INVALID_ARGUMENT "FILE line N: ..." for the first bad row.
absl::StatusOr<std::vector<Record>> ReadCsvTables(const std::vector<CsvFile>& files);

// Writes `files` into the folder `dir` (made when missing), each file replaced whole.
absl::Status WriteCsvFolder(const std::string& dir, const std::vector<CsvFile>& files);

// What `import PATH` reads as CSV: every *.csv file of a folder, or a `<kind>.csv` file
// with the `<kind>.<field>.csv` files beside it (without them a list of messages would
// read as empty, and the import would empty it).
absl::StatusOr<std::vector<CsvFile>> LoadCsvInput(const std::string& path);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_CSV_TABLE_H_
