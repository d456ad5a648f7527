#include "tools/sanhakctl/csv_table.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/validation.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "google/type/date.pb.h"

namespace sanhak::ctl {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

using Column = FieldPath;

// A table: the main one of a kind (list == nullptr) or one of its lists of messages.
struct TableLayout {
  std::string file;
  // The list of messages this table holds, or nullptr for the kind's own table.
  const FieldDescriptor* list = nullptr;
  // The column naming the parent resource (list tables only).
  std::string parent_column;
  std::vector<Column> columns;
};

struct KindLayout {
  const Kind* kind = nullptr;
  TableLayout main;
  std::vector<TableLayout> lists;
};

// Message types written as one cell rather than flattened.
bool IsLeafMessage(const Descriptor* d) {
  return d->full_name() == "google.protobuf.Timestamp" || d->full_name() == "google.type.Date";
}

// Nested messages deeper than this are one JSON cell (no resource nests this deep; it
// bounds a recursive type).
constexpr int kMaxFlattenDepth = 6;

void AddColumns(const Descriptor* d, const std::string& prefix,
                std::vector<const FieldDescriptor*> chain, const std::set<std::string>& skip,
                std::vector<Column>& out, std::vector<const FieldDescriptor*>* lists) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string path = prefix + f->name();
    if (skip.count(path) > 0) continue;
    std::vector<const FieldDescriptor*> here = chain;
    here.push_back(f);
    const bool message = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (message && f->is_repeated() && !f->is_map() && chain.empty()) {
      if (lists != nullptr) lists->push_back(f);
      continue;
    }
    if (message && !f->is_repeated() && !IsLeafMessage(f->message_type()) &&
        static_cast<int>(here.size()) < kMaxFlattenDepth) {
      AddColumns(f->message_type(), path + ".", here, skip, out, nullptr);
      continue;
    }
    out.push_back({path, here});
  }
}

}  // namespace

std::vector<FieldPath> FlattenFields(const Descriptor* type, const std::set<std::string>& skip,
                                     std::vector<const FieldDescriptor*>* lists) {
  std::vector<FieldPath> out;
  AddColumns(type, "", {}, skip, out, lists);
  return out;
}

namespace {

KindLayout MakeLayout(const Kind& kind) {
  KindLayout layout;
  layout.kind = &kind;
  const std::set<std::string> skip(kind.output_only.begin(), kind.output_only.end());
  std::vector<const FieldDescriptor*> lists;
  layout.main.file = kind.name + ".csv";
  layout.main.columns = FlattenFields(ResourceDescriptor(kind), skip, &lists);
  for (const FieldDescriptor* list : lists) {
    TableLayout table;
    table.file = absl::StrCat(kind.name, ".", list->name(), ".csv");
    table.list = list;
    table.parent_column = kind.name;
    if (list->message_type()->FindFieldByName(kind.name) != nullptr) {
      table.parent_column = "parent_" + kind.name;
    }
    std::vector<const FieldDescriptor*> nested;
    table.columns = FlattenFields(list->message_type(), {}, &nested);
    // A list of messages in an item (none in the suite's protos): one JSON cell each.
    for (const FieldDescriptor* f : nested) table.columns.push_back({f->name(), {f}});
    layout.lists.push_back(std::move(table));
  }
  return layout;
}

const KindLayout& LayoutOf(const Kind& kind) {
  static const auto* const kLayouts = [] {
    auto* layouts = new std::map<std::string, KindLayout>;
    for (const Kind& k : Kinds()) (*layouts)[k.name] = MakeLayout(k);
    return layouts;
  }();
  return kLayouts->at(kind.name);
}

// --- writing cells ---

// A text a spreadsheet would run as a formula when the file is opened (=, +, -, @, or a
// tab or carriage return before one: "CSV injection"; any caller can write a title) is
// written behind an apostrophe, which Excel and LibreOffice show and never evaluate. A
// text that starts with an apostrophe gets one more, so reading drops exactly one and
// every text comes back as it was.
std::string GuardFormula(std::string text) {
  if (!text.empty() && absl::string_view("=+-@\t\r'").find(text[0]) != absl::string_view::npos) {
    text.insert(0, 1, '\'');
  }
  return text;
}

absl::string_view UnguardFormula(absl::string_view text) {
  if (absl::StartsWith(text, "'")) text.remove_prefix(1);
  return text;
}

std::string EscapeItem(absl::string_view item) {
  std::string out;
  for (char c : item) {
    if (c == '\\' || c == kListSeparator) out += '\\';
    out += c;
  }
  return out;
}

std::string DateText(const google::type::Date& d) {
  if (d.month() == 0) return absl::StrFormat("%04d", d.year());
  if (d.day() == 0) return absl::StrFormat("%04d-%02d", d.year(), d.month());
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

// A double written so it parses back to the same bits.
std::string DoubleText(double v) {
  for (int precision : {15, 17}) {
    std::string text = absl::StrFormat("%.*g", precision, v);
    double back;
    if (absl::SimpleAtod(text, &back) && back == v) return text;
  }
  return absl::StrFormat("%.17g", v);
}

// Item `index` of `f` in `m` (index -1: the singular value).
std::string ValueText(const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return GuardFormula(rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f));
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return DoubleText(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return DoubleText(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* v = rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f);
      // The zero value means "not given" for an enum without presence.
      if (!rep && v->number() == 0 && !f->has_presence()) return "";
      return v->name();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      const std::string& type = sub.GetDescriptor()->full_name();
      if (type == "google.protobuf.Timestamp") {
        return google::protobuf::util::TimeUtil::ToString(
            static_cast<const google::protobuf::Timestamp&>(sub));
      }
      if (type == "google.type.Date") {
        return DateText(static_cast<const google::type::Date&>(sub));
      }
      return ToJson(sub);
    }
  }
  return "";
}

std::string CellOf(const Message& row, const Column& column) {
  const Message* m = &row;
  for (size_t i = 0; i + 1 < column.chain.size(); ++i) {
    const FieldDescriptor* f = column.chain[i];
    if (!m->GetReflection()->HasField(*m, f)) return "";
    m = &m->GetReflection()->GetMessage(*m, f);
  }
  const FieldDescriptor* f = column.chain.back();
  const Reflection* r = m->GetReflection();
  if (f->is_repeated()) {
    std::vector<std::string> items;
    for (int k = 0; k < r->FieldSize(*m, f); ++k) items.push_back(EscapeItem(ValueText(*m, f, k)));
    return absl::StrJoin(items, std::string(1, kListSeparator));
  }
  if (f->has_presence() && !r->HasField(*m, f)) return "";
  return ValueText(*m, f, -1);
}

std::string Row(const std::vector<std::string>& cells) {
  std::string row = CsvRow(cells);
  // Excel's line end.
  row.insert(row.size() - 1, "\r");
  return row;
}

std::string Header(const TableLayout& table) {
  std::vector<std::string> cells;
  if (table.list != nullptr) cells.push_back(table.parent_column);
  for (const Column& c : table.columns) cells.push_back(c.path);
  return Row(cells);
}

// --- reading cells ---

// A cell or header text as an error quotes it: a cell may hold a whole JSON message, and
// an error names the rule and at most a short prefix of what broke it.
constexpr size_t kMaxQuotedBytes = 80;
std::string Quoted(absl::string_view text) {
  return absl::StrCat("\"", Abbreviate(text, kMaxQuotedBytes), "\"");
}

absl::StatusOr<std::vector<std::string>> SplitItems(absl::string_view cell) {
  std::vector<std::string> items(1);
  for (size_t i = 0; i < cell.size(); ++i) {
    if (cell[i] == '\\') {
      if (i + 1 >= cell.size()) return absl::InvalidArgumentError("ends in a lone '\\'");
      items.back() += cell[++i];
    } else if (cell[i] == kListSeparator) {
      items.emplace_back();
    } else {
      items.back() += cell[i];
    }
  }
  return items;
}

absl::StatusOr<google::type::Date> ParseDate(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  google::type::Date date;
  int values[3] = {0, 0, 0};
  if (parts.size() > 3 || parts[0].size() != 4) {
    return absl::InvalidArgumentError("is not a date (YYYY-MM-DD, YYYY-MM or YYYY)");
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if ((i > 0 && parts[i].size() != 2) || !absl::SimpleAtoi(parts[i], &values[i])) {
      return absl::InvalidArgumentError("is not a date (YYYY-MM-DD, YYYY-MM or YYYY)");
    }
  }
  date.set_year(values[0]);
  date.set_month(values[1]);
  date.set_day(values[2]);
  return date;
}

// Sets (or, for a list, adds) `text` as the value of `f` in `m`.
absl::Status SetValue(Message& m, const FieldDescriptor* f, const std::string& text) {
  const Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(Quoted(text), " is not ", what));
  };
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string value(UnguardFormula(text));
      rep ? r->AddString(&m, f, value) : r->SetString(&m, f, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
      rep ? r->AddInt32(&m, f, v) : r->SetInt32(&m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
      rep ? r->AddInt64(&m, f, v) : r->SetInt64(&m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
      rep ? r->AddUInt32(&m, f, v) : r->SetUInt32(&m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
      rep ? r->AddUInt64(&m, f, v) : r->SetUInt64(&m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return bad("a number");
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
        rep ? r->AddFloat(&m, f, static_cast<float>(v)) : r->SetFloat(&m, f, static_cast<float>(v));
      } else {
        rep ? r->AddDouble(&m, f, v) : r->SetDouble(&m, f, v);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      // Excel writes TRUE/FALSE when it saves the file again.
      const std::string lower = absl::AsciiStrToLower(text);
      bool v;
      if (lower == "true" || lower == "1") {
        v = true;
      } else if (lower == "false" || lower == "0") {
        v = false;
      } else {
        return bad("true or false");
      }
      rep ? r->AddBool(&m, f, v) : r->SetBool(&m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* v = f->enum_type()->FindValueByName(text);
      if (v == nullptr) {
        std::vector<std::string> names;
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          if (f->enum_type()->value(i)->number() != 0)
            names.push_back(f->enum_type()->value(i)->name());
        }
        return bad(absl::StrCat("one of ", absl::StrJoin(names, ", ")));
      }
      rep ? r->AddEnum(&m, f, v) : r->SetEnum(&m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* sub = rep ? r->AddMessage(&m, f) : r->MutableMessage(&m, f);
      const std::string& type = sub->GetDescriptor()->full_name();
      if (type == "google.protobuf.Timestamp") {
        if (!google::protobuf::util::TimeUtil::FromString(
                text, static_cast<google::protobuf::Timestamp*>(sub))) {
          return bad("an RFC 3339 time (2025-07-30T01:00:00Z)");
        }
        return absl::OkStatus();
      }
      if (type == "google.type.Date") {
        absl::StatusOr<google::type::Date> date = ParseDate(text);
        if (!date.ok()) return bad("a date (YYYY-MM-DD, YYYY-MM or YYYY)");
        sub->CopyFrom(*date);
        return absl::OkStatus();
      }
      if (absl::Status s = FromJson(text, sub); !s.ok()) {
        return bad(absl::StrCat("a ", type, " in JSON: ", s.message()));
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::Status SetCell(Message& row, const Column& column, const std::string& cell) {
  if (cell.empty()) return absl::OkStatus();
  Message* m = &row;
  for (size_t i = 0; i + 1 < column.chain.size(); ++i) {
    m = m->GetReflection()->MutableMessage(m, column.chain[i]);
  }
  const FieldDescriptor* f = column.chain.back();
  absl::Status status;
  if (f->is_repeated()) {
    absl::StatusOr<std::vector<std::string>> items = SplitItems(cell);
    if (!items.ok()) {
      status = items.status();
    } else {
      for (const std::string& item : *items) {
        status = SetValue(*m, f, item);
        if (!status.ok()) break;
      }
    }
  } else {
    status = SetValue(*m, f, cell);
  }
  if (status.ok()) return status;
  return absl::InvalidArgumentError(
      absl::StrCat("column \"", column.path, "\": ", status.message()));
}

absl::Status FileLineError(const std::string& file, int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, " line ", line, ": ", what));
}

// A table's rows with the header matched to the layout's columns: for each header cell,
// its column (nullptr: the parent column of a list table).
struct ParsedTable {
  std::string file;
  std::vector<const Column*> columns;
  int parent_index = -1;
  std::vector<std::pair<int, std::vector<std::string>>> rows;
};

absl::StatusOr<ParsedTable> ParseTable(const CsvFile& file, const TableLayout& layout) {
  absl::string_view text = file.text;
  absl::ConsumePrefix(&text, kUtf8Bom);
  auto rows = ParseCsv(text);
  if (!rows.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file.name, " ", rows.status().message()));
  }
  ParsedTable table;
  table.file = file.name;
  if (rows->empty()) return FileLineError(file.name, 1, "no header row");
  const auto& [header_line, header] = rows->front();
  std::set<std::string> seen;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string& name = header[i];
    if (!seen.insert(name).second) {
      return FileLineError(file.name, header_line, absl::StrCat("column ", Quoted(name), " twice"));
    }
    if (layout.list != nullptr && name == layout.parent_column) {
      table.parent_index = static_cast<int>(i);
      table.columns.push_back(nullptr);
      continue;
    }
    const Column* found = nullptr;
    for (const Column& c : layout.columns) {
      if (c.path == name) found = &c;
    }
    if (found == nullptr) {
      std::vector<std::string> names;
      if (layout.list != nullptr) names.push_back(layout.parent_column);
      for (const Column& c : layout.columns) names.push_back(c.path);
      return FileLineError(file.name, header_line,
                           absl::StrCat("unknown column ", Quoted(name), " (", file.name,
                                        " has: ", absl::StrJoin(names, ", "), ")"));
    }
    table.columns.push_back(found);
  }
  if (layout.list != nullptr && table.parent_index < 0) {
    return FileLineError(file.name, header_line,
                         absl::StrCat("no \"", layout.parent_column, "\" column"));
  }
  if (layout.list == nullptr && seen.count("name") == 0) {
    return FileLineError(file.name, header_line, "no \"name\" column");
  }
  for (size_t i = 1; i < rows->size(); ++i) {
    auto& [line, cells] = (*rows)[i];
    // A spreadsheet keeps rows it emptied as a line of commas: no record.
    if (std::all_of(cells.begin(), cells.end(), [](const std::string& c) { return c.empty(); })) {
      continue;
    }
    if (cells.size() > header.size()) {
      // Spreadsheets may add empty cells after the last column.
      for (size_t k = header.size(); k < cells.size(); ++k) {
        if (!cells[k].empty()) {
          return FileLineError(
              file.name, line,
              absl::StrCat(cells.size(), " cells, the header has ", header.size()));
        }
      }
    }
    // A row a spreadsheet shortened has empty cells at its end.
    cells.resize(header.size());
    table.rows.emplace_back(line, std::move(cells));
  }
  return table;
}

// Which table of which kind `file_name` is: "council.csv" (or "councils.csv"), or
// "activity.timetable.csv".
absl::StatusOr<std::pair<const KindLayout*, const TableLayout*>> TableOf(
    absl::string_view file_name) {
  absl::string_view base = file_name;
  if (size_t slash = base.rfind('/'); slash != absl::string_view::npos)
    base = base.substr(slash + 1);
  const bool csv = absl::ConsumeSuffix(&base, ".csv") || absl::ConsumeSuffix(&base, ".CSV");
  std::vector<absl::string_view> parts = absl::StrSplit(base, '.');
  const Kind* kind = csv && parts.size() <= 2 ? FindKind(parts[0]) : nullptr;
  if (kind == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name,
                     ": not a table of a CSV export (KIND.csv or KIND.FIELD.csv, e.g. "
                     "council.csv, activity.timetable.csv)"));
  }
  const KindLayout& layout = LayoutOf(*kind);
  if (parts.size() == 1) return std::make_pair(&layout, &layout.main);
  for (const TableLayout& list : layout.lists) {
    if (list.list->name() == parts[1]) return std::make_pair(&layout, &list);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(file_name, ": ", kind->name, " has no list \"", parts[1], "\""));
}

}  // namespace

std::vector<std::string> CsvColumns(const Kind& kind) {
  std::vector<std::string> names;
  for (const Column& c : LayoutOf(kind).main.columns) names.push_back(c.path);
  return names;
}

std::vector<CsvFile> WriteCsvTables(const Kind& kind,
                                    const std::vector<const Message*>& resources) {
  const KindLayout& layout = LayoutOf(kind);
  std::vector<CsvFile> files;
  CsvFile main{layout.main.file, absl::StrCat(kUtf8Bom, Header(layout.main))};
  for (const Message* resource : resources) {
    std::vector<std::string> cells;
    for (const Column& c : layout.main.columns) cells.push_back(CellOf(*resource, c));
    main.text += Row(cells);
  }
  files.push_back(std::move(main));
  for (const TableLayout& table : layout.lists) {
    CsvFile file{table.file, absl::StrCat(kUtf8Bom, Header(table))};
    for (const Message* resource : resources) {
      const std::string name = resource->GetReflection()->GetString(
          *resource, resource->GetDescriptor()->FindFieldByName("name"));
      const Reflection* r = resource->GetReflection();
      for (int k = 0; k < r->FieldSize(*resource, table.list); ++k) {
        const Message& item = r->GetRepeatedMessage(*resource, table.list, k);
        std::vector<std::string> cells = {name};
        for (const Column& c : table.columns) cells.push_back(CellOf(item, c));
        file.text += Row(cells);
      }
    }
    files.push_back(std::move(file));
  }
  return files;
}

absl::StatusOr<std::vector<Record>> ReadCsvTables(const std::vector<CsvFile>& files) {
  // Each kind's table first, then its lists, whatever order the files came in.
  struct Parsed {
    const CsvFile* file;
    const KindLayout* kind;
    const TableLayout* table;
  };
  std::vector<Parsed> mains, lists;
  for (const CsvFile& file : files) {
    auto which = TableOf(file.name);
    if (!which.ok()) return which.status();
    (which->second->list == nullptr ? mains : lists)
        .push_back({&file, which->first, which->second});
  }
  struct Built {
    std::string file;
    int line;
    const Kind* kind;
    std::unique_ptr<Message> resource;
  };
  std::vector<Built> built;
  // Resource name -> index in `built`, per kind.
  std::map<std::pair<std::string, std::string>, size_t> by_name;
  std::set<std::string> kinds_read;
  for (const Parsed& p : mains) {
    if (!kinds_read.insert(p.kind->kind->name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(p.file->name, ": a second table of ", p.kind->kind->plural));
    }
    auto table = ParseTable(*p.file, *p.table);
    if (!table.ok()) return table.status();
    for (const auto& [line, cells] : table->rows) {
      auto resource = Client::NewMessage(ResourceDescriptor(*p.kind->kind));
      for (size_t i = 0; i < cells.size(); ++i) {
        if (absl::Status s = SetCell(*resource, *table->columns[i], cells[i]); !s.ok()) {
          return FileLineError(p.file->name, line, s.message());
        }
      }
      const std::string name = resource->GetReflection()->GetString(
          *resource, resource->GetDescriptor()->FindFieldByName("name"));
      if (!name.empty()) by_name[{p.kind->kind->name, name}] = built.size();
      built.push_back({p.file->name, line, p.kind->kind, std::move(resource)});
    }
  }
  for (const Parsed& p : lists) {
    if (kinds_read.count(p.kind->kind->name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(p.file->name, ": its ", p.kind->kind->plural,
                                                     " are not read (import the folder, or ",
                                                     p.kind->main.file, ")"));
    }
    auto table = ParseTable(*p.file, *p.table);
    if (!table.ok()) return table.status();
    for (const auto& [line, cells] : table->rows) {
      const std::string& parent = cells[table->parent_index];
      auto it = by_name.find({p.kind->kind->name, parent});
      if (it == by_name.end()) {
        return FileLineError(p.file->name, line,
                             absl::StrCat(p.table->parent_column, " ", Quoted(parent),
                                          " has no row in ", p.kind->main.file));
      }
      Message& resource = *built[it->second].resource;
      Message* item = resource.GetReflection()->AddMessage(&resource, p.table->list);
      for (size_t i = 0; i < cells.size(); ++i) {
        if (table->columns[i] == nullptr) continue;
        if (absl::Status s = SetCell(*item, *table->columns[i], cells[i]); !s.ok()) {
          return FileLineError(p.file->name, line, s.message());
        }
      }
    }
  }
  std::vector<Record> records;
  for (Built& b : built) {
    Record record;
    record.file = b.file;
    record.line = b.line;
    record.kind = b.kind->name;
    record.resource_json = ToJson(*b.resource);
    records.push_back(std::move(record));
  }
  return records;
}

absl::Status WriteCsvFolder(const std::string& dir, const std::vector<CsvFile>& files) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    return absl::InvalidArgumentError(absl::StrCat("cannot make ", dir, ": ", error.message()));
  for (const CsvFile& file : files) {
    const std::string path = (std::filesystem::path(dir) / file.name).string();
    const std::string temp = path + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << file.text;
      if (!out.flush()) return absl::InvalidArgumentError(absl::StrCat("cannot write ", temp));
    }
    std::filesystem::rename(temp, path, error);
    if (error) {
      return absl::InvalidArgumentError(absl::StrCat("cannot write ", path, ": ", error.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CsvFile>> LoadCsvInput(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  std::vector<fs::path> paths;
  if (fs::is_directory(path, error)) {
    for (const auto& entry : fs::directory_iterator(path, error)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_regular_file() &&
          (absl::EndsWith(name, ".csv") || absl::EndsWith(name, ".CSV"))) {
        paths.push_back(entry.path());
      }
    }
    if (error)
      return absl::InvalidArgumentError(absl::StrCat("cannot read ", path, ": ", error.message()));
    if (paths.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no .csv file"));
  } else {
    const fs::path file(path);
    auto which = TableOf(file.filename().string());
    if (!which.ok()) return which.status();
    if (which->second->list != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": a list of ", which->first->kind->plural, "; import ",
                       which->first->main.file, " (it reads this file too) or the folder"));
    }
    paths.push_back(file);
    for (const TableLayout& list : which->first->lists) {
      const fs::path sibling = file.parent_path() / list.file;
      if (fs::exists(sibling, error)) paths.push_back(sibling);
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<CsvFile> files;
  for (const fs::path& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", p.string()));
    files.push_back({p.filename().string(), std::string(std::istreambuf_iterator<char>(in), {})});
  }
  return files;
}

}  // namespace sanhak::ctl
