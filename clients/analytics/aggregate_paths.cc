#include "clients/analytics/aggregate_paths.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sanhak::analytics {
namespace {

// `text` quoted for an error message, cut (on a UTF-8 boundary) after 200 bytes: a path
// comes from the server, but a client must not echo megabytes of a broken one.
std::string Quoted(const std::string& text) {
  constexpr size_t kMax = 200;
  if (text.size() <= kMax) return absl::StrCat("\"", text, "\"");
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat("\"", text.substr(0, cut), "\"...(", text.size(), " bytes)");
}

void Flatten(const std::string& prefix, const v1::MemberCounts& m,
             std::map<std::string, int64_t>& out) {
  out[prefix + ".total"] = m.total();
  out[prefix + ".companies"] = m.companies();
  out[prefix + ".universities"] = m.universities();
  out[prefix + ".research_institutes"] = m.research_institutes();
  out[prefix + ".support_agencies"] = m.support_agencies();
  out[prefix + ".others"] = m.others();
}

void Flatten(const std::string& prefix, const v1::OutcomeSums& s,
             std::map<std::string, int64_t>& out) {
  out[prefix + ".outcomes"] = s.outcomes();
  out[prefix + ".total_budget_krw"] = s.total_budget_krw();
  out[prefix + ".national_share_krw"] = s.national_share_krw();
  out[prefix + ".deal_amount_krw"] = s.deal_amount_krw();
}


}  // namespace

std::map<std::string, int64_t> FlattenAggregates(const v1::Aggregates& a,
                                                 std::map<std::string, std::string>* labels) {
  std::map<std::string, int64_t> out;
  auto label = [&](const std::string& entry, const std::string& text) {
    if (labels != nullptr) (*labels)[entry] = text;
  };
  auto counts = [&](const char* name, const auto& list) {
    for (const v1::Count& c : list) {
      std::string entry = absl::StrCat(name, "[", c.key(), "]");
      out[entry] = c.value();
      label(entry, c.label());
    }
  };
  auto members = [&](const char* name, const auto& list) {
    for (const v1::MembersOf& m : list) {
      std::string entry = absl::StrCat(name, "[", m.key(), "]");
      Flatten(entry + ".reported", m.reported(), out);
      Flatten(entry + ".registered", m.registered(), out);
      label(entry, m.label());
    }
  };
  out["councils"] = a.councils();
  counts("councils_by_field", a.councils_by_field());
  counts("councils_by_forum_session", a.councils_by_forum_session());
  counts("councils_by_region", a.councils_by_region());
  members("members_by_council", a.members_by_council());
  members("members_by_field", a.members_by_field());
  out["activities"] = a.activities();
  counts("activities_by_kind", a.activities_by_kind());
  counts("activities_by_council", a.activities_by_council());
  counts("activities_by_month", a.activities_by_month());
  for (const auto& s : a.outcomes_by_category()) {
    Flatten(absl::StrCat("outcomes_by_category[", s.category(), "]"), s, out);
  }
  Flatten("outcomes_total", a.outcomes_total(), out);
  out["registrations"] = a.registrations();
  for (const auto& r : a.reported_vs_counted()) {
    std::string entry = absl::StrCat("reported_vs_counted[", r.metric(), "]");
    out[entry + ".reported"] = r.reported();
    out[entry + ".reported_approximate"] = r.reported_approximate() ? 1 : 0;
    out[entry + ".counted"] = r.counted();
  }
  return out;
}

std::string EntryOfPath(const std::string& path) {
  size_t close = path.find(']');
  return close == std::string::npos ? "" : path.substr(0, close + 1);
}

void DiffAggregates(const v1::Aggregates& before, const v1::Aggregates& after,
                    v1::AggregatesUpdate* update) {
  std::map<std::string, std::string> labels, old_labels;
  const std::map<std::string, int64_t> b = FlattenAggregates(before, &old_labels);
  const std::map<std::string, int64_t> a = FlattenAggregates(after, &labels);
  std::set<std::string> changed;
  std::set<std::string> relabelled;
  for (const auto& [path, value] : a) {
    auto it = b.find(path);
    const std::string entry = EntryOfPath(path);
    bool moved = it == b.end() || it->second != value;
    // A renamed entry (a council's display name) carries its new label on one of its
    // values, which is not a change of value.
    if (!moved && !entry.empty() && relabelled.count(entry) == 0) {
      auto was = old_labels.find(entry);
      auto is = labels.find(entry);
      if (was != old_labels.end() && is != labels.end() && was->second != is->second) {
        relabelled.insert(entry);
        v1::AggregateValue* v = update->add_values();
        v->set_path(path);
        v->set_value(value);
        v->set_label(is->second);
      }
    }
    if (!moved) continue;
    changed.insert(path);
    v1::AggregateValue* v = update->add_values();
    v->set_path(path);
    v->set_value(value);
    if (auto l = labels.find(EntryOfPath(path)); l != labels.end()) v->set_label(l->second);
  }
  std::set<std::string> removed;
  for (const auto& [path, value] : b) {
    if (a.count(path) > 0) continue;
    changed.insert(path);
    if (std::string entry = EntryOfPath(path); !entry.empty()) removed.insert(entry);
  }
  for (const std::string& path : changed) update->add_changed(path);
  for (const std::string& entry : removed) update->add_removed(entry);
}

namespace {

namespace pb = ::google::protobuf;

}  // namespace

absl::StatusOr<AggregatePath> ParseAggregatePath(const std::string& path) {
  AggregatePath p;
  size_t end = path.find_first_of("[.");
  p.list = path.substr(0, end);
  std::string rest;
  if (end != std::string::npos && path[end] == '[') {
    size_t close = path.find(']', end);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("path ", Quoted(path), " has no closing ]"));
    }
    p.keyed = true;
    p.key = path.substr(end + 1, close - end - 1);
    rest = path.substr(close + 1);
    if (!rest.empty() && rest[0] != '.') {
      return absl::InvalidArgumentError(absl::StrCat("path ", Quoted(path), " is malformed"));
    }
    if (!rest.empty()) rest = rest.substr(1);
  } else if (end != std::string::npos) {
    rest = path.substr(end + 1);
  }
  if (!rest.empty()) p.rest = absl::StrSplit(rest, '.');
  return p;
}

namespace {

// The entry of repeated `field` in `parent` whose first field (its key) is `key`; added in
// key order when `create` and missing. Returns its index, or -1.
int FindEntry(pb::Message& parent, const pb::FieldDescriptor* field, const std::string& key,
              bool create) {
  const pb::Reflection* r = parent.GetReflection();
  const int n = r->FieldSize(parent, field);
  const pb::FieldDescriptor* key_field = field->message_type()->field(0);
  for (int i = 0; i < n; ++i) {
    const pb::Message& entry = r->GetRepeatedMessage(parent, field, i);
    if (entry.GetReflection()->GetString(entry, key_field) == key) return i;
  }
  if (!create) return -1;
  pb::Message* added = r->AddMessage(&parent, field);
  added->GetReflection()->SetString(added, key_field, key);
  int at = n;
  while (at > 0) {
    const pb::Message& prev = r->GetRepeatedMessage(parent, field, at - 1);
    if (prev.GetReflection()->GetString(prev, key_field) <= key) break;
    r->SwapElements(&parent, field, at - 1, at);
    --at;
  }
  return at;
}

absl::Status SetPath(v1::Aggregates& a, const v1::AggregateValue& v) {
  absl::StatusOr<AggregatePath> p = ParseAggregatePath(v.path());
  if (!p.ok()) return p.status();
  auto unknown = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("path ", Quoted(v.path()), " names no value of Aggregates"));
  };
  const pb::FieldDescriptor* field = a.GetDescriptor()->FindFieldByName(p->list);
  if (field == nullptr) return unknown();
  pb::Message* target = &a;
  if (p->keyed) {
    if (!field->is_repeated() || field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      return unknown();
    }
    int i = FindEntry(a, field, p->key, /*create=*/true);
    target = a.GetReflection()->MutableRepeatedMessage(&a, field, i);
    const pb::FieldDescriptor* label = target->GetDescriptor()->FindFieldByName("label");
    if (label != nullptr && !v.label().empty()) {
      target->GetReflection()->SetString(target, label, v.label());
    }
    // A keyed count's value is the entry's own "value".
    if (p->rest.empty()) p->rest.push_back("value");
  } else if (!p->rest.empty()) {
    if (field->is_repeated() || field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      return unknown();
    }
    target = a.GetReflection()->MutableMessage(&a, field);
  } else {
    p->rest.push_back(p->list);
  }
  for (size_t i = 0; i < p->rest.size(); ++i) {
    const pb::FieldDescriptor* f = target->GetDescriptor()->FindFieldByName(p->rest[i]);
    if (f == nullptr || f->is_repeated()) return unknown();
    const pb::Reflection* r = target->GetReflection();
    if (i + 1 < p->rest.size()) {
      if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) return unknown();
      target = r->MutableMessage(target, f);
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64) {
      r->SetInt64(target, f, v.value());
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_BOOL) {
      r->SetBool(target, f, v.value() != 0);
    } else {
      return unknown();
    }
  }
  return absl::OkStatus();
}

absl::Status RemoveEntry(v1::Aggregates& a, const std::string& entry) {
  absl::StatusOr<AggregatePath> p = ParseAggregatePath(entry);
  if (!p.ok()) return p.status();
  const pb::FieldDescriptor* field = a.GetDescriptor()->FindFieldByName(p->list);
  if (field == nullptr || !p->keyed || !p->rest.empty() || !field->is_repeated() ||
      field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quoted(entry), " names no entry of Aggregates"));
  }
  int i = FindEntry(a, field, p->key, /*create=*/false);
  if (i < 0) return absl::OkStatus();
  const pb::Reflection* r = a.GetReflection();
  for (int j = i; j + 1 < r->FieldSize(a, field); ++j) r->SwapElements(&a, field, j, j + 1);
  r->RemoveLast(&a, field);
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> ChangedPaths(const v1::Aggregates& before,
                                      const v1::Aggregates& after) {
  v1::AggregatesUpdate update;
  DiffAggregates(before, after, &update);
  return {update.changed().begin(), update.changed().end()};
}

absl::Status ApplyUpdate(const v1::AggregatesUpdate& update, v1::Aggregates& aggregates) {
  // Checked on a copy first, so a bad update changes nothing.
  v1::Aggregates next = aggregates;
  for (const v1::AggregateValue& v : update.values()) {
    if (absl::Status s = SetPath(next, v); !s.ok()) return s;
  }
  for (const std::string& entry : update.removed()) {
    if (absl::Status s = RemoveEntry(next, entry); !s.ok()) return s;
  }
  for (const auto& [service, sequence] : update.applied_sequences()) {
    (*next.mutable_applied_sequences())[service] = sequence;
  }
  aggregates = std::move(next);
  return absl::OkStatus();
}

}  // namespace sanhak::analytics
