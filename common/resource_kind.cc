#include "common/resource_kind.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/field_behavior.h"
#include "google/api/field_behavior.pb.h"
#include "sanhak/store/v1/index.pb.h"

namespace sanhak {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

// Every kind built so far, for the process's life: kinds are handed out as plain
// pointers, so they are never freed or moved.
struct Kinds {
  absl::Mutex mu;
  // By resource message.
  absl::flat_hash_map<const Descriptor*, std::unique_ptr<ResourceKind>> by_message
      ABSL_GUARDED_BY(mu);
  // By (defining file, index of its resource_definition option).
  absl::flat_hash_map<std::pair<const FileDescriptor*, int>, std::unique_ptr<ResourceKind>>
      by_definition ABSL_GUARDED_BY(mu);
  // ByType's answers, by (file asked from, type).
  absl::flat_hash_map<std::pair<const FileDescriptor*, std::string>, const ResourceKind*>
      by_type ABSL_GUARDED_BY(mu);
  // references() of each kind, built once.
  absl::flat_hash_map<const ResourceKind*, std::unique_ptr<absl::once_flag>> once
      ABSL_GUARDED_BY(mu);
};

Kinds& AllKinds() {
  static Kinds* const kinds = new Kinds;
  return *kinds;
}

std::string LowerFirst(absl::string_view text) {
  std::string out(text);
  if (!out.empty()) out[0] = absl::ascii_tolower(out[0]);
  return out;
}

// Whether a message field may hold references: resource-shaped messages of this suite.
// Google's well-known and common types (Timestamp, Date, FieldMask) never do.
bool MayHoldReferences(const Descriptor* message) {
  return !absl::StartsWith(message->full_name(), "google.");
}

void CollectReferences(const Descriptor* message, const std::string& prefix,
                       std::vector<const FieldDescriptor*>& chain,
                       absl::flat_hash_set<const Descriptor*>& on_path,
                       std::vector<ReferenceField>& out) {
  if (!on_path.insert(message).second) return;  // a recursive type: visited on this path
  for (int i = 0; i < message->field_count(); ++i) {
    const FieldDescriptor* field = message->field(i);
    if (HasBehavior(field, google::api::OUTPUT_ONLY)) continue;
    const std::string path =
        prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
    chain.push_back(field);
    if (field->options().HasExtension(google::api::resource_reference)) {
      out.push_back({path, chain, ResourceKind::NamedBy(field)});
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
               MayHoldReferences(field->message_type())) {
      CollectReferences(field->message_type(), path, chain, on_path, out);
    }
    chain.pop_back();
  }
  on_path.erase(message);
}

// Appends the names held along `chain` from `message`, element by element.
void CollectNames(const Message& message, const ReferenceField& reference, size_t depth,
                  const std::string& prefix, std::vector<NamedResource>& out) {
  const FieldDescriptor* field = reference.fields[depth];
  const Reflection* reflection = message.GetReflection();
  const std::string path =
      prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
  const bool last = depth + 1 == reference.fields.size();
  if (field->is_repeated()) {
    const int n = reflection->FieldSize(message, field);
    for (int i = 0; i < n; ++i) {
      const std::string element = absl::StrCat(path, "[", i, "]");
      if (last) {
        std::string name = reflection->GetRepeatedString(message, field, i);
        if (!name.empty()) out.push_back({element, std::move(name), reference.kind});
      } else {
        CollectNames(reflection->GetRepeatedMessage(message, field, i), reference, depth + 1,
                     element, out);
      }
    }
    return;
  }
  if (last) {
    std::string name = reflection->GetString(message, field);
    if (!name.empty()) out.push_back({path, std::move(name), reference.kind});
  } else if (reflection->HasField(message, field)) {
    CollectNames(reflection->GetMessage(message, field), reference, depth + 1, path, out);
  }
}

}  // namespace

ResourceKind::ResourceKind(google::api::ResourceDescriptor descriptor,
                           const Descriptor* message)
    : descriptor_(std::move(descriptor)), message_(message) {
  if (descriptor_.pattern_size() > 0) pattern_ = descriptor_.pattern(0);
  // "councils/{council}/memberships/{membership}": collections and variables alternate.
  const std::vector<std::string> segments = absl::StrSplit(pattern_, '/');
  if (segments.size() >= 2) {
    collection_ = segments[segments.size() - 2];
    const std::string& variable = segments.back();
    if (variable.size() > 2) id_variable_ = variable.substr(1, variable.size() - 2);
  }
  if (segments.size() >= 4) parent_collection_ = segments[segments.size() - 4];
  const std::string& type = descriptor_.type();
  singular_ = !descriptor_.singular().empty()
                  ? descriptor_.singular()
                  : LowerFirst(absl::string_view(type).substr(type.rfind('/') + 1));
  plural_ = !descriptor_.plural().empty() ? descriptor_.plural() : collection_;
  if (message_ == nullptr) return;
  for (int i = 0; i < message_->field_count(); ++i) {
    const FieldDescriptor* field = message_->field(i);
    if (field->options().HasExtension(store::v1::index)) {
      indexes_.push_back({field->options().GetExtension(store::v1::index), field});
    }
    if (HasBehavior(field, google::api::OUTPUT_ONLY)) {
      output_only_paths_.push_back(field->name());
      if (field->name() == "delete_time" &&
          field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        delete_time_number_ = field->number();
      }
      continue;
    }
    if (HasBehavior(field, google::api::IDENTIFIER) ||
        HasBehavior(field, google::api::IMMUTABLE) || field->name() == "etag") {
      continue;
    }
    mutable_paths_.push_back(field->name());
  }
}

const std::string* ResourceKind::index_key(absl::string_view field_name) const {
  for (const IndexedField& indexed : indexes_) {
    if (indexed.field->name() == field_name) return &indexed.key;
  }
  return nullptr;
}

std::vector<std::pair<std::string, std::string>> ResourceKind::IndexEntries(
    const Message& message) const {
  std::vector<std::pair<std::string, std::string>> entries;
  const Reflection* reflection = message.GetReflection();
  // One value as an entry; unset ones (empty, 0) are not kept.
  auto add = [&](const IndexedField& indexed, int index) {
    const FieldDescriptor* f = indexed.field;
    const bool repeated = f->is_repeated();
    std::string value;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        value = repeated ? reflection->GetRepeatedString(message, f, index)
                         : reflection->GetString(message, f);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const int number = repeated ? reflection->GetRepeatedEnumValue(message, f, index)
                                    : reflection->GetEnumValue(message, f);
        if (number == 0) return;
        const google::protobuf::EnumValueDescriptor* v =
            f->enum_type()->FindValueByNumber(number);
        value = v != nullptr ? v->name() : absl::StrCat(number);
        break;
      }
      case FieldDescriptor::CPPTYPE_INT32: {
        const int32_t number = repeated ? reflection->GetRepeatedInt32(message, f, index)
                                        : reflection->GetInt32(message, f);
        if (number == 0) return;
        value = absl::StrCat(number);
        break;
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        const int64_t number = repeated ? reflection->GetRepeatedInt64(message, f, index)
                                        : reflection->GetInt64(message, f);
        if (number == 0) return;
        value = absl::StrCat(number);
        break;
      }
      default:
        // Declared on a field of a type with no single value to keep: a mistake in the
        // proto, which ResourceKindTest.EveryIndexedFieldHoldsValuesAnIndexCanKeep
        // catches.
        return;
    }
    if (value.empty()) return;
    entries.emplace_back(indexed.key, std::move(value));
  };
  for (const IndexedField& indexed : indexes_) {
    if (indexed.field->is_repeated()) {
      const int n = reflection->FieldSize(message, indexed.field);
      for (int i = 0; i < n; ++i) add(indexed, i);
    } else if (indexed.field->containing_oneof() == nullptr ||
               reflection->HasField(message, indexed.field)) {
      add(indexed, 0);
    }
  }
  return entries;
}

const ResourceKind* ResourceKind::Of(const Descriptor* message) {
  if (!message->options().HasExtension(google::api::resource)) return nullptr;
  Kinds& kinds = AllKinds();
  absl::MutexLock lock(&kinds.mu);
  std::unique_ptr<ResourceKind>& kind = kinds.by_message[message];
  if (kind == nullptr) {
    kind.reset(
        new ResourceKind(message->options().GetExtension(google::api::resource), message));
    kinds.once[kind.get()] = std::make_unique<absl::once_flag>();
  }
  return kind.get();
}

const ResourceKind* ResourceKind::ByType(const FileDescriptor* file, absl::string_view type) {
  Kinds& kinds = AllKinds();
  const std::pair<const FileDescriptor*, std::string> key(file, std::string(type));
  {
    absl::MutexLock lock(&kinds.mu);
    auto it = kinds.by_type.find(key);
    if (it != kinds.by_type.end()) return it->second;
  }
  // Breadth first from `file`: its own declarations win over its imports'.
  const ResourceKind* found = nullptr;
  absl::flat_hash_set<const FileDescriptor*> seen = {file};
  std::deque<const FileDescriptor*> queue = {file};
  while (!queue.empty() && found == nullptr) {
    const FileDescriptor* f = queue.front();
    queue.pop_front();
    for (int i = 0; i < f->message_type_count() && found == nullptr; ++i) {
      const Descriptor* message = f->message_type(i);
      if (message->options().HasExtension(google::api::resource) &&
          message->options().GetExtension(google::api::resource).type() == type) {
        found = Of(message);
      }
    }
    const int definitions = f->options().ExtensionSize(google::api::resource_definition);
    for (int i = 0; i < definitions && found == nullptr; ++i) {
      const google::api::ResourceDescriptor& definition =
          f->options().GetExtension(google::api::resource_definition, i);
      if (definition.type() != type) continue;
      absl::MutexLock lock(&kinds.mu);
      std::unique_ptr<ResourceKind>& kind = kinds.by_definition[{f, i}];
      if (kind == nullptr) {
        kind.reset(new ResourceKind(definition, nullptr));
        kinds.once[kind.get()] = std::make_unique<absl::once_flag>();
      }
      found = kind.get();
    }
    for (int i = 0; i < f->dependency_count(); ++i) {
      if (seen.insert(f->dependency(i)).second) queue.push_back(f->dependency(i));
    }
  }
  absl::MutexLock lock(&kinds.mu);
  kinds.by_type[key] = found;
  return found;
}

const ResourceKind* ResourceKind::NamedBy(const FieldDescriptor* field) {
  if (!field->options().HasExtension(google::api::resource_reference)) return nullptr;
  const google::api::ResourceReference& reference =
      field->options().GetExtension(google::api::resource_reference);
  if (!reference.type().empty()) return ByType(field->file(), reference.type());
  const ResourceKind* child = ByType(field->file(), reference.child_type());
  if (child == nullptr || child->parent_collection().empty()) return nullptr;
  // The parent's kind: the one whose collection the child's pattern names first.
  const std::string& parent = child->parent_collection();
  absl::flat_hash_set<const FileDescriptor*> seen = {field->file()};
  std::deque<const FileDescriptor*> queue = {field->file()};
  while (!queue.empty()) {
    const FileDescriptor* f = queue.front();
    queue.pop_front();
    for (const ResourceKind* kind : DeclaredIn(f)) {
      if (kind->collection() == parent && kind->parent_collection().empty()) return kind;
    }
    const int definitions = f->options().ExtensionSize(google::api::resource_definition);
    for (int i = 0; i < definitions; ++i) {
      const ResourceKind* kind =
          ByType(f, f->options().GetExtension(google::api::resource_definition, i).type());
      if (kind != nullptr && kind->collection() == parent) return kind;
    }
    for (int i = 0; i < f->dependency_count(); ++i) {
      if (seen.insert(f->dependency(i)).second) queue.push_back(f->dependency(i));
    }
  }
  return nullptr;
}

std::vector<const ResourceKind*> ResourceKind::DeclaredIn(const FileDescriptor* file) {
  std::vector<const ResourceKind*> out;
  for (int i = 0; i < file->message_type_count(); ++i) {
    if (const ResourceKind* kind = Of(file->message_type(i)); kind != nullptr) {
      out.push_back(kind);
    }
  }
  return out;
}

const std::vector<ReferenceField>& ResourceKind::references() const {
  absl::once_flag* once;
  {
    Kinds& kinds = AllKinds();
    absl::MutexLock lock(&kinds.mu);
    once = kinds.once[this].get();
  }
  absl::call_once(*once, [this] {
    if (message_ == nullptr) return;
    std::vector<const FieldDescriptor*> chain;
    absl::flat_hash_set<const Descriptor*> on_path;
    CollectReferences(message_, "", chain, on_path, references_);
  });
  return references_;
}

std::vector<NamedResource> NamesIn(const ResourceKind& kind, const Message& message,
                                   absl::string_view prefix) {
  std::vector<NamedResource> out;
  for (const ReferenceField& reference : kind.references()) {
    CollectNames(message, reference, 0, std::string(prefix), out);
  }
  return out;
}

}  // namespace sanhak
