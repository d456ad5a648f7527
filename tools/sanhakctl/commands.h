// sanhakctl's commands. main.cc parses flags into Options and calls Run; everything else
// lives here so tests can link it. Errors are absl::Status until Run turns them into a
// message on `err` and an exit code (errors.h).
#ifndef SANHAK_TOOLS_SANHAKCTL_COMMANDS_H_
#define SANHAK_TOOLS_SANHAKCTL_COMMANDS_H_

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "tools/sanhakctl/client.h"

namespace sanhak::ctl {

struct Options {
  Targets targets;
  // "table", "wide" (the table with every field of the resource as a column), "json"
  // (protobuf's JSON mapping) or "yaml" (the same, as YAML: yaml.h). -o for short.
  std::string output = "table";
  // The resource for create/update: JSON text, or a file to read it from ("-" = stdin).
  std::string json;
  std::string file;
  // update: comma-separated field paths; empty = the fields present in the JSON.
  std::string update_mask;
  // update/delete: the etag to send; update reads the current one when neither this nor
  // the JSON gives it.
  std::string etag;
  std::string request_id;
  // create, update, delete: validate_only (the server checks, writes nothing).
  bool dry_run = false;
  // list: at most this many rows (0 = all pages).
  int limit = 0;
  // list: List request fields, e.g. {"field", "future-mobility"}.
  std::map<std::string, std::string> filters;
  // Cells longer than this many columns are cut with an ellipsis (0 = never).
  int max_width = 48;
  // network: hub complexes to show.
  int top = 10;
  // watch/summary: stop after this many updates (0 = never) or after this long.
  int max_updates = 0;
  absl::Duration duration = absl::InfiniteDuration();
  // summary: follow the aggregates stream instead of printing once.
  bool watch = false;
  // import/export: "jsonl" or "csv" (import: guessed from the file name when empty; a
  // folder is CSV).
  std::string format;
  // export: write here instead of stdout (CSV: a folder, csv_table.h); report: the .xlsx.
  std::string out;
  // import: records validated together before any of them is written.
  int batch_size = 500;
  // Tables without their header row (--no-headers).
  bool no_headers = false;
  // The width tables fit into: the terminal's columns (or $COLUMNS); 0 = no limit.
  int line_width = 0;
  // completion: the flags a shell may complete (--name), as main.cc registers them.
  std::vector<std::string> flag_names;
  // Whether stdout / stderr are terminals (in-place views, progress bars); main.cc asks
  // isatty, tests set them.
  bool stdout_tty = false;
  bool stderr_tty = false;
};

// Every command, as help and completion name them.
std::vector<std::string> CommandNames();

// Runs `args` (the command and its positional arguments); returns the exit code.
int Run(const std::vector<std::string>& args, const Options& options, std::ostream& out,
        std::ostream& err);

// The --help text: commands, flags in brief, exit codes.
std::string Usage();

// `sanhakctl version` / `--version`: the build's versions as text, or, as `kubectl
// version -o json|yaml` writes them, under "clientVersion". Returns the exit code.
int PrintVersion(const std::string& output, std::ostream& out, std::ostream& err);

// A field of `message` as a table cell: enums by name, timestamps in Korea time
// ("2025-07-30 10:00"), dates as "2025-07-30" ("2025-01" without a day), repeated values
// joined by ", ", a person as "name (affiliation)". `path` may name a nested field
// ("place.city").
std::string CellText(const google::protobuf::Message& message, const std::string& path);

// --output=wide's columns of `kind`: its table columns, then every other field of the
// resource in declaration order (ids, references, times; not the etag).
std::vector<std::string> WideColumns(const Kind& kind);
// A wide table's cell: CellText, except that a list of messages (a forum's timetable)
// shows as its count.
std::string WideCell(const google::protobuf::Message& message, const std::string& path);

// A KRW amount for people: "1.2억원", "3,500만원", "900원".
std::string FormatKrw(int64_t krw);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_COMMANDS_H_
