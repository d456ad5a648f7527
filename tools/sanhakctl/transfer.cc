#include "tools/sanhakctl/transfer.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "tools/sanhakctl/csv_table.h"
#include "tools/sanhakctl/errors.h"
#include "tools/sanhakctl/records.h"

namespace sanhak::ctl {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

namespace {

int KindOrder(const Kind* kind) {
  const auto& kinds = Kinds();
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (&kinds[i] == kind) return static_cast<int>(i);
  }
  return static_cast<int>(kinds.size());
}

void ClearOutputOnly(const Kind& kind, Message& m) {
  for (const std::string& field : kind.output_only) {
    const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(field);
    if (f != nullptr) m.GetReflection()->ClearField(&m, f);
  }
}

std::string NameOf(const Message& m) {
  return m.GetReflection()->GetString(m, m.GetDescriptor()->FindFieldByName("name"));
}

// Every value at `path` ("sessions.councils" walks repeated messages), as strings.
void ValuesAt(const Message& m, absl::string_view path, std::vector<std::string>& out) {
  const size_t dot = path.find('.');
  const std::string head(path.substr(0, dot));
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(head);
  if (f == nullptr) return;
  const auto* r = m.GetReflection();
  if (dot != absl::string_view::npos) {
    const absl::string_view rest = path.substr(dot + 1);
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) ValuesAt(r->GetRepeatedMessage(m, f, i), rest, out);
    } else {
      ValuesAt(r->GetMessage(m, f), rest, out);
    }
    return;
  }
  if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) return;
  if (f->is_repeated()) {
    for (int i = 0; i < r->FieldSize(m, f); ++i) out.push_back(r->GetRepeatedString(m, f, i));
  } else if (!r->GetString(m, f).empty()) {
    out.push_back(r->GetString(m, f));
  }
}

struct Item {
  const Record* record;
  const Kind* kind;
  std::unique_ptr<Message> resource;
  std::string name;
};

class Importer {
 public:
  Importer(Client& client, const TransferConfig& config, std::ostream& progress)
      : client_(client), config_(config), progress_(progress) {}

  absl::StatusOr<ImportStats> Run(std::vector<Record> records) {
    records_ = std::move(records);
    // Parse all, then take them in dependency order (stable: file order within a kind),
    // so a reference always names something written before it.
    std::vector<Item> items;
    for (const Record& record : records_) {
      auto item = Parse(record);
      if (!item.ok()) return item.status();
      items.push_back(*std::move(item));
    }
    std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      return KindOrder(a.kind) < KindOrder(b.kind);
    });
    total_ = static_cast<int>(items.size());
    for (size_t start = 0; start < items.size(); start += config_.batch_size) {
      const size_t end = std::min(items.size(), start + config_.batch_size);
      if (absl::Status s = Batch(items, start, end); !s.ok()) {
        if (config_.terminal) progress_ << "\n";
        return s;
      }
    }
    if (config_.terminal) progress_ << "\n";
    return stats_;
  }

 private:
  // Where a record is: "line 3" (JSON lines), "council.csv line 3" (CSV).
  static std::string Where(const Record& r) {
    return absl::StrCat(r.file, r.file.empty() ? "" : " ", "line ", r.line);
  }
  static absl::Status LineError(const Record& r, const absl::Status& s) {
    absl::Status out(s.code(), absl::StrCat(Where(r), ": ", s.message()));
    s.ForEachPayload([&](absl::string_view url, const absl::Cord& p) { out.SetPayload(url, p); });
    return out;
  }
  static absl::Status LineError(const Record& r, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(Where(r), ": ", what));
  }

  absl::StatusOr<Item> Parse(const Record& record) {
    Item item;
    item.record = &record;
    item.kind = FindKind(record.kind);
    if (item.kind == nullptr) return LineError(record, absl::StrCat("unknown kind \"", record.kind, "\""));
    item.resource = Client::NewMessage(ResourceDescriptor(*item.kind));
    if (absl::Status s = FromJson(record.resource_json, item.resource.get()); !s.ok()) {
      return LineError(record, absl::StrCat("not a valid ", item.kind->name, ": ", s.message()));
    }
    ClearOutputOnly(*item.kind, *item.resource);
    item.name = NameOf(*item.resource);
    if (item.name.empty()) return LineError(record, absl::StrCat(item.kind->name, ".name is required"));
    auto resolved = ResolveName(*item.kind, item.name);
    if (!resolved.ok() || *resolved != item.name) {
      return LineError(record, absl::StrCat(item.kind->name, ".name \"", item.name,
                                            "\" is not a full ", item.kind->name, " name"));
    }
    item.resource->GetReflection()->SetString(
        item.resource.get(), item.resource->GetDescriptor()->FindFieldByName("name"), item.name);
    auto [it, inserted] = in_file_.emplace(item.name, Where(record));
    if (!inserted) {
      return LineError(record, absl::StrCat(item.name, " appears twice (first on ",
                                            it->second, ")"));
    }
    if (item.kind->name == "membership") {
      std::vector<std::string> org;
      ValuesAt(*item.resource, "organization", org);
      if (org.empty()) return LineError(record, "membership.organization is required");
      if (IdOf(org[0]) != IdOf(item.name)) {
        return LineError(record, "a membership's id must be its organization's id");
      }
    }
    return item;
  }

  // Whether `name` of `kind` exists: in the file, or on the server (asked once).
  absl::StatusOr<bool> Resolvable(const std::string& kind_name, const std::string& name) {
    if (in_file_.count(name) > 0) return true;
    auto cached = on_server_.find(name);
    if (cached != on_server_.end()) return cached->second;
    const Kind* kind = FindKind(kind_name);
    auto got = client_.Get(*kind, name);
    if (!got.ok() && got.status().code() != absl::StatusCode::kNotFound) return got.status();
    on_server_[name] = got.ok();
    return got.ok();
  }

  absl::Status Batch(std::vector<Item>& items, size_t start, size_t end) {
    // 1. Check every record of the batch and read what the server holds; nothing is
    //    written until all of them pass.
    std::vector<std::unique_ptr<Message>> existing(end - start);
    std::vector<std::vector<std::string>> references(end - start);
    for (size_t i = start; i < end; ++i) {
      Item& item = items[i];
      const Record& record = *item.record;
      std::vector<std::pair<std::string, std::string>> refs;
      for (const auto& [path, kind] : item.kind->references) {
        std::vector<std::string> values;
        ValuesAt(*item.resource, path, values);
        for (auto& v : values) refs.emplace_back(absl::StrCat(item.kind->name, ".", path), v);
      }
      if (!item.kind->parent_collection.empty()) {
        refs.emplace_back(absl::StrCat(item.kind->name, ".name (parent)"), ParentOf(item.name));
      }
      for (const auto& [field, ref] : refs) {
        references[i - start].push_back(ref);
        const std::string collection = ref.substr(0, ref.find('/'));
        const Kind* kind = FindKind(collection);
        if (kind == nullptr) {
          return LineError(record, absl::StrCat(field, ": \"", ref, "\" is not a resource name"));
        }
        auto ok = Resolvable(kind->name, ref);
        if (!ok.ok()) return LineError(record, ok.status());
        if (!*ok) {
          return LineError(record, absl::StrCat(field, ": ", ref,
                                                " is neither in the file nor on the server"));
        }
      }
      auto current = client_.Get(*item.kind, item.name);
      if (current.ok()) {
        existing[i - start] = *std::move(current);
      } else if (current.status().code() != absl::StatusCode::kNotFound) {
        return LineError(record, current.status());
      } else if (!item.kind->writable) {
        return LineError(record, absl::StrCat(item.name, " is reference data the server lacks (",
                                              "load it with the registry's --import)"));
      }
    }
    // 2. The server checks each write as it would carry it out (every rule, reference and
    //    conflict; validate_only), writing nothing: a record it would refuse stops the
    //    batch before any of it is written. A record that references one this batch
    //    creates can only be checked once that one exists: just before its own write.
    std::set<std::string> created_here;
    for (size_t i = start; i < end; ++i) {
      if (existing[i - start] == nullptr) created_here.insert(items[i].name);
    }
    std::vector<bool> deferred(end - start, false);
    for (size_t i = start; i < end; ++i) {
      for (const std::string& ref : references[i - start]) {
        if (created_here.count(ref) > 0) deferred[i - start] = true;
      }
      if (deferred[i - start]) continue;
      absl::Status s = Write(items[i], existing[i - start].get(), /*validate_only=*/true);
      if (!s.ok()) return LineError(*items[i].record, s);
    }
    // 3. Write.
    for (size_t i = start; i < end; ++i) {
      Item& item = items[i];
      if (deferred[i - start]) {
        absl::Status s = Write(item, existing[i - start].get(), /*validate_only=*/true);
        if (!s.ok()) return LineError(*item.record, s);
      }
      absl::Status s = Write(item, existing[i - start].get(), /*validate_only=*/false);
      if (!s.ok()) return LineError(*item.record, s);
      ++done_;
      if (config_.terminal) Bar();
    }
    if (!config_.terminal) {
      progress_ << "import: " << done_ << "/" << total_ << " records (" << stats_.created
                << " created, " << stats_.updated << " updated, " << stats_.unchanged
                << " unchanged)\n";
      progress_.flush();
    }
    return absl::OkStatus();
  }

  void Bar() {
    constexpr int kWidth = 30;
    const int filled = total_ == 0 ? kWidth : done_ * kWidth / total_;
    progress_ << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, ' ') << "] "
              << done_ << "/" << total_ << " records";
    progress_.flush();
  }

  // Sets the request's validate_only field.
  static void SetValidateOnly(Message& request) {
    const FieldDescriptor* f = request.GetDescriptor()->FindFieldByName("validate_only");
    if (f != nullptr) request.GetReflection()->SetBool(&request, f, true);
  }

  absl::Status Write(Item& item, Message* current, bool validate_only) {
    const Kind& kind = *item.kind;
    if (current != nullptr) {
      // Soft-deleted on the server (AIP-164): an import never brings back what was
      // deleted through the API, nor may it update it; left as it is.
      const FieldDescriptor* deleted = current->GetDescriptor()->FindFieldByName("delete_time");
      if (deleted != nullptr && current->GetReflection()->HasField(*current, deleted)) {
        if (!validate_only) ++stats_.unchanged;
        return absl::OkStatus();
      }
      // Compared without the server-set fields; `current` keeps its etag for the update
      // (a change by someone else since step 1 then fails ABORTED instead of being lost).
      std::unique_ptr<Message> compared(current->New());
      compared->CopyFrom(*current);
      ClearOutputOnly(kind, *compared);
      // Top-level fields that differ.
      std::vector<std::string> differ;
      const Descriptor* d = current->GetDescriptor();
      for (int i = 0; i < d->field_count(); ++i) {
        const FieldDescriptor* f = d->field(i);
        if (f->name() == "name") continue;
        google::protobuf::util::MessageDifferencer diff;
        diff.set_scope(google::protobuf::util::MessageDifferencer::FULL);
        std::vector<const FieldDescriptor*> only = {f};
        if (!diff.CompareWithFields(*compared, *item.resource, only, only)) {
          differ.push_back(f->name());
        }
      }
      if (differ.empty() || !kind.writable) {
        if (!validate_only) ++(kind.writable ? stats_.unchanged : stats_.checked);
        return absl::OkStatus();
      }
      const MethodDescriptor* method = MethodOf(kind, "Update");
      auto request = Client::NewMessage(method->input_type());
      Message* resource = request->GetReflection()->MutableMessage(
          request.get(), method->input_type()->FindFieldByName(kind.name));
      resource->CopyFrom(*item.resource);
      const FieldDescriptor* etag = d->FindFieldByName("etag");
      resource->GetReflection()->SetString(resource, etag,
                                           current->GetReflection()->GetString(*current, etag));
      google::protobuf::FieldMask mask;
      for (const auto& f : differ) mask.add_paths(f);
      request->GetReflection()
          ->MutableMessage(request.get(), method->input_type()->FindFieldByName("update_mask"))
          ->CopyFrom(mask);
      if (validate_only) SetValidateOnly(*request);
      auto response = Client::NewMessage(method->output_type());
      if (absl::Status s = client_.Call(kind.service, method, *request, response.get()); !s.ok()) {
        return s;
      }
      if (!validate_only) ++stats_.updated;
      return absl::OkStatus();
    }
    const MethodDescriptor* method = MethodOf(kind, "Create");
    auto request = Client::NewMessage(method->input_type());
    const Descriptor* in = method->input_type();
    request->GetReflection()
        ->MutableMessage(request.get(), in->FindFieldByName(kind.name))
        ->CopyFrom(*item.resource);
    if (!kind.parent_collection.empty()) {
      if (absl::Status s = SetFieldFromText(*request, "parent", ParentOf(item.name)); !s.ok()) {
        return s;
      }
    }
    if (in->FindFieldByName(kind.name + "_id") != nullptr) {
      if (absl::Status s = SetFieldFromText(*request, kind.name + "_id", IdOf(item.name));
          !s.ok()) {
        return s;
      }
    }
    // No request_id: the record's own id makes a repeated create ALREADY_EXISTS, which is
    // what a re-run (or another importer) should find.
    if (validate_only) SetValidateOnly(*request);
    auto response = Client::NewMessage(method->output_type());
    absl::Status s = client_.Call(kind.service, method, *request, response.get());
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      // Another importer got there first; the next run compares it.
      if (!validate_only) ++stats_.unchanged;
      return absl::OkStatus();
    }
    if (!s.ok()) return s;
    if (!validate_only) ++stats_.created;
    return absl::OkStatus();
  }

  Client& client_;
  const TransferConfig& config_;
  std::ostream& progress_;
  std::vector<Record> records_;
  // Name -> where the file has it.
  std::map<std::string, std::string> in_file_;
  std::map<std::string, bool> on_server_;
  ImportStats stats_;
  int total_ = 0;
  int done_ = 0;
};

}  // namespace

absl::StatusOr<ImportStats> Import(Client& client, absl::string_view text,
                                   const TransferConfig& config, std::ostream& progress) {
  auto records = ParseJsonLines(text);
  if (!records.ok()) return records.status();
  return ImportRecords(client, *std::move(records), config, progress);
}

absl::StatusOr<ImportStats> ImportRecords(Client& client, std::vector<Record> records,
                                          const TransferConfig& config, std::ostream& progress) {
  Importer importer(client, config, progress);
  return importer.Run(std::move(records));
}

absl::StatusOr<int> ForEachKind(
    Client& client, const TransferConfig& config, std::ostream& progress,
    const std::function<void(const Kind&, std::vector<std::unique_ptr<Message>>&)>& each) {
  int count = 0;
  for (const Kind& kind : Kinds()) {
    auto items = client.List(kind, {});
    if (!items.ok()) return items.status();
    for (auto& item : *items) ClearOutputOnly(kind, *item);
    each(kind, *items);
    count += static_cast<int>(items->size());
    if (config.terminal) {
      progress << "\rexport: " << count << " records (" << kind.collection << ")        ";
    } else {
      progress << "export: " << kind.collection << " " << items->size() << "\n";
    }
    progress.flush();
  }
  if (config.terminal) progress << "\n";
  return count;
}

absl::StatusOr<int> Export(Client& client, const TransferConfig& config, std::ostream& out,
                           std::ostream& progress) {
  return ForEachKind(client, config, progress,
                     [&](const Kind& kind, std::vector<std::unique_ptr<Message>>& items) {
                       for (const auto& item : items) out << JsonLine(kind.name, *item);
                     });
}

absl::StatusOr<int> ExportCsv(Client& client, const TransferConfig& config,
                              const std::string& dir, std::ostream& progress) {
  std::vector<CsvFile> files;
  auto count = ForEachKind(client, config, progress,
                           [&](const Kind& kind, std::vector<std::unique_ptr<Message>>& items) {
                             std::vector<const Message*> rows;
                             for (const auto& item : items) rows.push_back(item.get());
                             for (CsvFile& f : WriteCsvTables(kind, rows)) {
                               files.push_back(std::move(f));
                             }
                           });
  if (!count.ok()) return count.status();
  // Written only once every kind was read, so a failed export leaves no half a folder.
  if (absl::Status s = WriteCsvFolder(dir, files); !s.ok()) return s;
  return count;
}

}  // namespace sanhak::ctl
