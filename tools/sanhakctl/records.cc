#include "tools/sanhakctl/records.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sanhak::ctl {

namespace json = google::protobuf::util;

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  json::JsonPrintOptions options;
  (void)json::MessageToJsonString(message, &out, options);
  return out;
}

absl::Status FromJson(absl::string_view text, google::protobuf::Message* message) {
  json::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = json::JsonStringToMessage(std::string(text), message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(std::string(status.message()));
  }
  return absl::OkStatus();
}

namespace {

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

// Splits {"kind": ..., "resource": {...}} into its parts.
absl::StatusOr<Record> ParseEnvelope(int line, absl::string_view text) {
  google::protobuf::Struct envelope;
  if (absl::Status s = FromJson(text, &envelope); !s.ok()) {
    return LineError(line, absl::StrCat("not a JSON object: ", s.message()));
  }
  Record record;
  record.line = line;
  for (const auto& [key, value] : envelope.fields()) {
    if (key == "kind") {
      if (value.kind_case() != google::protobuf::Value::kStringValue) {
        return LineError(line, "\"kind\" must be a string");
      }
      record.kind = value.string_value();
    } else if (key == "resource") {
      if (value.kind_case() != google::protobuf::Value::kStructValue) {
        return LineError(line, "\"resource\" must be an object");
      }
      record.resource_json = ToJson(value.struct_value());
    } else {
      return LineError(line, absl::StrCat("unknown key \"", key, "\" (expected kind, resource)"));
    }
  }
  if (record.kind.empty()) return LineError(line, "missing \"kind\"");
  if (record.resource_json.empty()) return LineError(line, "missing \"resource\"");
  return record;
}

}  // namespace

absl::StatusOr<std::vector<Record>> ParseJsonLines(absl::string_view text) {
  std::vector<Record> out;
  int line = 0;
  for (absl::string_view row : absl::StrSplit(text, '\n')) {
    ++line;
    row = absl::StripAsciiWhitespace(row);
    if (row.empty() || absl::StartsWith(row, "#")) continue;
    auto record = ParseEnvelope(line, row);
    if (!record.ok()) return record.status();
    out.push_back(*std::move(record));
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<int, std::vector<std::string>>>> ParseCsv(
    absl::string_view text) {
  std::vector<std::pair<int, std::vector<std::string>>> rows;
  int line = 1;
  size_t i = 0;
  while (i < text.size()) {
    const int start_line = line;
    std::vector<std::string> cells;
    std::string cell;
    bool row_done = false;
    while (!row_done) {
      cell.clear();
      if (i < text.size() && text[i] == '"') {
        ++i;
        while (true) {
          if (i >= text.size()) return LineError(start_line, "unterminated quoted cell");
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              cell += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (text[i] == '\n') ++line;
          cell += text[i++];
        }
        if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          return LineError(line, "text after a closing quote");
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n') {
          if (text[i] == '"') return LineError(line, "quote inside an unquoted cell");
          cell += text[i++];
        }
        if (!cell.empty() && cell.back() == '\r') cell.pop_back();
      }
      if (i < text.size() && text[i] == '\r') ++i;
      cells.push_back(cell);
      if (i >= text.size()) {
        row_done = true;
      } else if (text[i] == ',') {
        ++i;
      } else if (text[i] == '\n') {
        ++i;
        ++line;
        row_done = true;
      }
    }
    // A blank line is no record.
    if (!(cells.size() == 1 && cells[0].empty())) rows.emplace_back(start_line, std::move(cells));
  }
  return rows;
}

std::string CsvRow(const std::vector<std::string>& cells) {
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out += ',';
    const std::string& c = cells[i];
    if (c.find_first_of(",\"\n\r") == std::string::npos) {
      out += c;
      continue;
    }
    out += '"';
    for (char ch : c) {
      if (ch == '"') out += '"';
      out += ch;
    }
    out += '"';
  }
  out += '\n';
  return out;
}

std::string JsonLine(absl::string_view kind, const google::protobuf::Message& resource) {
  return absl::StrCat("{\"kind\":\"", kind, "\",\"resource\":", ToJson(resource), "}\n");
}

}  // namespace sanhak::ctl
