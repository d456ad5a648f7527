// Resource kinds as the protos declare them: a resource message's google.api.resource
// annotation (AIP-123: type, name pattern, singular, plural), its fields'
// google.api.field_behavior (AIP-203) and google.api.resource_reference (AIP-122). The
// services, their stores and sanhakctl read a kind's collection, parent, updatable
// fields and references from here, so a kind is described once, in its proto, instead
// of being restated in each of them.
#ifndef SANHAK_COMMON_RESOURCE_KIND_H_
#define SANHAK_COMMON_RESOURCE_KIND_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/api/resource.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sanhak {

class ResourceKind;

// A field of a resource, at any depth, that names resources of another kind.
struct ReferenceField {
  // From the resource: "complexes", "sessions.councils".
  std::string path;
  // The fields along the path, the last one the reference itself.
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  // The kind it names.
  const ResourceKind* kind = nullptr;
};

// A field of a resource message that its store indexes (sanhak.store.v1.index).
struct IndexedField {
  // The entries' key: "council", "kind".
  std::string key;
  const google::protobuf::FieldDescriptor* field = nullptr;
};

class ResourceKind {
 public:
  // The kind `message` declares; nullptr when it declares none. Built once per message
  // and kept for the process's life.
  static const ResourceKind* Of(const google::protobuf::Descriptor* message);
  // As Of, for a message that must be a resource (a proto without the annotation is a
  // programming error, caught by the first test that uses the kind).
  template <typename T>
  static const ResourceKind& Of() {
    return *Of(T::descriptor());
  }
  // The kind of type `type` ("registry.sanhak.kr/Council") as `file` sees it: its own
  // resource messages, its resource_definition options, and those of the files it
  // imports, transitively. nullptr when none of them declares it.
  static const ResourceKind* ByType(const google::protobuf::FileDescriptor* file,
                                    absl::string_view type);
  // The kind a field names: its resource_reference's type, or for a parent field (one
  // with child_type) the kind of the child's parent. nullptr when the field carries no
  // reference or names an unknown type.
  static const ResourceKind* NamedBy(const google::protobuf::FieldDescriptor* field);
  // The resource messages declared in `file`, in declaration order.
  static std::vector<const ResourceKind*> DeclaredIn(
      const google::protobuf::FileDescriptor* file);

  ResourceKind(const ResourceKind&) = delete;
  ResourceKind& operator=(const ResourceKind&) = delete;

  const std::string& type() const { return descriptor_.type(); }
  // The first name pattern, e.g. "councils/{council}/memberships/{membership}".
  const std::string& pattern() const { return pattern_; }
  // The collection the resource is named in: "councils", "memberships".
  const std::string& collection() const { return collection_; }
  // The parent's collection for a child kind ("councils" for memberships); empty for a
  // top-level kind.
  const std::string& parent_collection() const { return parent_collection_; }
  // The pattern's last variable: "council", "figure". The short name users type.
  const std::string& id_variable() const { return id_variable_; }
  // lowerCamelCase, as annotated: "council", "reportedFigure"; derived from the
  // collection and the type when the annotation leaves them out.
  const std::string& singular() const { return singular_; }
  const std::string& plural() const { return plural_; }
  // The resource message; nullptr for a kind known only from a resource_definition
  // (another service's resource).
  const google::protobuf::Descriptor* message() const { return message_; }
  // The fields an update mask may name: every field but the identifier, the output-only
  // and the immutable ones, and the etag (which guards an update and is not part of it).
  const std::vector<std::string>& mutable_paths() const { return mutable_paths_; }
  // The fields the service sets (OUTPUT_ONLY), at the top level.
  const std::vector<std::string>& output_only_paths() const { return output_only_paths_; }
  // Every field, at any depth, that names a resource and is not output only, in
  // declaration order (depth first).
  const std::vector<ReferenceField>& references() const;
  // Whether the kind is soft-deleted (AIP-164): it has an output-only delete_time.
  bool soft_deletable() const { return delete_time_number_ != 0; }
  // delete_time's field number; 0 when the kind has none.
  int delete_time_number() const { return delete_time_number_; }
  // The top-level fields the kind's store indexes, in declaration order.
  const std::vector<IndexedField>& indexes() const { return indexes_; }
  // The key field `field_name` is indexed under; nullptr when it is not indexed.
  const std::string* index_key(absl::string_view field_name) const;
  // The (key, value) entries `message`, a resource of this kind, holds in its indexed
  // fields, in declaration order (see sanhak.store.v1.index for how values read).
  std::vector<std::pair<std::string, std::string>> IndexEntries(
      const google::protobuf::Message& message) const;

 private:
  ResourceKind(google::api::ResourceDescriptor descriptor,
               const google::protobuf::Descriptor* message);

  google::api::ResourceDescriptor descriptor_;
  const google::protobuf::Descriptor* message_;
  std::string pattern_;
  std::string collection_;
  std::string parent_collection_;
  std::string id_variable_;
  std::string singular_;
  std::string plural_;
  std::vector<std::string> mutable_paths_;
  std::vector<std::string> output_only_paths_;
  int delete_time_number_ = 0;
  std::vector<IndexedField> indexes_;
  // Built on first use: a reference may name a kind whose message refers back.
  mutable std::vector<ReferenceField> references_;
};

// A resource name held in a reference field of a message.
struct NamedResource {
  // The field, as a request's error names it: "council.complexes[1]".
  std::string path;
  std::string name;
  const ResourceKind* kind = nullptr;
};

// The names `message`, a resource of `kind`, holds in its reference fields (each element
// of a repeated field; empty names left out), with paths under `prefix`.
std::vector<NamedResource> NamesIn(const ResourceKind& kind,
                                   const google::protobuf::Message& message,
                                   absl::string_view prefix);

}  // namespace sanhak

#endif  // SANHAK_COMMON_RESOURCE_KIND_H_
