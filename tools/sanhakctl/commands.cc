#include "tools/sanhakctl/commands.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/resource_names.h"
#include "common/trace_context.h"
#include "common/version.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/type/date.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "sanhak/events/v1/events.pb.h"
#include "sanhak/identity/v1/identity.pb.h"
#include "tools/sanhakctl/display.h"
#include "tools/sanhakctl/csv_table.h"
#include "tools/sanhakctl/errors.h"
#include "tools/sanhakctl/records.h"
#include "tools/sanhakctl/transfer.h"
#include "tools/sanhakctl/watch.h"
#include "tools/sanhakctl/xlsx_report.h"
#include "tools/sanhakctl/yaml.h"

namespace sanhak::ctl {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

namespace {


std::string ScalarText(const Message& m, const FieldDescriptor* f, int index) {
  const auto* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64: {
      const int64_t v = rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
      // Money reads as everywhere else in tables (382억원), never as raw won; JSON keeps
      // the exact integer.
      if (absl::EndsWith(f->name(), "_krw")) return FormatKrw(v);
      return absl::StrCat(v);
    }
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "yes" : "";
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* v = rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f);
      return v->number() == 0 ? "" : v->name();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      const std::string type = sub.GetDescriptor()->full_name();
      if (type == "google.protobuf.Timestamp") {
        const auto& ts = static_cast<const google::protobuf::Timestamp&>(sub);
        if (ts.seconds() == 0 && ts.nanos() == 0) return "";
        // What happens somewhere (an activity's start and end) in that place's zone, when
        // the resource has one; record keeping (create_time, ...) in Korea's; always
        // named. A date-only activity's span shows as its days.
        absl::TimeZone zone = Korea();
        const Descriptor* d = m.GetDescriptor();
        const bool span = f->name() == "start_time" || f->name() == "end_time";
        if (const FieldDescriptor* tz = d->FindFieldByName("time_zone");
            span && tz != nullptr && tz->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
            !r->GetString(m, tz).empty()) {
          absl::LoadTimeZone(r->GetString(m, tz), &zone);
        }
        absl::Time when = absl::FromUnixSeconds(ts.seconds());
        const FieldDescriptor* date_only = d->FindFieldByName("date_only");
        if (span && date_only != nullptr &&
            date_only->cpp_type() == FieldDescriptor::CPPTYPE_BOOL && r->GetBool(m, date_only)) {
          // The end is the midnight after the last day.
          if (f->name() == "end_time") when -= absl::Seconds(1);
          return absl::FormatTime("%Y-%m-%d", when, zone);
        }
        return TimeText(when, zone);
      }
      if (type == "google.type.Date") {
        const auto& d = static_cast<const google::type::Date&>(sub);
        if (d.year() == 0) return "";
        if (d.month() == 0) return absl::StrCat(d.year());
        if (d.day() == 0) return absl::StrFormat("%04d-%02d", d.year(), d.month());
        return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
      }
      if (type == "sanhak.events.v1.Person") {
        const auto& p = static_cast<const events::v1::Person&>(sub);
        return p.affiliation().empty() ? p.display_name()
                                       : absl::StrCat(p.display_name(), " (", p.affiliation(), ")");
      }
      if (type == "sanhak.registry.v1.MemberComposition") {
        return absl::StrCat(CellText(sub, "total"));
      }
      if (type == "sanhak.events.v1.Place") {
        std::vector<std::string> parts;
        for (const char* name : {"venue", "city", "country"}) {
          std::string t = CellText(sub, name);
          if (!t.empty()) parts.push_back(t);
        }
        return absl::StrJoin(parts, ", ");
      }
      return ToJson(sub);
    }
  }
  return "";
}

// Whether `field` of `m` holds anything worth a row in `get`'s view.
bool HasValue(const Message& m, const FieldDescriptor* f) {
  if (f->is_repeated()) return m.GetReflection()->FieldSize(m, f) > 0;
  if (f->has_presence()) return m.GetReflection()->HasField(m, f);
  return !ScalarText(m, f, 0).empty();
}

absl::StatusOr<std::string> ReadFileText(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

std::vector<std::string> WideColumns(const Kind& kind) {
  std::vector<std::string> columns = kind.columns;
  const Descriptor* d = ResourceDescriptor(kind);
  if (d == nullptr) return columns;
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& name = d->field(i)->name();
    // The etag is for writes, never for reading.
    if (name == "etag") continue;
    if (std::find(columns.begin(), columns.end(), name) == columns.end()) {
      columns.push_back(name);
    }
  }
  return columns;
}

std::string WideCell(const Message& message, const std::string& path) {
  const FieldDescriptor* f = message.GetDescriptor()->FindFieldByName(path);
  if (f != nullptr && f->is_repeated() && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    // A forum's 12 timetable slots do not fit a cell: their count does (get -o yaml has
    // them whole).
    const int n = message.GetReflection()->FieldSize(message, f);
    return n == 0 ? "" : absl::StrCat(n);
  }
  return CellText(message, path);
}

namespace {

class Runner {
 public:
  Runner(const Options& options, std::ostream& out, std::ostream& err)
      : options_(options), client_(options.targets), out_(out), err_(err) {}

  absl::Status Dispatch(const std::vector<std::string>& args) {
    const std::string& command = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (absl::Status s = CheckOutput(command); !s.ok()) return s;
    if (command == "get") return Get(rest);
    if (command == "list") return List(rest);
    if (command == "create") return Create(rest);
    if (command == "update") return Update(rest);
    if (command == "delete") return Delete(rest);
    if (command == "scorecard") return Scorecard(rest);
    if (command == "whoami") return WhoAmI(rest);
    if (command == "network") return Network(rest);
    if (command == "agenda") return Agenda(rest);
    if (command == "aggregates") return AggregatesCommand(rest);
    if (command == "summary") return Summary(rest);
    if (command == "watch") return WatchCommand(rest);
    if (command == "export") return ExportCommand(rest);
    if (command == "import") return ImportCommand(rest);
    if (command == "report") return ReportCommand(rest);
    if (command == "health") return Health(rest);
    if (command == "completion") return Completion(rest);
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command \"", command, "\" (sanhakctl --help lists them)"));
  }

 private:
  // Whether --output suits `command`: every command that prints resources or figures
  // takes table, json and yaml; wide only where a table of resources has more columns to
  // show (get, list, create, update); the file commands write files, not output.
  absl::Status CheckOutput(const std::string& command) const {
    const std::string& o = options_.output;
    if (o != "table" && o != "wide" && o != "json" && o != "yaml") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--output (-o) must be table, wide, json or yaml, not \"", o, "\""));
    }
    if (o == "wide" && command != "get" && command != "list" && command != "create" &&
        command != "update") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--output=wide: ", command, " has no wide view (wide adds columns to the resource "
          "tables of get, list, create and update); use table, json or yaml"));
    }
    if (o != "table" && (command == "export" || command == "import" || command == "report" ||
                         command == "completion")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--output=", o, ": ", command, " prints no resources",
          command == "export" ? " (--format=jsonl|csv picks what it writes)" : ""));
    }
    return absl::OkStatus();
  }

  // --output=json or yaml: the message itself, in protobuf's JSON mapping (yaml.h).
  bool json() const { return options_.output == "json" || options_.output == "yaml"; }
  bool wide() const { return options_.output == "wide"; }
  void Emit(const Message& m) {
    if (options_.output == "yaml") {
      out_ << ToYaml(m);
    } else {
      out_ << ToJson(m) << "\n";
    }
  }

  absl::StatusOr<const Kind*> KindArg(const std::vector<std::string>& args, size_t want,
                                      absl::string_view usage) {
    if (args.size() != want) {
      return absl::InvalidArgumentError(absl::StrCat("usage: sanhakctl ", usage));
    }
    const Kind* kind = FindKind(args[0]);
    if (kind == nullptr) {
      std::vector<std::string> names;
      for (const Kind& k : Kinds()) names.push_back(k.name);
      return absl::InvalidArgumentError(absl::StrCat("unknown kind \"", args[0],
                                                     "\"; one of ", absl::StrJoin(names, ", ")));
    }
    return kind;
  }

  // What a user typed for a `kind` resource, as its full name: a name or bare id as
  // ResolveName takes it; otherwise (a display name, e.g. 특수목적선 or 부산) the one
  // resource of that kind whose display name it is, or else the one whose display name
  // contains it. NOT_FOUND naming the closest when none; INVALID_ARGUMENT naming them when
  // several. Only a typed text that is not an id costs a List call.
  absl::StatusOr<std::string> Lookup(const Kind& kind, absl::string_view text) {
    absl::StatusOr<std::string> name = ResolveName(kind, text);
    if (name.ok() && IsValidId(IdOf(*name))) return name;
    const FieldDescriptor* label = nullptr;
    if (const Descriptor* d = ResourceDescriptor(kind); d != nullptr) {
      label = d->FindFieldByName("display_name");
      if (label == nullptr) label = d->FindFieldByName("title");
    }
    if (!kind.parent_collection.empty() || label == nullptr ||
        absl::StrContains(text, '/')) {
      return name.ok() ? absl::InvalidArgumentError(absl::StrCat(
                             "\"", text, "\" is not a ", kind.name,
                             " name (ids are lowercase letters, digits and '-')"))
                       : name.status();
    }
    auto all = client_.List(kind, {}, 0, nullptr);
    if (!all.ok()) return all.status();
    std::vector<std::pair<std::string, std::string>> exact, partial;
    for (const auto& item : *all) {
      const std::string shown = item->GetReflection()->GetString(*item, label);
      const std::string item_name =
          item->GetReflection()->GetString(*item, item->GetDescriptor()->FindFieldByName("name"));
      if (shown == text) exact.emplace_back(item_name, shown);
      else if (absl::StrContains(shown, text)) partial.emplace_back(item_name, shown);
    }
    const auto& found = exact.empty() ? partial : exact;
    if (found.size() == 1) return found.front().first;
    auto listed = [](const std::vector<std::pair<std::string, std::string>>& v) {
      std::vector<std::string> out;
      for (size_t i = 0; i < v.size() && i < 8; ++i) {
        out.push_back(absl::StrCat(v[i].first, " (", v[i].second, ")"));
      }
      if (v.size() > 8) out.push_back(absl::StrCat("and ", v.size() - 8, " more"));
      return absl::StrJoin(out, ", ");
    };
    if (found.empty()) {
      return absl::NotFoundError(absl::StrCat("no ", kind.name, " is named or called \"", text,
                                              "\" (`sanhakctl list ", kind.plural,
                                              "` shows them)"));
    }
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" could be any of ",
                                                   found.size(), " ", kind.plural, ": ",
                                                   listed(found), "; give the name"));
  }

  // The List filters as typed, with every reference (--region=부산, --council=x) looked up
  // as its full name, and a child kind's --PARENT_KIND taken as its parent.
  absl::StatusOr<std::map<std::string, std::string>> ResolvedFilters(const Kind& kind) {
    std::map<std::string, std::string> filters = options_.filters;
    const Descriptor* request = MethodOf(kind, "List")->input_type();
    const Kind* parent = kind.parent_collection.empty() ? nullptr : FindKind(kind.parent_collection);
    if (parent != nullptr && filters.count(parent->name) != 0 &&
        request->FindFieldByName(parent->name) == nullptr && filters.count("parent") == 0) {
      filters["parent"] = filters[parent->name];
      filters.erase(parent->name);
    }
    for (auto& [field, value] : filters) {
      const Kind* referenced = field == "parent" ? parent : FindKind(field);
      if (referenced == nullptr || request->FindFieldByName(field) == nullptr) continue;
      absl::StatusOr<std::string> name = Lookup(*referenced, value);
      if (!name.ok()) {
        return absl::Status(name.status().code(),
                            absl::StrCat("--", field, ": ", name.status().message()));
      }
      value = *name;
    }
    return filters;
  }

  // --dry-run: asks the server to check the write without making it (AIP-163's
  // validate_only), for the methods that offer it.
  absl::Status MarkDryRun(Message& request, absl::string_view verb, const Kind& kind) {
    if (!options_.dry_run) return absl::OkStatus();
    const FieldDescriptor* f = request.GetDescriptor()->FindFieldByName("validate_only");
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dry-run: ", verb, " ", kind.name, " has no server-side dry run (its request has no "
          "validate_only)"));
    }
    request.GetReflection()->SetBool(&request, f, true);
    return absl::OkStatus();
  }
  // What a write's confirmation says of a dry run.
  const char* DryRunNote() const { return options_.dry_run ? " (dry run: nothing written)" : ""; }

  // Resources of `kind` as a table: one row each, `columns` (field paths) as its columns.
  std::string ResourceTable(const Kind& kind, const std::vector<const Message*>& items,
                            const std::vector<std::string>& columns) {
    std::vector<std::string> headers;
    for (const auto& c : columns) headers.push_back(absl::AsciiStrToUpper(c));
    Table table(headers);
    table.set_max_cell_width(options_.max_width);
    table.KeepWhole(0);
    const Descriptor* d = ResourceDescriptor(kind);
    for (size_t i = 0; i < columns.size(); ++i) {
      const FieldDescriptor* f = d->FindFieldByName(columns[i]);
      if (f == nullptr) continue;
      if ((f->is_repeated() && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) ||
          (!f->is_repeated() && (f->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
                                 f->cpp_type() == FieldDescriptor::CPPTYPE_INT64))) {
        table.AlignRight(i);
      }
    }
    for (const Message* item : items) {
      std::vector<std::string> row;
      for (const auto& c : columns) row.push_back(WideCell(*item, c));
      table.AddRow(std::move(row));
    }
    return table.Render();
  }

  // `get`'s view of one resource: field, value (--output=wide: the row `list -o wide`
  // shows for it, as kubectl's get NAME -o wide).
  void PrintResource(const Message& m) {
    if (json()) {
      Emit(m);
      return;
    }
    if (wide()) {
      for (const Kind& kind : Kinds()) {
        if (ResourceDescriptor(kind) == m.GetDescriptor()) {
          out_ << ResourceTable(kind, {&m}, WideColumns(kind));
          return;
        }
      }
    }
    Table table({"FIELD", "VALUE"});
    const Descriptor* d = m.GetDescriptor();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (!HasValue(m, f)) continue;
      if (f->is_repeated() && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const int n = m.GetReflection()->FieldSize(m, f);
        for (int k = 0; k < n; ++k) {
          table.AddRow({absl::StrCat(f->name(), "[", k, "]"), ScalarText(m, f, k)});
        }
        continue;
      }
      table.AddRow({f->name(), CellText(m, f->name())});
    }
    out_ << table.Render();
  }

  absl::Status Get(const std::vector<std::string>& args) {
    auto kind = KindArg(args, 2, "get KIND NAME");
    if (!kind.ok()) return kind.status();
    auto name = Lookup(**kind, args[1]);
    if (!name.ok()) return name.status();
    auto resource = client_.Get(**kind, *name);
    if (!resource.ok()) return resource.status();
    PrintResource(**resource);
    return absl::OkStatus();
  }

  absl::Status List(const std::vector<std::string>& args) {
    auto kind = KindArg(args, 1, "list KIND [--FILTER=VALUE ...] [--limit=N]");
    if (!kind.ok()) return kind.status();
    auto filters = ResolvedFilters(**kind);
    if (!filters.ok()) return filters.status();
    int total = 0;
    auto items = client_.List(**kind, *filters, options_.limit, &total);
    if (!items.ok()) return items.status();
    if (json()) {
      // The List response's JSON with every page merged.
      const MethodDescriptor* method = MethodOf(**kind, "List");
      auto response = Client::NewMessage(method->output_type());
      const Descriptor* d = response->GetDescriptor();
      for (int i = 0; i < d->field_count(); ++i) {
        const FieldDescriptor* f = d->field(i);
        if (f->is_repeated()) {
          for (const auto& item : *items) {
            response->GetReflection()->AddMessage(response.get(), f)->CopyFrom(*item);
          }
        }
      }
      response->GetReflection()->SetInt32(response.get(), d->FindFieldByName("total_size"),
                                          total);
      Emit(*response);
      return absl::OkStatus();
    }
    std::vector<const Message*> rows;
    for (const auto& item : *items) rows.push_back(item.get());
    out_ << ResourceTable(**kind, rows, wide() ? WideColumns(**kind) : (*kind)->columns);
    if (options_.stdout_tty) {
      out_ << items->size() << " of " << total << " " << (*kind)->plural << "\n";
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ResourceText() {
    if (!options_.json.empty() && !options_.file.empty()) {
      return absl::InvalidArgumentError("give the resource with --json or -f, not both");
    }
    if (!options_.json.empty()) return options_.json;
    if (!options_.file.empty()) return ReadFileText(options_.file);
    return absl::InvalidArgumentError("give the resource as JSON: --json='{...}' or -f FILE");
  }

  // The resource of `kind` in `text` (what ResourceText read: read once, as -f - is stdin).
  absl::StatusOr<std::unique_ptr<Message>> ResourceArg(const Kind& kind, const std::string& text) {
    auto resource = Client::NewMessage(ResourceDescriptor(kind));
    if (absl::Status s = FromJson(text, resource.get()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("the ", kind.name, " JSON: ", s.message()));
    }
    QualifyBareIds(*resource);
    return resource;
  }

  static const FieldDescriptor* ResourceFieldOf(const Descriptor* request,
                                                const Descriptor* resource) {
    for (int i = 0; i < request->field_count(); ++i) {
      if (request->field(i)->message_type() == resource) return request->field(i);
    }
    return nullptr;
  }

  absl::Status Create(const std::vector<std::string>& args) {
    if (args.size() != 1 && args.size() != 2) {
      return absl::InvalidArgumentError(
          "usage: sanhakctl create KIND [NAME] (--json='{...}' | -f FILE)");
    }
    auto kind = KindArg({args[0]}, 1, "create KIND [NAME]");
    if (!kind.ok()) return kind.status();
    if (!(*kind)->writable) {
      return absl::InvalidArgumentError(
          absl::StrCat((*kind)->plural, " are reference data, loaded by the registry's importer"));
    }
    auto text = ResourceText();
    if (!text.ok()) return text.status();
    auto resource = ResourceArg(**kind, *text);
    if (!resource.ok()) return resource.status();
    Message& r = **resource;
    const FieldDescriptor* name_field = r.GetDescriptor()->FindFieldByName("name");
    std::string name = r.GetReflection()->GetString(r, name_field);
    if (args.size() == 2) {
      auto resolved = ResolveName(**kind, args[1]);
      if (!resolved.ok()) return resolved.status();
      name = *resolved;
    } else if (!name.empty()) {
      auto resolved = ResolveName(**kind, name);
      if (!resolved.ok()) return resolved.status();
      name = *resolved;
    }
    const MethodDescriptor* method = MethodOf(**kind, "Create");
    auto request = Client::NewMessage(method->input_type());
    const Descriptor* in = method->input_type();
    if (!(*kind)->parent_collection.empty()) {
      if (name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("create ", (*kind)->name,
                                                       " needs its NAME (PARENT/ID)"));
      }
      if (absl::Status s = SetFieldFromText(*request, "parent", ParentOf(name)); !s.ok()) return s;
      if ((*kind)->name == "membership" && r.GetReflection()->GetString(
                                               r, r.GetDescriptor()->FindFieldByName(
                                                      "organization")).empty()) {
        r.GetReflection()->SetString(&r, r.GetDescriptor()->FindFieldByName("organization"),
                                     absl::StrCat("organizations/", IdOf(name)));
      }
    }
    if (!name.empty()) {
      r.GetReflection()->SetString(&r, name_field, name);
      const FieldDescriptor* id = in->FindFieldByName((*kind)->name + "_id");
      if (id != nullptr) {
        if (absl::Status s = SetFieldFromText(*request, id->name(), IdOf(name)); !s.ok()) return s;
      }
    }
    if (!options_.request_id.empty()) {
      if (absl::Status s = SetFieldFromText(*request, "request_id", options_.request_id); !s.ok()) return s;
    }
    request->GetReflection()
        ->MutableMessage(request.get(), ResourceFieldOf(in, r.GetDescriptor()))
        ->CopyFrom(r);
    if (absl::Status s = MarkDryRun(*request, "create", **kind); !s.ok()) return s;
    auto response = Client::NewMessage(method->output_type());
    if (absl::Status s = client_.Call((*kind)->service, method, *request, response.get());
        !s.ok()) {
      return s;
    }
    if (!json()) out_ << "created " << CellText(*response, "name") << DryRunNote() << "\n";
    PrintResource(*response);
    return absl::OkStatus();
  }

  // Top-level fields named in the JSON object `text` (JSON or proto names).
  static absl::StatusOr<std::vector<std::string>> FieldsIn(absl::string_view text,
                                                          const Descriptor* type) {
    google::protobuf::Struct s;
    if (absl::Status st = FromJson(text, &s); !st.ok()) return st;
    std::vector<std::string> out;
    for (const auto& [key, value] : s.fields()) {
      const FieldDescriptor* f = type->FindFieldByName(key);
      if (f == nullptr) f = type->FindFieldByCamelcaseName(key);
      if (f == nullptr) continue;
      if (f->name() == "name" || f->name() == "etag") continue;
      out.push_back(f->name());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  absl::Status Update(const std::vector<std::string>& args) {
    auto kind = KindArg(args, 2, "update KIND NAME (--json='{...}' | -f FILE) [--update_mask=a,b]");
    if (!kind.ok()) return kind.status();
    if (!(*kind)->writable) {
      return absl::InvalidArgumentError(absl::StrCat((*kind)->plural, " are reference data"));
    }
    auto name = ResolveName(**kind, args[1]);
    if (!name.ok()) return name.status();
    auto text = ResourceText();
    if (!text.ok()) return text.status();
    auto resource = ResourceArg(**kind, *text);
    if (!resource.ok()) return resource.status();
    Message& r = **resource;
    const Descriptor* d = r.GetDescriptor();
    // A JSON copied from another resource must not quietly update this one.
    const std::string named = r.GetReflection()->GetString(r, d->FindFieldByName("name"));
    if (!named.empty()) {
      absl::StatusOr<std::string> json_name = ResolveName(**kind, named);
      if (!json_name.ok() || *json_name != *name) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the JSON's name is \"", named, "\" but the command updates ", *name,
            "; drop \"name\" from the JSON or make the two agree"));
      }
    }
    r.GetReflection()->SetString(&r, d->FindFieldByName("name"), *name);
    std::vector<std::string> mask;
    if (!options_.update_mask.empty()) {
      mask = absl::StrSplit(options_.update_mask, ',', absl::SkipEmpty());
    } else {
      auto fields = FieldsIn(*text, d);
      if (!fields.ok()) return fields.status();
      mask = *fields;
    }
    if (mask.empty()) {
      return absl::InvalidArgumentError("nothing to update: the JSON names no field");
    }
    const FieldDescriptor* etag_field = d->FindFieldByName("etag");
    std::string etag = r.GetReflection()->GetString(r, etag_field);
    if (etag.empty()) etag = options_.etag;
    if (etag.empty()) {
      // Read-modify-write: the etag of the current state, so a concurrent change between
      // this read and the write is still refused (ABORTED).
      auto current = client_.Get(**kind, *name);
      if (!current.ok()) return current.status();
      etag = (*current)->GetReflection()->GetString(**current, etag_field);
    }
    r.GetReflection()->SetString(&r, etag_field, etag);
    const MethodDescriptor* method = MethodOf(**kind, "Update");
    auto request = Client::NewMessage(method->input_type());
    const Descriptor* in = method->input_type();
    request->GetReflection()->MutableMessage(request.get(), ResourceFieldOf(in, d))->CopyFrom(r);
    google::protobuf::FieldMask field_mask;
    for (const auto& p : mask) field_mask.add_paths(std::string(absl::StripAsciiWhitespace(p)));
    request->GetReflection()
        ->MutableMessage(request.get(), in->FindFieldByName("update_mask"))
        ->CopyFrom(field_mask);
    if (absl::Status s = MarkDryRun(*request, "update", **kind); !s.ok()) return s;
    auto response = Client::NewMessage(method->output_type());
    if (absl::Status s = client_.Call((*kind)->service, method, *request, response.get());
        !s.ok()) {
      return s;
    }
    if (!json()) {
      out_ << "updated " << *name << " (" << absl::StrJoin(mask, ", ") << ")" << DryRunNote()
           << "\n";
    }
    PrintResource(*response);
    return absl::OkStatus();
  }

  absl::Status Delete(const std::vector<std::string>& args) {
    auto kind = KindArg(args, 2, "delete KIND NAME [--etag=ETAG]");
    if (!kind.ok()) return kind.status();
    if (!(*kind)->writable) {
      return absl::InvalidArgumentError(absl::StrCat((*kind)->plural, " are reference data"));
    }
    auto name = ResolveName(**kind, args[1]);
    if (!name.ok()) return name.status();
    const MethodDescriptor* method = MethodOf(**kind, "Delete");
    auto request = Client::NewMessage(method->input_type());
    if (absl::Status s = SetFieldFromText(*request, "name", *name); !s.ok()) return s;
    if (!options_.etag.empty()) {
      if (absl::Status s = SetFieldFromText(*request, "etag", options_.etag); !s.ok()) return s;
    }
    if (absl::Status s = MarkDryRun(*request, "delete", **kind); !s.ok()) return s;
    auto response = Client::NewMessage(method->output_type());
    if (absl::Status s = client_.Call((*kind)->service, method, *request, response.get());
        !s.ok()) {
      return s;
    }
    if (json()) {
      out_ << "{}\n";
    } else {
      out_ << "deleted " << *name << DryRunNote() << "\n";
    }
    return absl::OkStatus();
  }

  const MethodDescriptor* AnalyticsMethod(absl::string_view name) {
    return analytics::v1::Aggregates::descriptor()
        ->file()
        ->FindServiceByName("AnalyticsService")
        ->FindMethodByName(std::string(name));
  }

  // The identity, role and council scope the server sees for this caller (every
  // service answers; --target picks another than the registry).
  // Each service's grpc.health.v1 answer for the whole server, as a probe sees it.
  absl::Status Health(const std::vector<std::string>& args) {
    if (!args.empty()) return absl::InvalidArgumentError("usage: sanhakctl health");
    const MethodDescriptor* check = grpc::health::v1::HealthCheckRequest::descriptor()
                                        ->file()
                                        ->FindServiceByName("Health")
                                        ->FindMethodByName("Check");
    const Targets& targets = client_.targets();
    struct Row {
      const char* service;
      Service which;
      std::string target;
    };
    const Row rows[] = {{"registry", Service::kRegistry, targets.registry},
                        {"events", Service::kEvents, targets.events},
                        {"analytics", Service::kAnalytics, targets.analytics}};
    Table table({"SERVICE", "TARGET", "STATUS"});
    google::protobuf::Struct report;
    auto* list = (*report.mutable_fields())["services"].mutable_list_value();
    int serving = 0;
    for (const Row& row : rows) {
      grpc::health::v1::HealthCheckRequest request;
      grpc::health::v1::HealthCheckResponse response;
      absl::Status s = client_.Call(row.which, check, request, &response);
      std::string status =
          s.ok() ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())
                 : absl::StrCat("UNREACHABLE (", absl::StatusCodeToString(s.code()), ")");
      if (s.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
        ++serving;
      }
      table.AddRow({row.service, row.target, status});
      auto* entry = list->add_values()->mutable_struct_value()->mutable_fields();
      (*entry)["service"].set_string_value(row.service);
      (*entry)["target"].set_string_value(row.target);
      (*entry)["status"].set_string_value(status);
    }
    if (json()) {
      Emit(report);
    } else {
      out_ << table.Render();
    }
    if (serving != 3) {
      return absl::UnavailableError(absl::StrCat(3 - serving, " of 3 services not serving"));
    }
    return absl::OkStatus();
  }

  // A script that completes commands, kinds and flags (sanhakctl completion bash|zsh),
  // as kubectl completion prints one to source.
  absl::Status Completion(const std::vector<std::string>& args) {
    if (args.size() != 1 || (args[0] != "bash" && args[0] != "zsh")) {
      return absl::InvalidArgumentError("usage: sanhakctl completion bash|zsh");
    }
    std::vector<std::string> kinds;
    for (const Kind& k : Kinds()) kinds.push_back(k.name);
    std::string script = absl::StrCat(
        args[0] == "zsh" ? "#compdef sanhakctl\nautoload -U +X bashcompinit && bashcompinit\n"
                         : "",
        "# sanhakctl completion ", args[0], ": source it, e.g. source <(sanhakctl completion ",
        args[0], ")\n",
        "_sanhakctl() {\n"
        "  local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
        "  local commands=\"", absl::StrJoin(CommandNames(), " "), "\"\n",
        "  local kinds=\"", absl::StrJoin(kinds, " "), "\"\n",
        "  local flags=\"", absl::StrJoin(options_.flag_names, " "), "\"\n",
        "  if [[ \"$cur\" == -* ]]; then\n"
        "    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n"
        "    return\n"
        "  fi\n"
        "  local i command=\"\" position=0\n"
        "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "    [[ \"${COMP_WORDS[i]}\" == -* ]] && continue\n"
        "    position=$((position + 1))\n"
        "    [[ $position -eq 1 ]] && command=\"${COMP_WORDS[i]}\"\n"
        "  done\n"
        "  if [[ $position -eq 0 ]]; then\n"
        "    COMPREPLY=($(compgen -W \"$commands\" -- \"$cur\"))\n"
        "  elif [[ $position -eq 1 ]]; then\n"
        "    case \"$command\" in\n"
        "      get|list|create|update|delete) COMPREPLY=($(compgen -W \"$kinds\" -- \"$cur\")) ;;\n"
        "      completion) COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")) ;;\n"
        "      help) COMPREPLY=($(compgen -W \"$commands\" -- \"$cur\")) ;;\n"
        "      import) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
        "    esac\n"
        "  fi\n"
        "}\n"
        "complete -F _sanhakctl sanhakctl\n");
    out_ << script;
    return absl::OkStatus();
  }

  absl::Status WhoAmI(const std::vector<std::string>& args) {
    if (!args.empty()) return absl::InvalidArgumentError("usage: sanhakctl whoami");
    identity::v1::WhoAmIRequest request;
    identity::v1::WhoAmIResponse who;
    const MethodDescriptor* method = identity::v1::WhoAmIRequest::descriptor()
                                         ->file()
                                         ->FindServiceByName("IdentityService")
                                         ->FindMethodByName("WhoAmI");
    if (absl::Status s = client_.Call(Service::kRegistry, method, request, &who); !s.ok()) {
      return s;
    }
    if (json()) {
      Emit(who);
      return absl::OkStatus();
    }
    Table t({"PRINCIPAL", who.principal()});
    t.AddRow({"role", who.role()});
    t.AddRow({"councils", who.councils().empty() ? std::string("(every council)")
                                                 : absl::StrJoin(who.councils(), ", ")});
    t.AddRow({"authenticated by", who.authenticated_by()});
    out_ << t.Render();
    return absl::OkStatus();
  }

  absl::Status Scorecard(const std::vector<std::string>& args) {
    if (args.size() != 1) return absl::InvalidArgumentError("usage: sanhakctl scorecard COUNCIL");
    auto name = Lookup(*FindKind("council"), args[0]);
    if (!name.ok()) return name.status();
    analytics::v1::GetCouncilScorecardRequest request;
    request.set_council(*name);
    analytics::v1::CouncilScorecard card;
    if (absl::Status s = client_.Call(Service::kAnalytics, AnalyticsMethod("GetCouncilScorecard"),
                                      request, &card);
        !s.ok()) {
      return s;
    }
    if (json()) {
      Emit(card);
      return absl::OkStatus();
    }
    auto members = [](const analytics::v1::MemberCounts& m) {
      return absl::StrFormat("%d (기업 %d, 학교 %d, 연구소 %d, 지원기관 %d, 기타 %d)", m.total(),
                             m.companies(), m.universities(), m.research_institutes(),
                             m.support_agencies(), m.others());
    };
    Table t({"COUNCIL", card.council()});
    t.AddRow({"name", card.display_name()});
    t.AddRow({"field", card.field()});
    t.AddRow({"regions", absl::StrJoin(card.regions(), ", ")});
    t.AddRow({"reported members", members(card.reported_members())});
    t.AddRow({"registered members", members(card.registered_members())});
    t.AddRow({"activities", absl::StrCat(card.activities())});
    for (const auto& c : card.activities_by_kind()) {
      t.AddRow({absl::StrCat("  ", c.key()), absl::StrCat(c.value())});
    }
    t.AddRow({"registrations", absl::StrCat(card.registrations())});
    t.AddRow({"outcomes", absl::StrCat(card.outcomes())});
    for (const auto& o : card.outcomes_by_category()) {
      t.AddRow({absl::StrCat("  ", o.category()),
                absl::StrCat(o.outcomes(), ", budget ", FormatKrw(o.total_budget_krw()))});
    }
    t.AddRow({"total budget", FormatKrw(card.total_budget_krw())});
    t.AddRow({"national share", FormatKrw(card.national_share_krw())});
    t.AddRow({"deals", FormatKrw(card.deal_amount_krw())});
    out_ << t.Render();
    return absl::OkStatus();
  }

  absl::Status Network(const std::vector<std::string>& args) {
    if (!args.empty()) return absl::InvalidArgumentError("usage: sanhakctl network [--top=N]");
    analytics::v1::GetNetworkRequest request;
    request.set_top_complexes(options_.top);
    analytics::v1::Network network;
    if (absl::Status s =
            client_.Call(Service::kAnalytics, AnalyticsMethod("GetNetwork"), request, &network);
        !s.ok()) {
      return s;
    }
    // --top=N bounds every list, not only the complexes the server cuts: the N region
    // pairs joined by the most councils (the server lists them by region) and the N hub
    // regions.
    if (options_.top > 0) {
      auto* links = network.mutable_links();
      std::stable_sort(links->begin(), links->end(),
                       [](const analytics::v1::RegionLink& a, const analytics::v1::RegionLink& b) {
                         return a.councils_size() > b.councils_size();
                       });
      while (links->size() > options_.top) links->RemoveLast();
      while (network.hub_regions_size() > options_.top) {
        network.mutable_hub_regions()->RemoveLast();
      }
      while (network.hub_complexes_size() > options_.top) {
        network.mutable_hub_complexes()->RemoveLast();
      }
    }
    if (json()) {
      Emit(network);
      return absl::OkStatus();
    }
    Table links({"REGION A", "REGION B", "COUNCILS", "NAMES"});
    links.AlignRight(2);
    links.set_max_cell_width(options_.max_width * 2);
    for (const auto& l : network.links()) {
      links.AddRow({l.region_a(), l.region_b(), absl::StrCat(l.councils_size()),
                    absl::StrJoin(l.councils(), ", ")});
    }
    out_ << links.Render() << "\n";
    Table hubs({"HUB COMPLEX", "NAME", "COUNCILS"});
    hubs.AlignRight(2);
    for (const auto& c : network.hub_complexes()) {
      hubs.AddRow({c.key(), c.label(), absl::StrCat(c.value())});
    }
    out_ << hubs.Render() << "\n";
    Table regions({"HUB REGION", "NAME", "COUNCILS"});
    regions.AlignRight(2);
    for (const auto& c : network.hub_regions()) {
      regions.AddRow({c.key(), c.label(), absl::StrCat(c.value())});
    }
    out_ << regions.Render();
    return absl::OkStatus();
  }

  absl::Status Agenda(const std::vector<std::string>& args) {
    if (args.size() != 1) return absl::InvalidArgumentError("usage: sanhakctl agenda ACTIVITY");
    const Kind& kind = *FindKind("activity");
    auto name = ResolveName(kind, args[0]);
    if (!name.ok()) return name.status();
    auto resource = client_.Get(kind, *name);
    if (!resource.ok()) return resource.status();
    events::v1::Activity activity;
    activity.CopyFrom(**resource);
    if (json()) {
      events::v1::Activity agenda;
      agenda.set_name(activity.name());
      agenda.set_title(activity.title());
      *agenda.mutable_sessions() = activity.sessions();
      *agenda.mutable_timetable() = activity.timetable();
      agenda.set_press_open_until_slot(activity.press_open_until_slot());
      Emit(agenda);
      return absl::OkStatus();
    }
    out_ << activity.title() << "\n";
    const std::string when = CellText(activity, "start_time");
    const std::string place = CellText(activity, "place");
    if (!when.empty() || !place.empty()) out_ << when << (place.empty() ? "" : "  ") << place << "\n";
    out_ << "\n";
    std::map<int, const events::v1::ForumSession*> sessions;
    for (const auto& s : activity.sessions()) sessions[s.number()] = &s;
    absl::TimeZone zone = Korea();
    if (!activity.time_zone().empty()) absl::LoadTimeZone(activity.time_zone(), &zone);
    Table t({absl::StrCat("TIME (", ZoneAbbreviation(zone, activity.start_time().seconds()), ")"),
             "SLOT", "TITLE", "KIND", "LEAD", "NOTE"});
    t.set_max_cell_width(options_.max_width);
    bool press_open = !activity.press_open_until_slot().empty();
    for (const auto& slot : activity.timetable()) {
      std::vector<std::string> leads;
      for (int lead : slot.leads()) leads.push_back(events::v1::SlotLead_Name(lead));
      std::string title = slot.title();
      auto session = sessions.find(slot.session_number());
      if (slot.session_number() > 0 && session != sessions.end()) {
        title = absl::StrCat(title, " — ", session->second->councils_size(), " councils");
      }
      std::string note = slot.note();
      if (press_open) {
        note = absl::StrCat(note, note.empty() ? "" : "; ", "press open");
        if (slot.id() == activity.press_open_until_slot()) press_open = false;
      }
      t.AddRow({absl::StrCat(
                    absl::FormatTime("%H:%M", absl::FromUnixSeconds(slot.start_time().seconds()),
                                     zone),
                    "-",
                    absl::FormatTime("%H:%M", absl::FromUnixSeconds(slot.end_time().seconds()),
                                     zone)),
                slot.id(), title, events::v1::SlotKind_Name(slot.kind()),
                absl::StrJoin(leads, ", "), note});
    }
    out_ << t.Render();
    return absl::OkStatus();
  }

  absl::StatusOr<analytics::v1::Aggregates> FetchAggregates() {
    analytics::v1::GetAggregatesRequest request;
    analytics::v1::Aggregates aggregates;
    if (absl::Status s = client_.Call(Service::kAnalytics, AnalyticsMethod("GetAggregates"),
                                      request, &aggregates);
        !s.ok()) {
      return s;
    }
    return aggregates;
  }

  absl::Status AggregatesCommand(const std::vector<std::string>& args) {
    if (!args.empty()) return absl::InvalidArgumentError("usage: sanhakctl aggregates");
    auto aggregates = FetchAggregates();
    if (!aggregates.ok()) return aggregates.status();
    if (json()) {
      Emit(*aggregates);
      return absl::OkStatus();
    }
    out_ << SummaryLine(TotalsOf(*aggregates)) << "\n\n" << AggregatesTables(*aggregates);
    return absl::OkStatus();
  }

  // Every field of the aggregates, as --output=json has them: the single figures in one
  // table, then one table per list, titled by the field ("COUNCILS BY FIELD"). Driven by
  // the descriptor, so a field added to Aggregates shows here too (a message type this
  // does not know, as its JSON).
  std::string AggregatesTables(const analytics::v1::Aggregates& aggregates) {
    const Descriptor* d = aggregates.GetDescriptor();
    const auto* r = aggregates.GetReflection();
    auto title = [](const FieldDescriptor* f) {
      std::string t = absl::AsciiStrToUpper(f->name());
      std::replace(t.begin(), t.end(), '_', ' ');
      return t;
    };
    // The kinds a total is made of, those present only, so a row stays short.
    auto by_kind = [](const analytics::v1::MemberCounts& m) {
      std::vector<std::string> parts;
      const std::pair<const char*, int64_t> kinds[] = {
          {"기업", m.companies()},          {"학교", m.universities()},
          {"연구소", m.research_institutes()}, {"지원기관", m.support_agencies()},
          {"기타", m.others()}};
      for (const auto& [label, n] : kinds) {
        if (n != 0) parts.push_back(absl::StrCat(label, " ", n));
      }
      return absl::StrJoin(parts, ", ");
    };
    auto sums_table = [&](const std::string& heading) {
      Table t({heading, "OUTCOMES", "BUDGET", "NATIONAL", "DEALS"});
      for (size_t i = 1; i < 5; ++i) t.AlignRight(i);
      return t;
    };
    auto sums_row = [](Table& t, const analytics::v1::OutcomeSums& s, const std::string& key) {
      t.AddRow({key, absl::StrCat(s.outcomes()), FormatKrw(s.total_budget_krw()),
                FormatKrw(s.national_share_krw()), FormatKrw(s.deal_amount_krw())});
    };
    Table figures({"AGGREGATE", "VALUE"});
    figures.AlignRight(1);
    std::vector<std::string> sections;
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->is_map()) {
        Table t({title(f), "VALUE"});
        t.AlignRight(1);
        std::map<std::string, std::string> sorted;
        for (int k = 0; k < r->FieldSize(aggregates, f); ++k) {
          const Message& entry = r->GetRepeatedMessage(aggregates, f, k);
          sorted[CellText(entry, "key")] = CellText(entry, "value");
        }
        for (const auto& [key, value] : sorted) t.AddRow({key, value});
        sections.push_back(t.Render());
        continue;
      }
      const std::string type =
          f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ? f->message_type()->full_name() : "";
      if (!f->is_repeated() && (type.empty() || type == "google.protobuf.Timestamp")) {
        std::string label = f->name();
        std::replace(label.begin(), label.end(), '_', ' ');
        figures.AddRow({label, CellText(aggregates, f->name())});
        continue;
      }
      if (type == "sanhak.analytics.v1.OutcomeSums") {
        Table t = sums_table(title(f));
        if (f->is_repeated()) {
          for (int k = 0; k < r->FieldSize(aggregates, f); ++k) {
            const auto& s = static_cast<const analytics::v1::OutcomeSums&>(
                r->GetRepeatedMessage(aggregates, f, k));
            sums_row(t, s, s.category());
          }
        } else {
          sums_row(t, static_cast<const analytics::v1::OutcomeSums&>(r->GetMessage(aggregates, f)),
                   "(all)");
        }
        sections.push_back(t.Render());
        continue;
      }
      if (!f->is_repeated()) {
        Table t({title(f)});
        t.AddRow({ToJson(r->GetMessage(aggregates, f))});
        sections.push_back(t.Render());
        continue;
      }
      const int n = r->FieldSize(aggregates, f);
      if (type == "sanhak.analytics.v1.Count") {
        Table t({title(f), "NAME", "COUNT"});
        t.AlignRight(2);
        t.set_max_cell_width(options_.max_width);
        for (int k = 0; k < n; ++k) {
          const auto& c =
              static_cast<const analytics::v1::Count&>(r->GetRepeatedMessage(aggregates, f, k));
          t.AddRow({c.key(), c.label(), absl::StrCat(c.value())});
        }
        sections.push_back(t.Render());
      } else if (type == "sanhak.analytics.v1.MembersOf") {
        Table t({title(f), "NAME", "REPORTED", "BY KIND", "REGISTERED", "BY KIND"});
        t.AlignRight(2);
        t.AlignRight(4);
        t.set_max_cell_width(options_.max_width);
        for (int k = 0; k < n; ++k) {
          const auto& m = static_cast<const analytics::v1::MembersOf&>(
              r->GetRepeatedMessage(aggregates, f, k));
          t.AddRow({m.key(), m.label(), absl::StrCat(m.reported().total()),
                    by_kind(m.reported()), absl::StrCat(m.registered().total()),
                    by_kind(m.registered())});
        }
        sections.push_back(t.Render());
      } else if (type == "sanhak.analytics.v1.ReportedVsCounted") {
        Table t({title(f), "REPORTED", "COUNTED"});
        t.AlignRight(1);
        t.AlignRight(2);
        for (int k = 0; k < n; ++k) {
          const auto& v = static_cast<const analytics::v1::ReportedVsCounted&>(
              r->GetRepeatedMessage(aggregates, f, k));
          t.AddRow({v.metric(),
                    absl::StrCat(v.reported_approximate() ? "~" : "", v.reported()),
                    absl::StrCat(v.counted())});
        }
        sections.push_back(t.Render());
      } else {
        Table t({title(f)});
        for (int k = 0; k < n; ++k) t.AddRow({ToJson(r->GetRepeatedMessage(aggregates, f, k))});
        sections.push_back(t.Render());
      }
    }
    sections.insert(sections.begin(), figures.Render());
    return absl::StrJoin(sections, "\n");
  }

  WatchConfig MakeWatchConfig(bool summary_only) {
    WatchConfig config;
    config.summary_only = summary_only;
    config.json = json();
    config.yaml = options_.output == "yaml";
    config.terminal = options_.stdout_tty && !json();
    config.max_updates = options_.max_updates;
    config.duration = options_.duration;
    return config;
  }

  absl::Status Summary(const std::vector<std::string>& args) {
    if (!args.empty()) return absl::InvalidArgumentError("usage: sanhakctl summary [--watch]");
    if (options_.watch) return Watch(client_, MakeWatchConfig(true), out_, err_);
    auto aggregates = FetchAggregates();
    if (!aggregates.ok()) return aggregates.status();
    if (json()) {
      Emit(*aggregates);
    } else {
      out_ << SummaryLine(TotalsOf(*aggregates)) << "\n";
    }
    return absl::OkStatus();
  }

  absl::Status WatchCommand(const std::vector<std::string>& args) {
    if (!args.empty()) {
      return absl::InvalidArgumentError("usage: sanhakctl watch [--max_updates=N] [--duration=D]");
    }
    return Watch(client_, MakeWatchConfig(false), out_, err_);
  }

  TransferConfig MakeTransferConfig(absl::string_view path) {
    TransferConfig config;
    config.format = options_.format;
    if (config.format.empty()) {
      std::error_code error;
      const bool folder = !path.empty() && path != "-" &&
                          std::filesystem::is_directory(std::string(path), error);
      config.format = folder || absl::EndsWith(path, ".csv") ? "csv" : "jsonl";
    }
    config.batch_size = options_.batch_size > 0 ? options_.batch_size : 500;
    config.terminal = options_.stderr_tty;
    return config;
  }

  absl::Status ExportCommand(const std::vector<std::string>& args) {
    if (!args.empty()) {
      return absl::InvalidArgumentError(
          "usage: sanhakctl export [--format=jsonl|csv] [--out=FILE|DIR]");
    }
    TransferConfig config = MakeTransferConfig(options_.out);
    if (config.format != "jsonl" && config.format != "csv") {
      return absl::InvalidArgumentError("--format must be jsonl or csv");
    }
    if (config.format == "csv") {
      // One file per kind: only a folder holds them.
      if (options_.out.empty() || options_.out == "-" || absl::EndsWith(options_.out, ".csv")) {
        return absl::InvalidArgumentError(
            "--out: --format=csv writes one KIND.csv per kind; give a folder, --out=DIR");
      }
      auto count = ctl::ExportCsv(client_, config, options_.out, err_);
      if (!count.ok()) return count.status();
      err_ << "exported " << *count << " records into " << options_.out << "/\n";
      return absl::OkStatus();
    }
    std::ostringstream buffer;
    auto count = ctl::Export(client_, config, buffer, err_);
    if (!count.ok()) return count.status();
    if (options_.out.empty() || options_.out == "-") {
      out_ << buffer.str();
    } else {
      std::ofstream file(options_.out, std::ios::binary | std::ios::trunc);
      file << buffer.str();
      if (!file.flush()) {
        return absl::InvalidArgumentError(absl::StrCat("cannot write ", options_.out));
      }
    }
    err_ << "exported " << *count << " records\n";
    return absl::OkStatus();
  }

  absl::Status ImportCommand(const std::vector<std::string>& args) {
    if (args.size() != 1) {
      return absl::InvalidArgumentError(
          "usage: sanhakctl import FILE|DIR|- [--format=jsonl|csv] [--batch_size=N]");
    }
    TransferConfig config = MakeTransferConfig(args[0]);
    if (config.format != "jsonl" && config.format != "csv") {
      return absl::InvalidArgumentError("--format must be jsonl or csv");
    }
    absl::StatusOr<ImportStats> stats;
    if (config.format == "csv") {
      if (args[0] == "-") {
        return absl::InvalidArgumentError(
            "--format=csv reads a folder or KIND.csv files (the file name says the kind), "
            "not stdin");
      }
      auto files = LoadCsvInput(args[0]);
      if (!files.ok()) return files.status();
      auto records = ReadCsvTables(*files);
      if (!records.ok()) return records.status();
      stats = ctl::ImportRecords(client_, *std::move(records), config, err_);
    } else {
      auto text = ReadFileText(args[0]);
      if (!text.ok()) return text.status();
      stats = ctl::Import(client_, *text, config, err_);
    }
    if (!stats.ok()) return stats.status();
    out_ << "imported: " << stats->created << " created, " << stats->updated << " updated, "
         << stats->unchanged << " unchanged, " << stats->checked << " reference records checked\n";
    return absl::OkStatus();
  }

  // An .xlsx workbook of councils, activities, outcomes and scorecards (xlsx_report.h).
  absl::Status ReportCommand(const std::vector<std::string>& args) {
    if (!args.empty() || options_.out.empty() || !absl::EndsWith(options_.out, ".xlsx")) {
      return absl::InvalidArgumentError("usage: sanhakctl report --out=FILE.xlsx");
    }
    ReportData data;
    const std::pair<const char*, std::vector<std::unique_ptr<Message>>*> lists[] = {
        {"council", &data.councils}, {"activity", &data.activities}, {"outcome", &data.outcomes}};
    for (const auto& [name, into] : lists) {
      auto items = client_.List(*FindKind(name), {});
      if (!items.ok()) return items.status();
      *into = *std::move(items);
    }
    for (const auto& council : data.councils) {
      analytics::v1::GetCouncilScorecardRequest request;
      request.set_council(CellText(*council, "name"));
      auto card = std::make_unique<analytics::v1::CouncilScorecard>();
      if (absl::Status s = client_.Call(Service::kAnalytics, AnalyticsMethod("GetCouncilScorecard"),
                                        request, card.get());
          !s.ok()) {
        return s;
      }
      data.scorecards.push_back(std::move(card));
    }
    if (absl::Status s = WriteXlsxReport(options_.out, data); !s.ok()) return s;
    err_ << "wrote " << options_.out << ": " << data.councils.size() << " councils, "
         << data.activities.size() << " activities, " << data.outcomes.size() << " outcomes, "
         << data.scorecards.size() << " scorecards\n";
    return absl::OkStatus();
  }

  const Options& options_;
  Client client_;
  std::ostream& out_;
  std::ostream& err_;
};

}  // namespace

std::string CellText(const Message& message, const std::string& path) {
  const Message* m = &message;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(parts[i]);
    if (f == nullptr) return "";
    const bool last = i + 1 == parts.size();
    if (!last) {
      if (f->is_repeated() || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return "";
      m = &m->GetReflection()->GetMessage(*m, f);
      continue;
    }
    if (f->is_repeated()) {
      std::vector<std::string> items;
      const int n = m->GetReflection()->FieldSize(*m, f);
      for (int k = 0; k < n; ++k) items.push_back(ScalarText(*m, f, k));
      return absl::StrJoin(items, ", ");
    }
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !m->GetReflection()->HasField(*m, f)) {
      return "";
    }
    if (f->has_presence() && f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE &&
        !m->GetReflection()->HasField(*m, f)) {
      return "";
    }
    return ScalarText(*m, f, 0);
  }
  return "";
}

std::string FormatKrw(int64_t krw) {
  constexpr int64_t kEok = 100000000;
  constexpr int64_t kMan = 10000;
  const char* sign = krw < 0 ? "-" : "";
  const int64_t v = krw < 0 ? -krw : krw;
  if (v >= kEok) {
    if (v % kEok == 0) return absl::StrCat(sign, v / kEok, "억원");
    std::string text = absl::StrFormat("%.2f", static_cast<double>(v) / kEok);
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
    return absl::StrCat(sign, text, "억원");
  }
  if (v >= kMan && v % kMan == 0) return absl::StrCat(sign, v / kMan, "만원");
  return absl::StrCat(sign, v, "원");
}

int PrintVersion(const std::string& output, std::ostream& out, std::ostream& err) {
  const std::string json =
      absl::StrCat("{\"clientVersion\":", VersionJson("sanhakctl"), "}");
  if (output == "json") {
    out << json << "\n";
  } else if (output == "yaml") {
    absl::StatusOr<std::string> yaml = JsonToYaml(json);
    if (!yaml.ok()) {
      err << "sanhakctl version: " << yaml.status().message() << "\n";
      return kExitOther;
    }
    out << *yaml;
  } else if (output == "table") {
    out << VersionText("sanhakctl");
  } else {
    err << "sanhakctl version: --output must be table, json or yaml\n";
    return kExitBadInput;
  }
  return kExitOk;
}

std::string Usage() {
  return R"(sanhakctl: the command-line client of the sanhak suite

usage: sanhakctl [flags] COMMAND [ARGS]

Resources (KIND: council, complex, organization, membership, activity, registration,
outcome; read-only reference data: field, region, figure). NAME is a full name
(councils/x, councils/x/memberships/y) or a bare id (x; PARENT/ID for memberships and
registrations).
  get KIND NAME                       one resource
  list KIND [--FILTER=V] [--limit=N]  every page; filters are the List request's fields:
                                      --field --region --complex --forum_session --query
                                      --kind --council --organization --role --state
                                      --category --parent; --show_deleted lists
                                      soft-deleted councils, complexes, organizations too
  create KIND [NAME] --json='{...}'   the resource in protobuf JSON (or -f FILE, - = stdin);
                                      --request_id=KEY makes a retry create it once
  update KIND NAME --json='{...}'     update_mask = --update_mask or the fields in the JSON;
                                      etag from the JSON, --etag, or read first
  delete KIND NAME [--etag=E]
  (create, update: --dry-run asks the server to check the write and make none; the API
  offers no dry run for delete, so delete --dry-run is refused)

Identity:
  whoami                              the identity, role and council scope the server
                                      sees for you (--target=HOST:PORT asks another service)

Analytics:
  scorecard COUNCIL                   one council's figures
  network [--top=N]                   regions joined by councils, hub complexes and regions;
                                      --top=N: the N foremost of each list
  agenda ACTIVITY                     a forum's timetable, in order
  aggregates                          every aggregate, once (every section the JSON has)
  summary [--watch]                   councils, organizations, activities, outcomes, funding;
                                      --watch follows changes as they stream in
  watch [--max_updates=N] [--duration=D]
                                      the aggregates stream, redrawn in place on a terminal,
                                      one line per change otherwise; resumes after a
                                      disconnect

Data:
  export [--format=jsonl|csv] [--out=FILE]
                                      JSON lines (one resource a line); --format=csv
                                      --out=DIR: one KIND.csv per kind (and KIND.FIELD.csv
                                      per list of messages), a column per field, UTF-8 with
                                      BOM and CRLF, as Excel and LibreOffice open them
  import FILE|DIR|- [--format=jsonl|csv] [--batch_size=N]
                                      idempotent: creates what is missing, updates what
                                      differs; a bad record stops it ("line N: ...", CSV:
                                      "FILE line N: ...") before anything of its batch is
                                      written; a folder or KIND.csv is CSV (BOM or not)
  report --out=FILE.xlsx              an Excel workbook: councils, activities, outcomes and
                                      scorecards, typed cells (numbers, KRW, dates)

Contexts (as kubectl's): a config file ($SANHAKCTL_CONFIG, else
~/.config/sanhak/config.json) names where the services listen and how to authenticate;
--context=NAME picks one for a command, otherwise its current context applies.
  config current-context | get-contexts | use-context NAME | delete-context NAME
  config set-context NAME [--registry_target=.. --events_target=.. --analytics_target=..
                           --ca=.. --cert=.. --key=.. --token_file=..]

Other:
  health                              each service's health (grpc.health.v1), as probes see
                                      it; exit 5 unless all three are SERVING
  completion bash|zsh                 a script completing commands, kinds and flags:
                                      source <(sanhakctl completion bash)
  help COMMAND                        one command's usage
  version                             this build's version (also --version)

Flags: --output=table|wide|json|yaml, -o for short (-o yaml, -owide): wide adds every
  field as a column to get/list/create/update; json is protobuf's JSON mapping, yaml the
  same as YAML  --no-headers (tables without their header row)
  --timeout=10s (deadline of every call)
  --target=HOST:PORT (the service the command talks to)
  --registry_target, --events_target, --analytics_target (or SANHAK_REGISTRY_TARGET,
  SANHAK_EVENTS_TARGET, SANHAK_ANALYTICS_TARGET; defaults 127.0.0.1:50051/50052/50053)
  --max_width=48 (cells wider are cut with …); tables fit the terminal's width ($COLUMNS
  when set, else the terminal's own; a pipe gets whole lines): cells are cut and, when
  that is not enough, the rightmost columns left out (--output=json has every field)
  --ca=FILE (PEM CA bundle verifying the services; turns TLS on), --cert=FILE --key=FILE
  (this user's certificate for mutual TLS), or SANHAK_CA, SANHAK_CERT, SANHAK_KEY, or a
  context; with none of them the calls are plaintext (a development suite only)
  --token_file=FILE (a bearer token, JWT, sent on every call over TLS: with --ca and no
  client certificate; or SANHAK_TOKEN_FILE, or a context's token_file)

Exit codes:
  0 ok
  1 any other error
  2 bad input: usage, unreadable input, INVALID_ARGUMENT, OUT_OF_RANGE
  3 not found (NOT_FOUND)
  4 conflict: ALREADY_EXISTS, ABORTED (stale etag), FAILED_PRECONDITION
  5 unavailable: UNAVAILABLE, DEADLINE_EXCEEDED
)";
}

std::vector<std::string> CommandNames() {
  return {"get",     "list",       "create", "update",  "delete",    "scorecard", "whoami",
          "network", "agenda",     "aggregates", "summary", "watch", "export",    "import", "report",
          "config",  "health",     "completion", "version", "help"};
}

std::string UsageOf(absl::string_view command) {
  // The lines of Usage() that describe `command`: its own, and those indented under it.
  std::string out;
  bool in = false;
  for (absl::string_view line : absl::StrSplit(Usage(), '\n')) {
    const bool entry = absl::StartsWith(line, "  ") && !absl::StartsWith(line, "   ");
    if (entry) {
      absl::string_view word = absl::StripLeadingAsciiWhitespace(line);
      word = word.substr(0, word.find(' '));
      in = word == command;
    } else if (!absl::StartsWith(line, "   ")) {
      in = false;
    }
    if (in) absl::StrAppend(&out, line, "\n");
  }
  return out;
}

int Run(const std::vector<std::string>& args, const Options& options, std::ostream& out,
        std::ostream& err) {
  if (args.empty() || args[0] == "help") {
    if (args.size() == 2) {
      const std::string usage = UsageOf(args[1]);
      if (usage.empty()) {
        err << "sanhakctl help: no command \"" << args[1] << "\" (sanhakctl --help lists them)\n";
        return kExitBadInput;
      }
      out << "usage: sanhakctl [flags] " << args[1] << " ...\n" << usage
          << "(sanhakctl --help: every command, flag and exit code)\n";
      return kExitOk;
    }
    (args.empty() ? err : out) << Usage();
    return args.empty() ? kExitBadInput : kExitOk;
  }
  Table::SetShowHeaders(!options.no_headers);
  Table::SetLineWidth(options.line_width);
  // Every call the command makes is one trace (Client takes it), so the services' log
  // lines for the command can be found by one id.
  const TraceContext trace = TraceContext::NewRoot();
  ScopedTrace in_trace(&trace);
  Runner runner(options, out, err);
  absl::Status status = runner.Dispatch(args);
  out.flush();
  if (status.ok()) return kExitOk;
  err << "sanhakctl " << args[0] << ": " << FormatError(status);
  // A failure on the services' side is worth reporting: with the id, an operator finds
  // every log line of it (README, "Following one request across services").
  switch (status.code()) {
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kDataLoss:
      err << "  trace_id: " << trace.trace_id << "\n";
      break;
    default:
      break;
  }
  return ExitCodeFor(status);
}

}  // namespace sanhak::ctl
