// The generic half of a resource service, shared by every service's domain logic:
// decoding and metadata, references between resources, idempotent creates, etag-checked
// masked updates, guarded deletes, paged and filtered lists, and idempotent bulk import,
// all over store::ResourceStore and each in one transaction. A service supplies what is
// specific: how to validate and index a resource (a Prepare function) and how to render
// it (an Out function).
#ifndef SANHAK_COMMON_CRUD_H_
#define SANHAK_COMMON_CRUD_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/audit_log.h"
#include "common/caller.h"
#include "common/page_token.h"
#include "common/resource_kind.h"
#include "common/resource_names.h"
#include "common/resource_store.h"
#include "common/status.h"
#include "common/time_proto.h"
#include "common/validation.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/message_lite.h"
#include "google/protobuf/generated_enum_reflection.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/field_mask_util.h"

namespace sanhak::crud {

using google::protobuf::FieldMask;
using google::protobuf::util::FieldMaskUtil;
using store::IndexEntry;
using store::ReadView;
using store::Resource;
using store::WriteTransaction;

// Told the outcome of an asynchronous operation, once. Writes complete on the store's
// committer thread (see store::WriteDone): a Done must not block.
template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;
using StatusDone = absl::AnyInvocable<void(absl::Status)>;

// What an import did, one count per entry of the data file.
struct ImportSummary {
  // Absent and never imported: created from the file.
  int created = 0;
  // Still as the last import left it, and the file now says otherwise: the file's version
  // replaced it.
  int updated = 0;
  // Already as the file says.
  int unchanged = 0;
  // Left as the API left it: changed or deleted through the API since the last import
  // (a deleted record stays deleted), or created through the API under a name the file
  // also uses (in a database from before import marks: any record that differs from the
  // file).
  int kept = 0;
};

inline constexpr size_t kMaxNameChars = 200;
inline constexpr size_t kMaxTextChars = 8000;
inline constexpr size_t kMaxQueryChars = 200;
inline constexpr size_t kMaxRequestIdChars = 128;
// Separates the parts of a search text; never white space (which search ignores), so a
// query cannot match across two parts.
inline constexpr char kSearchSeparator = '\x1f';

inline std::string Path(absl::string_view prefix, absl::string_view field) {
  return prefix.empty() ? std::string(field) : absl::StrCat(prefix, ".", field);
}

inline std::string Etag(int64_t revision) { return absl::StrCat(revision); }

inline absl::Status NotFound(absl::string_view name) {
  return WithReason(absl::NotFoundError(absl::StrCat(name, " does not exist")),
                    "RESOURCE_NOT_FOUND");
}

// ---------------------------------------------------------------- soft delete (AIP-164)

// Whether `message` is soft-deleted: it has an output-only `delete_time` and it is set.
// Resources without the field are never soft-deleted (they are deleted for good).
inline bool IsDeleted(const google::protobuf::Message& message) {
  const auto* field = message.GetDescriptor()->FindFieldByName("delete_time");
  return field != nullptr && message.GetReflection()->HasField(message, field);
}

// Whether `bytes`, a serialized message, carries field `number` as a length-delimited
// field (a message field is set when it is on the wire, even empty). False when `bytes`
// does not parse up to it. Reads tags and skips values: nothing is decoded or allocated.
inline bool HasLengthDelimitedField(absl::string_view bytes, int number) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return false;  // the end, or a malformed tag
    if (WireFormatLite::GetTagFieldNumber(tag) == number &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      // Set if its bytes are all there, as a parse would require.
      uint32_t length;
      return in.ReadVarint32(&length) && in.Skip(static_cast<int>(length));
    }
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
}

// The stored resource is soft-deleted. The stored bytes are the only way to tell: the
// store keeps no flag of its own (a soft delete is a Put), so an index rebuilt by
// re-preparing a resource cannot lose it. Lists that hide deleted resources ask this of
// every candidate, so it looks for delete_time's tag instead of parsing the resource: a
// full parse (every string allocated and checked as UTF-8) cost ~1 us per candidate, as
// much as the rest of a page's row. False for a kind without soft delete and for a
// resource of another collection.
inline bool StoredDeleted(const ResourceKind& kind, const Resource& resource) {
  return kind.soft_deletable() && resource.collection == kind.collection() &&
         HasLengthDelimitedField(resource.data, kind.delete_time_number());
}

// As above, for a resource of T's collection; false for a T that is no resource kind.
template <typename T>
bool StoredDeleted(const Resource& resource) {
  static const ResourceKind* const kind = ResourceKind::Of(T::descriptor());
  return kind != nullptr && kind->soft_deletable() &&
         HasLengthDelimitedField(resource.data, kind->delete_time_number());
}

// The collection T's resources are named in, e.g. "councils" (ResourceKind::collection).
template <typename T>
const std::string& CollectionOf() {
  return ResourceKind::Of<T>().collection();
}

// The collection of the kind that field `field` of T names, e.g. "councils" for
// Outcome's "council": how a service refers to another service's kinds.
template <typename T>
const std::string& CollectionNamedBy(const char* field) {
  return ResourceKind::NamedBy(T::descriptor()->FindFieldByName(field))->collection();
}

// The fields an update of a T may name (its update_mask's paths), as its proto declares
// them (ResourceKind::mutable_paths).
template <typename T>
const std::vector<std::string>& MutablePaths() {
  return ResourceKind::Of<T>().mutable_paths();
}

// The refusal of a write that would touch or newly name a soft-deleted resource.
inline absl::Status Deleted(absl::string_view name, absl::string_view what) {
  return WithReason(absl::FailedPreconditionError(absl::StrCat(
                        name, " is deleted; ", what, " (undelete it first)")),
                    "RESOURCE_DELETED");
}

// A write may not name a soft-deleted resource: references stay resolvable so that what
// already named it keeps working, but nothing new may come to depend on it. Live
// resources never hold such a reference (deletes are refused while they do), so every
// reference of a saved resource is checked, not only new ones. `message` is a T about
// to be saved; its references are the fields its proto marks (ResourceKind::references)
// that name a kind with soft delete. Missing names are left to the caller's validation.
template <typename T>
absl::Status RefuseDeletedReferences(ReadView& view, const T& message,
                                     absl::string_view prefix) {
  for (const NamedResource& named : NamesIn(ResourceKind::Of<T>(), message, prefix)) {
    if (named.kind == nullptr || !named.kind->soft_deletable()) continue;
    absl::StatusOr<std::optional<Resource>> found = view.Get(named.name);
    if (!found.ok()) return found.status();
    if (found->has_value() && StoredDeleted(*named.kind, **found)) {
      return Deleted(named.name, absl::StrCat(named.path, " may not name it"));
    }
  }
  return absl::OkStatus();
}

inline std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

template <typename T>
absl::StatusOr<T> Decode(const Resource& resource) {
  T message;
  if (!message.ParseFromString(resource.data)) {
    return absl::DataLossError(absl::StrCat("stored ", resource.name, " does not parse"));
  }
  return message;
}

// Output-only fields are never stored: the store's revision and times stand for them.
template <typename T>
void ClearMeta(T& message) {
  message.clear_etag();
  message.clear_create_time();
  message.clear_update_time();
}

template <typename T>
void SetMeta(const Resource& resource, T& message) {
  message.set_etag(Etag(resource.revision));
  *message.mutable_create_time() = ToTimestamp(resource.create_time);
  *message.mutable_update_time() = ToTimestamp(resource.update_time);
}

inline std::string SearchText(std::initializer_list<absl::string_view> parts,
                       const google::protobuf::RepeatedPtrField<std::string>& more = {}) {
  std::string text;
  for (absl::string_view part : parts) {
    absl::StrAppend(&text, NormalizeSearchText(part), std::string(1, kSearchSeparator));
  }
  for (const std::string& part : more) {
    absl::StrAppend(&text, NormalizeSearchText(part), std::string(1, kSearchSeparator));
  }
  return text;
}

// Looks up a referenced resource. Adds a violation on `field` when `name` is malformed
// or names nothing; an error only when the store fails.
inline absl::StatusOr<std::optional<Resource>> Reference(ReadView& view, absl::string_view name,
                                                  absl::string_view collection,
                                                  absl::string_view field,
                                                  FieldViolations& violations) {
  absl::StatusOr<std::string> id = ParseName(name, collection, field);
  if (!id.ok()) {
    google::rpc::BadRequest bad = GetBadRequest(id.status());
    for (const auto& v : bad.field_violations()) violations.Add(v.field(), v.description());
    return std::nullopt;
  }
  absl::StatusOr<std::optional<Resource>> found = view.Get(name);
  if (!found.ok()) return found.status();
  if (!found->has_value()) violations.Add(std::string(field), absl::StrCat(name, " does not exist"));
  return found;
}

// Calls `fn` with every resource matching `query` (its limit is the batch size).
template <typename Fn>
absl::Status ForEachMatching(ReadView& view, store::ListQuery query, Fn fn) {
  query.limit = 500;
  query.count_total = false;
  while (true) {
    absl::StatusOr<store::ListResult> page = view.List(query);
    if (!page.ok()) return page.status();
    for (const Resource& r : page->resources) {
      absl::Status status = fn(r);
      if (!status.ok()) return status;
    }
    if (!page->more) return absl::OkStatus();
    query.after_name = page->resume_after;
  }
}

// Calls `fn` with every resource of `collection` that carries all of `all_of`.
template <typename Fn>
absl::Status ForEach(ReadView& view, absl::string_view collection,
                     std::vector<IndexEntry> all_of, Fn fn) {
  store::ListQuery query;
  query.collection = std::string(collection);
  query.all_of = std::move(all_of);
  return ForEachMatching(view, std::move(query), std::move(fn));
}

inline absl::StatusOr<std::vector<std::string>> NamesOf(ReadView& view, absl::string_view collection,
                                                 std::vector<IndexEntry> all_of) {
  std::vector<std::string> names;
  absl::Status status = ForEach(view, collection, std::move(all_of), [&](const Resource& r) {
    names.push_back(r.name);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return names;
}

// A validated resource ready to store: its canonical form, index and search text.
template <typename T>
struct Prepared {
  T message;
  // Index entries beyond those T's kind declares on its fields (sanhak.store.v1.index):
  // the ones the message's fields do not hold themselves (see IndexOf).
  std::vector<IndexEntry> index;
  std::string search;
};

// Every index entry of a prepared resource: those its kind declares, from the message's
// fields, then the service's own (Prepared::index).
template <typename T>
std::vector<IndexEntry> IndexOf(const Prepared<T>& prepared) {
  std::vector<IndexEntry> out;
  for (auto& [key, value] : ResourceKind::Of<T>().IndexEntries(prepared.message)) {
    out.push_back({std::move(key), std::move(value)});
  }
  out.insert(out.end(), prepared.index.begin(), prepared.index.end());
  return out;
}

// What UpdateIndex did to one collection.
struct IndexUpdate {
  // The stored signature differed, so every resource was visited.
  bool ran = false;
  // Resources whose entries and search text were written again.
  int64_t reindexed = 0;
  // Resources their Prepare refuses today (e.g. data an older release accepted): their
  // entries are left as they were.
  int64_t skipped = 0;
};

// The signature of how T's index entries are derived: the keys and fields its proto
// declares, and `derived_version`, which a service raises whenever its Prepare
// functions change the entries they add themselves. FNV-1a, stable across builds.
template <typename T>
int64_t IndexSignature(int derived_version) {
  std::string text = absl::StrCat("derived=", derived_version);
  for (const IndexedField& f : ResourceKind::Of<T>().indexes()) {
    absl::StrAppend(&text, ";", f.key, "<-", f.field->name());
  }
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return static_cast<int64_t>(hash >> 1);
}

// Brings the index entries and search text of every resource of `collection` up to
// this release when they were written by a release that derived them otherwise: a
// stored mark ("~index/<collection>", kept beside the import marks, which name
// resources and so never take this form) holds the signature they were written with.
// When it differs (or is absent), each resource is prepared again (`prepare(tx,
// message, name)`) and reindexed, in transactions of 500, and the mark is set in the
// last one; a process that stops midway starts again at the next start. Resources keep
// their revision and data, and no change record is written: nothing a reader sees
// changes but what a filter finds. Replicas starting together may both walk; the
// result is the same.
template <typename T, typename Prepare>
absl::Status UpdateIndex(store::ResourceStore* store, absl::string_view collection,
                         int derived_version, Prepare prepare, IndexUpdate& update) {
  const std::string mark = absl::StrCat("~index/", collection);
  const int64_t signature = IndexSignature<T>(derived_version);
  std::string after;
  bool first = true;
  while (true) {
    bool done = false;
    bool matched = false;
    int64_t reindexed = 0;
    int64_t skipped = 0;
    std::string next;
    absl::Status status = store->Write([&](WriteTransaction& tx) -> absl::Status {
      // A write may run again (a retried serialization failure): count afresh.
      done = matched = false;
      reindexed = skipped = 0;
      if (first) {
        absl::StatusOr<std::optional<int64_t>> stored = tx.GetImportMark(mark);
        if (!stored.ok()) return stored.status();
        if (*stored == signature) {
          done = matched = true;
          return absl::OkStatus();
        }
      }
      store::ListQuery query;
      query.collection = std::string(collection);
      query.after_name = after;
      query.limit = 500;
      query.count_total = false;
      absl::StatusOr<store::ListResult> page = tx.List(query);
      if (!page.ok()) return page.status();
      for (const Resource& r : page->resources) {
        absl::StatusOr<T> message = Decode<T>(r);
        if (!message.ok()) return message.status();
        absl::StatusOr<Prepared<T>> prepared = prepare(tx, *std::move(message), r.name);
        if (!prepared.ok()) {
          ++skipped;
          continue;
        }
        absl::Status s = tx.Reindex(r.name, IndexOf(*prepared), prepared->search);
        if (!s.ok()) return s;
        ++reindexed;
      }
      if (page->more) {
        next = page->resume_after;
        return absl::OkStatus();
      }
      done = true;
      return tx.SetImportMark(mark, signature);
    });
    if (!status.ok()) return status;
    if (first && !matched) update.ran = true;
    update.reindexed += reindexed;
    update.skipped += skipped;
    first = false;
    if (done) return absl::OkStatus();
    after = std::move(next);
  }
}

// The key T's store indexes `field_name` under (sanhak.store.v1.index), for a List
// filter on that field. A field without the annotation is a mistake in the service, not
// in a request: it stops the process at the first call, which every List test makes.
template <typename T>
const std::string& IndexKey(absl::string_view field_name) {
  const std::string* key = ResourceKind::Of<T>().index_key(field_name);
  if (key == nullptr) {
    std::fprintf(stderr, "%s.%s is not indexed (sanhak.store.v1.index)\n",
                 T::descriptor()->full_name().c_str(), std::string(field_name).c_str());
    std::abort();
  }
  return *key;
}

template <typename T>
absl::StatusOr<Resource> Commit(WriteTransaction& tx, absl::string_view collection,
                                const Prepared<T>& prepared) {
  Resource resource;
  resource.name = prepared.message.name();
  resource.collection = std::string(collection);
  resource.type = T::descriptor()->full_name();
  resource.data = DeterministicBytes(prepared.message);
  return tx.Put(std::move(resource), IndexOf(prepared), prepared.search);
}

// ------------------------------------------------------------------ generic operations

template <typename T, typename Out>
absl::StatusOr<T> GetResource(store::ResourceStore* store, const std::string& name,
                              absl::Status name_status, Out out) {
  if (!name_status.ok()) return name_status;
  T result;
  absl::Status status = store->Read([&](ReadView& view) -> absl::Status {
    absl::StatusOr<std::optional<Resource>> found = view.Get(name);
    if (!found.ok()) return found.status();
    if (!found->has_value()) return NotFound(name);
    absl::StatusOr<T> decoded = out(view, **found);
    if (!decoded.ok()) return decoded.status();
    result = *std::move(decoded);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

template <typename T, typename Out>
absl::StatusOr<T> GetByName(store::ResourceStore* store, const std::string& name,
                            absl::string_view collection, Out out) {
  return GetResource<T>(store, name, ParseName(name, collection, "name").status(), out);
}

template <typename T>
absl::StatusOr<T> Plain(ReadView&, const Resource& resource) {
  return Decode<T>(resource);
}

struct ListSpec {
  ListSpec(absl::string_view collection, int page_size, std::string page_token,
           std::string filter_key)
      : page_size(page_size),
        page_token(std::move(page_token)),
        filter_key(std::move(filter_key)) {
    query.collection = std::string(collection);
  }

  store::ListQuery query;
  int page_size = 0;
  std::string page_token;
  // Everything that filters, so a token is only honoured by the query that issued it.
  std::string filter_key;
  // A filter the index cannot express (e.g. a time range), applied to each candidate.
  // Such lists scan every candidate to count total_size.
  std::function<bool(const Resource&)> keep;
  // Called once per page with the resources it will carry, before any is rendered: where
  // rendering asks the store something per resource (a count), it asks here once for the
  // whole page (ReadView::CountEach), a round trip per page instead of one per resource.
  std::function<absl::Status(ReadView&, const std::vector<const Resource*>&)> before_render;
};

// The bytes one page carries at most, besides its first resource: well inside the 4 MiB
// a gRPC client accepts by default, even if rendering doubled each resource, so a page
// of up to 1000 resources always arrives. A page ends early (with a next_page_token)
// when the next resource would pass it. Every resource fits alone: the validation
// bounds keep each far smaller.
inline constexpr size_t kMaxPageBytes = 1 << 20;

// Adds `r`'s share (stored bytes, its name, and room for the output-only fields) to
// `bytes` when it fits in the page or is the page's first; false when the page is full.
inline bool PageHasRoomFor(const Resource& r, size_t& bytes) {
  const size_t cost = r.data.size() + r.name.size() + 64;
  if (bytes > 0 && bytes + cost > kMaxPageBytes) return false;
  bytes += cost;
  return true;
}

// Leaves soft-deleted resources of type T out of a List unless `show_deleted` (AIP-164).
// Such a list scans its candidates (see ListSpec::keep); `show_deleted` is part of the
// filter key, so a page token does not move between the two views.
template <typename T>
void HideDeleted(bool show_deleted, ListSpec& spec) {
  absl::StrAppend(&spec.filter_key, "|show_deleted=", show_deleted ? 1 : 0);
  if (show_deleted) return;
  spec.keep = [before = std::move(spec.keep)](const Resource& r) {
    return !StoredDeleted<T>(r) && (!before || before(r));
  };
}

// Runs a List: validates paging and query text, then fills `response` via `add`.
template <typename Response, typename Add>
absl::StatusOr<Response> ListResources(store::ResourceStore* store, ListSpec spec,
                                       const std::string& raw_query, Add add) {
  FieldViolations v;
  absl::StatusOr<int> size = PageSize(spec.page_size);
  if (!size.ok()) v.Add("page_size", "must not be negative");
  ValidateText(raw_query, "query", false, kMaxQueryChars, v);
  // The filters themselves, length-prefixed so no two sets of filters read alike: the
  // token's MAC binds them, so a token is honoured only by the query that issued it.
  std::string fingerprint =
      absl::StrCat(spec.query.collection.size(), ":", spec.query.collection,
                   spec.filter_key.size(), ":", spec.filter_key, raw_query.size(), ":", raw_query);
  absl::StatusOr<std::string> after = DecodePageToken(spec.page_token, fingerprint);
  if (!after.ok()) {
    google::rpc::BadRequest bad_request = GetBadRequest(after.status());
    for (const auto& fv : bad_request.field_violations()) {
      v.Add(fv.field(), fv.description());
    }
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  spec.query.limit = *size;
  spec.query.after_name = *after;
  std::string text = NormalizeSearchText(raw_query);
  text.erase(std::remove(text.begin(), text.end(), kSearchSeparator), text.end());
  spec.query.text = text;
  Response response;
  absl::Status status = store->Read([&](ReadView& view) -> absl::Status {
    if (!spec.keep) {
      store::ListQuery query = spec.query;
      query.scan_limit = store::kScannedCandidates;
      absl::StatusOr<store::ListResult> page = view.List(query);
      if (!page.ok()) return page.status();
      size_t bytes = 0;
      std::vector<const Resource*> chosen;
      bool full = false;
      for (const Resource& r : page->resources) {
        if (!PageHasRoomFor(r, bytes)) {
          full = true;
          break;
        }
        chosen.push_back(&r);
      }
      if (spec.before_render) {
        if (absl::Status s = spec.before_render(view, chosen); !s.ok()) return s;
      }
      for (const Resource* r : chosen) {
        if (absl::Status s = add(view, *r, response); !s.ok()) return s;
      }
      if (full) {
        response.set_next_page_token(EncodePageToken(chosen.back()->name, fingerprint));
      } else if (page->more) {
        // After the last resource, or past candidates the scan bound ended the page at.
        response.set_next_page_token(EncodePageToken(page->resume_after, fingerprint));
      }
      response.set_total_size(static_cast<int32_t>(page->total));
      return absl::OkStatus();
    }
    // The page: candidates after the token, in name order, until it is full or
    // store::kScannedCandidates index matches were read (then it ends early, at `resume`).
    // `seen` and `kept` count the index matches read and those kept, for the total below.
    std::vector<Resource> page;
    bool more = false;
    std::string resume;
    size_t bytes = 0;
    int64_t seen = 0;
    int64_t kept = 0;
    {
      store::ListQuery next = spec.query;
      next.count_total = false;
      // A page's worth first (most candidates are kept), more when too few were.
      next.limit = std::min(500, *size + 1);
      bool done = false;
      while (!done) {
        next.scan_limit = static_cast<int>(store::kScannedCandidates - seen);
        next.limit = std::min(next.limit, next.scan_limit);
        absl::StatusOr<store::ListResult> batch = view.List(next);
        if (!batch.ok()) return batch.status();
        for (Resource& r : batch->resources) {
          ++seen;
          if (!spec.keep(r)) continue;
          ++kept;
          if (static_cast<int>(page.size()) == *size || !PageHasRoomFor(r, bytes)) {
            more = true;
            done = true;
            break;
          }
          page.push_back(std::move(r));
        }
        if (done || !batch->more) break;
        const bool scan_bound = static_cast<int>(batch->resources.size()) < next.limit;
        if (scan_bound || seen >= store::kScannedCandidates) {
          // The store's scan, or this page's, reached its bound first.
          more = true;
          resume = batch->resume_after;
          break;
        }
        next.after_name = batch->resume_after;
        next.limit = std::min(500, next.limit * 2);
      }
    }
    // total_size, reading at most store::kCountedCandidates rows more: exact when the
    // first index filter (or the collection) has no more candidates than that; beyond,
    // an estimate (AIP-158): the store's count of index matches times the share of them
    // this page's scan kept.
    int64_t total = 0;
    if (spec.query.after_name.empty() && !more) {
      // The page scanned every candidate from the first: it holds them all.
      total = static_cast<int64_t>(page.size());
    } else {
      std::vector<IndexEntry> first;
      if (!spec.query.all_of.empty()) first.push_back(spec.query.all_of[0]);
      absl::StatusOr<int64_t> candidates = view.Count(spec.query.collection, first);
      if (!candidates.ok()) return candidates.status();
      store::ListQuery count = spec.query;
      count.after_name.clear();
      if (*candidates <= store::kCountedCandidates) {
        total = 0;
        absl::Status all = ForEachMatching(view, count, [&](const Resource& r) {
          total += spec.keep(r) ? 1 : 0;
          return absl::OkStatus();
        });
        if (!all.ok()) return all;
      } else {
        count.limit = 1;
        absl::StatusOr<store::ListResult> matches = view.List(count);
        if (!matches.ok()) return matches.status();
        total = seen == 0 ? 0 : (matches->total * kept + seen / 2) / seen;
      }
    }
    std::vector<const Resource*> chosen;
    for (const Resource& r : page) chosen.push_back(&r);
    if (spec.before_render) {
      if (absl::Status s = spec.before_render(view, chosen); !s.ok()) return s;
    }
    for (const Resource& r : page) {
      if (absl::Status s = add(view, r, response); !s.ok()) return s;
    }
    if (more) {
      response.set_next_page_token(
          EncodePageToken(resume.empty() ? page.back().name : resume, fingerprint));
    }
    response.set_total_size(static_cast<int32_t>(total));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return response;
}

// A cache of rendered reads (a Get's resource, a List's page), emptied by every commit
// (the store's generation). A value read while a write committed is not kept, so a hit is
// never older than the last commit. Does nothing when the store cannot tell its
// generation. Bounded in entries and in bytes (keys plus serialized values): beyond
// either, a value is served but not kept until the next commit empties the cache.
template <typename T>
class ReadCache {
 public:
  explicit ReadCache(store::ResourceStore* store, size_t max_entries = 10000,
                     size_t max_bytes = size_t{16} << 20)
      : store_(store), max_entries_(max_entries), max_bytes_(max_bytes) {}

  template <typename Load>
  absl::StatusOr<T> Get(const std::string& key, Load load) {
    const int64_t generation = store_->generation();
    if (generation >= 0) {
      absl::MutexLock lock(&mu_);
      if (generation_ == generation) {
        auto it = entries_.find(key);
        if (it != entries_.end()) return it->second;
      }
    }
    absl::StatusOr<T> loaded = load();
    if (loaded.ok() && generation >= 0 && store_->generation() == generation) {
      const size_t bytes = key.size() + BytesOf(*loaded);
      absl::MutexLock lock(&mu_);
      if (generation_ != generation) {
        entries_.clear();
        bytes_ = 0;
        generation_ = generation;
      }
      if (entries_.size() < max_entries_ && bytes_ + bytes <= max_bytes_ &&
          entries_.emplace(key, *loaded).second) {
        bytes_ += bytes;
      }
    }
    return loaded;
  }

 private:
  static size_t BytesOf(const T& value) {
    if constexpr (std::is_base_of_v<google::protobuf::MessageLite, T>) {
      return value.ByteSizeLong();
    } else {
      return value.size();
    }
  }

  store::ResourceStore* const store_;
  const size_t max_entries_;
  const size_t max_bytes_;
  absl::Mutex mu_;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = -1;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, T> entries_ ABSL_GUARDED_BY(mu_);
};

// The key of a List request's page in a ReadCache: the request's bytes. Every field of
// a List request bears on its page and no List depends on who calls, so equal bytes mean
// the same page; the requests hold no maps, so their serialization is deterministic.
template <typename Request>
std::string PageKey(const Request& request) {
  return request.SerializeAsString();
}

// The `add` of ListResources: renders each resource with `out` into the response's
// repeated field `add` (e.g. &ListCouncilsResponse::add_councils).
template <typename Response, typename T, typename Out>
auto AppendWith(T* (Response::*add)(), Out out) {
  return [add, out](ReadView& view, const Resource& r, Response& response) -> absl::Status {
    absl::StatusOr<T> item = out(view, r);
    if (!item.ok()) return item.status();
    *(response.*add)() = *std::move(item);
    return absl::OkStatus();
  };
}

// A filter on an enum field: nothing when unspecified (0), INVALID_ARGUMENT on `field`
// when not a value of E.
template <typename E>
void EnumFilter(E value, absl::string_view key, absl::string_view field,
                std::vector<IndexEntry>& all_of, FieldViolations& v) {
  if (static_cast<int>(value) == 0) return;
  const google::protobuf::EnumValueDescriptor* d =
      google::protobuf::GetEnumDescriptor<E>()->FindValueByNumber(static_cast<int>(value));
  if (d == nullptr) {
    v.Add(std::string(field), "is not a known value");
  } else {
    all_of.push_back({std::string(key), d->name()});
  }
}

// The parent of a nested List: `{collection}/{id}`, or `{collection}/-` for every parent.
inline void ParentFilter(absl::string_view parent, absl::string_view collection,
                         std::vector<IndexEntry>& all_of, FieldViolations& v) {
  if (parent == absl::StrCat(collection, "/-")) return;
  if (parent.empty()) {
    v.Add("parent", absl::StrCat("is required: ", collection, "/{id}, or ", collection,
                                 "/- for all"));
    return;
  }
  absl::StatusOr<std::string> id = ParseName(parent, collection, "parent");
  if (!id.ok()) {
    v.Add("parent", absl::StrCat("must be a ", collection, "/{id} name"));
    return;
  }
  all_of.push_back({"parent", std::string(parent)});
}

// A filter on a resource name that must be of `collection` when set.
inline void NameFilter(absl::string_view value, absl::string_view collection, absl::string_view key,
                absl::string_view field, std::vector<IndexEntry>& all_of, FieldViolations& v) {
  if (value.empty()) return;
  absl::StatusOr<std::string> id = ParseName(value, collection, field);
  if (!id.ok()) {
    v.Add(std::string(field), absl::StrCat("must be a ", collection, "/{id} name"));
    return;
  }
  all_of.push_back({std::string(key), std::string(value)});
}

// A write asked with validate_only runs every check inside its transaction, then returns
// this from it so the transaction rolls back: checked, nothing kept (AIP-163).
inline absl::Status ValidatedOnly() {
  return absl::CancelledError("sanhak: validate_only, rolled back");
}
inline bool IsValidatedOnly(const absl::Status& s) {
  return s.code() == absl::StatusCode::kCancelled &&
         s.message() == "sanhak: validate_only, rolled back";
}

// The request's validate_only field (false when it has none).
inline bool ValidateOnly(const google::protobuf::Message& request) {
  const auto* field = request.GetDescriptor()->FindFieldByName("validate_only");
  return field != nullptr &&
         field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_BOOL &&
         request.GetReflection()->GetBool(request, field);
}

// Identifies a request for request_id replay: everything but request_id and validate_only
// (a request checked first with validate_only, then sent, is the same request).
inline std::string RequestFingerprint(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  for (const char* name : {"request_id", "validate_only"}) {
    const auto* field = copy->GetDescriptor()->FindFieldByName(name);
    if (field != nullptr) copy->GetReflection()->ClearField(copy.get(), field);
  }
  return Fingerprint(absl::StrCat(request.GetDescriptor()->full_name(), "|",
                                  DeterministicBytes(*copy)));
}

// Runs a create at most once per request id: a retry with the same id and request gets
// the first response; the same id with another request is refused. With validate_only
// set on `request`, everything is checked and the would-be result returned, nothing kept.
// Returns at once; `done` hears the outcome after the commit. `request` (and so
// `request_id`) must stay valid until then; `create` is kept until the write has run.
template <typename T, typename Create>
void CreateOnce(store::AsyncWriter* store, const google::protobuf::Message& request,
                const std::string& request_id, Create create, Done<T> done) {
  FieldViolations v;
  ValidateText(request_id, "request_id", false, kMaxRequestIdChars, v);
  if (absl::Status s = v.ToStatus(); !s.ok()) return done(std::move(s));
  auto result = std::make_shared<T>();
  store->WriteAsync(
      [result, id = &request_id, fingerprint = RequestFingerprint(request),
       validate_only = ValidateOnly(request),
       create = std::move(create)](WriteTransaction& tx) mutable -> absl::Status {
        const std::string& request_id = *id;
        if (!request_id.empty()) {
          auto recorded = tx.FindRequest(request_id);
          if (!recorded.ok()) return recorded.status();
          if (recorded->has_value()) {
            if ((*recorded)->fingerprint != fingerprint) {
              return InvalidField("request_id", "was already used for a different request");
            }
            if (!result->ParseFromString((*recorded)->response)) {
              return absl::DataLossError("recorded response does not parse");
            }
            // The first response is replayed only while what it created is live: a
            // replay must not hand out a resource that is gone (or soft-deleted) as if
            // this request had just made it, nor create it a second time.
            absl::StatusOr<std::optional<Resource>> now = tx.Get(result->name());
            if (!now.ok()) return now.status();
            if (!now->has_value() || StoredDeleted<T>(**now)) {
              return WithReason(
                  absl::FailedPreconditionError(absl::StrCat(
                      "request_id ", QuoteValue(request_id), " created ", result->name(),
                      ", which has since been deleted; a request_id never creates twice: "
                      "use a new one")),
                  "RESOURCE_DELETED");
            }
            return absl::OkStatus();
          }
        }
        absl::StatusOr<T> created = create(tx);
        if (!created.ok()) return created.status();
        *result = *std::move(created);
        if (validate_only) return ValidatedOnly();
        if (request_id.empty()) return absl::OkStatus();
        return tx.RecordRequest(request_id, fingerprint, DeterministicBytes(*result));
      },
      [result, done = std::move(done)](absl::Status status) mutable {
        if (!status.ok() && !IsValidatedOnly(status)) return done(std::move(status));
        done(std::move(*result));
      });
}

// The id a create uses: the requested one, or a generated one.
inline absl::StatusOr<std::string> NewName(WriteTransaction& tx, absl::string_view collection,
                                    absl::string_view requested_id, absl::string_view id_field,
                                    absl::string_view id_prefix) {
  std::string id = std::string(requested_id);
  if (id.empty()) {
    id = GenerateId(id_prefix);
  } else if (!IsValidId(id)) {
    return InvalidField(std::string(id_field),
                        "must match [a-z][a-z0-9-]{0,62} and not end in '-'");
  }
  std::string name = absl::StrCat(collection, "/", id);
  absl::StatusOr<std::optional<Resource>> existing = tx.Get(name);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return WithReason(absl::AlreadyExistsError(absl::StrCat(name, " already exists")),
                      "ALREADY_EXISTS");
  }
  return name;
}

inline absl::Status CheckEtag(absl::string_view given, const Resource& stored) {
  if (given.empty() || given == Etag(stored.revision)) return absl::OkStatus();
  return WithReason(absl::AbortedError(absl::StrCat(
                        stored.name, " changed since etag ", given, " (now ",
                        Etag(stored.revision), "); read it again and retry")),
                    "ETAG_MISMATCH");
}

// Applies `mask` (paths of T; empty = every mutable path) from `patch` onto `current`.
template <typename T>
absl::Status ApplyMask(const T& patch, const FieldMask& mask,
                       const std::vector<std::string>& mutable_paths, T& current) {
  FieldMask effective;
  if (mask.paths_size() == 0) {
    for (const std::string& p : mutable_paths) effective.add_paths(p);
  } else {
    FieldViolations v;
    for (const std::string& path : mask.paths()) {
      std::string top = path.substr(0, path.find('.'));
      bool allowed = std::find(mutable_paths.begin(), mutable_paths.end(), top) !=
                     mutable_paths.end();
      if (!allowed || !FieldMaskUtil::IsValidPath<T>(path)) {
        // The caller's path is quoted by a short prefix only, and the list of what can be
        // updated is said once, so a mask of thousands of bad paths makes a small error.
        v.Add("update_mask",
              v.empty() ? absl::StrCat(QuoteValue(path), " is not a field that can be updated; "
                                       "updatable: ", absl::StrJoin(mutable_paths, ", "))
                        : absl::StrCat(QuoteValue(path), " is not a field that can be updated"));
      }
    }
    if (absl::Status s = v.ToStatus(); !s.ok()) return s;
    effective = mask;
  }
  FieldMaskUtil::MergeOptions options;
  options.set_replace_message_fields(true);
  options.set_replace_repeated_fields(true);
  FieldMaskUtil::MergeMessageTo(patch, effective, options, &current);
  return absl::OkStatus();
}

// Update: load, check etag, merge by mask, validate and save via `save`, render by `out`.
// With `validate_only`, all of that runs and is rolled back: the would-be result.
// Returns at once; `done` hears the outcome after the commit. `patch` and `mask` (parts
// of the request) must stay valid until then.
template <typename T, typename Save, typename Out>
void UpdateResource(store::AsyncWriter* store, const T& patch, const FieldMask& mask,
                    absl::Status name_status, std::vector<std::string> mutable_paths,
                    Save save, Out out, bool validate_only, Done<T> done) {
  if (!name_status.ok()) return done(std::move(name_status));
  auto result = std::make_shared<T>();
  store->WriteAsync(
      [result, patch = &patch, mask = &mask, mutable_paths = std::move(mutable_paths),
       save = std::move(save), out = std::move(out),
       validate_only](WriteTransaction& tx) mutable -> absl::Status {
        absl::StatusOr<std::optional<Resource>> found = tx.Get(patch->name());
        if (!found.ok()) return found.status();
        if (!found->has_value()) return NotFound(patch->name());
        if (absl::Status s = CheckEtag(patch->etag(), **found); !s.ok()) return s;
        absl::StatusOr<T> before = Decode<T>(**found);
        if (!before.ok()) return before.status();
        T merged = *before;
        if (absl::Status s = ApplyMask(*patch, *mask, mutable_paths, merged); !s.ok()) {
          return s;
        }
        absl::StatusOr<Resource> saved = save(tx, merged, &*before);
        if (!saved.ok()) return saved.status();
        absl::StatusOr<T> rendered = out(tx, *saved);
        if (!rendered.ok()) return rendered.status();
        *result = *std::move(rendered);
        return validate_only ? ValidatedOnly() : absl::OkStatus();
      },
      [result, done = std::move(done)](absl::Status status) mutable {
        if (!status.ok() && !IsValidatedOnly(status)) return done(std::move(status));
        done(std::move(*result));
      });
}

// Delete: load, check etag, refuse while `in_use` says so, delete, then `after`. Returns
// at once; `done` hears the outcome after the commit.
template <typename InUse, typename After>
void DeleteResource(store::AsyncWriter* store, std::string name, std::string etag,
                    absl::Status name_status, InUse in_use, After after, StatusDone done) {
  if (!name_status.ok()) return done(std::move(name_status));
  store->WriteAsync(
      [name = std::move(name), etag = std::move(etag), in_use = std::move(in_use),
       after = std::move(after)](WriteTransaction& tx) mutable -> absl::Status {
        absl::StatusOr<std::optional<Resource>> found = tx.Get(name);
        if (!found.ok()) return found.status();
        if (!found->has_value()) return NotFound(name);
        if (absl::Status s = CheckEtag(etag, **found); !s.ok()) return s;
        if (absl::Status s = in_use(tx, name); !s.ok()) return s;
        if (absl::Status s = tx.Delete(name); !s.ok()) return s;
        return after(tx);
      },
      std::move(done));
}

// Soft delete (AIP-164): load, refuse an already deleted one (NOT_FOUND), check etag,
// refuse while `in_use` says so, then store it again with delete_time set through `save`
// (the service's validate-index-commit, as an update uses), so its change record carries
// the deleted state. Returns at once; `done` hears the outcome after the commit.
template <typename T, typename InUse, typename Save>
void SoftDeleteResource(store::AsyncWriter* store, std::string name, std::string etag,
                        absl::Status name_status, InUse in_use, Save save, StatusDone done) {
  if (!name_status.ok()) return done(std::move(name_status));
  store->WriteAsync(
      [name = std::move(name), etag = std::move(etag), in_use = std::move(in_use),
       save = std::move(save)](WriteTransaction& tx) mutable -> absl::Status {
        absl::StatusOr<std::optional<Resource>> found = tx.Get(name);
        if (!found.ok()) return found.status();
        if (!found->has_value()) return NotFound(name);
        absl::StatusOr<T> before = Decode<T>(**found);
        if (!before.ok()) return before.status();
        if (IsDeleted(*before)) {
          return WithReason(absl::NotFoundError(absl::StrCat(name, " is already deleted")),
                            "RESOURCE_DELETED");
        }
        if (absl::Status s = CheckEtag(etag, **found); !s.ok()) return s;
        if (absl::Status s = in_use(tx, name); !s.ok()) return s;
        T deleted = *before;
        *deleted.mutable_delete_time() = ToTimestamp(absl::Now());
        return save(tx, std::move(deleted), &*before).status();
      },
      std::move(done));
}

// Undelete (AIP-164): load, refuse a live one (ALREADY_EXISTS), check etag, clear
// delete_time, let `check` refuse it (e.g. it names what is itself deleted), store it
// through `save`, render it with `out`.
template <typename T, typename Check, typename Save, typename Out>
void UndeleteResource(store::AsyncWriter* store, std::string name, std::string etag,
                      absl::Status name_status, Check check, Save save, Out out,
                      Done<T> done) {
  if (!name_status.ok()) return done(std::move(name_status));
  auto result = std::make_shared<T>();
  store->WriteAsync(
      [result, name = std::move(name), etag = std::move(etag), check = std::move(check),
       save = std::move(save), out = std::move(out)](WriteTransaction& tx) mutable
      -> absl::Status {
        absl::StatusOr<std::optional<Resource>> found = tx.Get(name);
        if (!found.ok()) return found.status();
        if (!found->has_value()) return NotFound(name);
        absl::StatusOr<T> before = Decode<T>(**found);
        if (!before.ok()) return before.status();
        if (!IsDeleted(*before)) {
          return WithReason(absl::AlreadyExistsError(absl::StrCat(name, " is not deleted")),
                            "ALREADY_EXISTS");
        }
        if (absl::Status s = CheckEtag(etag, **found); !s.ok()) return s;
        T live = *before;
        live.clear_delete_time();
        if (absl::Status s = check(tx, live); !s.ok()) return s;
        absl::StatusOr<Resource> saved = save(tx, std::move(live), &*before);
        if (!saved.ok()) return saved.status();
        absl::StatusOr<T> rendered = out(tx, *saved);
        if (!rendered.ok()) return rendered.status();
        *result = *std::move(rendered);
        return absl::OkStatus();
      },
      [result, done = std::move(done)](absl::Status status) mutable {
        if (!status.ok()) return done(std::move(status));
        done(std::move(*result));
      });
}

// How many live (not soft-deleted) resources of `collection`, of type T, carry `entry`.
template <typename T>
absl::StatusOr<int64_t> CountLive(ReadView& view, absl::string_view collection,
                                  IndexEntry entry) {
  int64_t n = 0;
  absl::Status status = ForEach(view, collection, {std::move(entry)}, [&](const Resource& r) {
    n += !StoredDeleted<T>(r);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return n;
}

// FAILED_PRECONDITION when a live resource of type T in `collection` carries `entry`;
// soft-deleted ones keep their references resolvable and do not hold it back.
template <typename T>
absl::Status RefusedWhileLiveReferenced(ReadView& view, absl::string_view name,
                                        absl::string_view collection, IndexEntry entry,
                                        absl::string_view what, absl::string_view reason) {
  absl::StatusOr<int64_t> n = CountLive<T>(view, collection, std::move(entry));
  if (!n.ok()) return n.status();
  if (*n == 0) return absl::OkStatus();
  return WithReason(absl::FailedPreconditionError(absl::StrCat(
                        name, " is still referenced by ", *n, " ", what,
                        "; remove those first")),
                    reason);
}

// FAILED_PRECONDITION when any resource of `collection` carries `entry`.
inline absl::Status RefusedWhileReferenced(ReadView& view, absl::string_view name,
                                    absl::string_view collection, IndexEntry entry,
                                    absl::string_view what, absl::string_view reason) {
  absl::StatusOr<int64_t> n = view.Count(collection, {entry});
  if (!n.ok()) return n.status();
  if (*n == 0) return absl::OkStatus();
  return WithReason(absl::FailedPreconditionError(absl::StrCat(
                        name, " is still referenced by ", *n, " ", what,
                        "; remove those first")),
                    reason);
}

// ------------------------------------------------------------------------ who may write
//
// The domain's own checks of the caller (common/caller.h). The edge (the authorization
// policy and common/parsed_call's role check) refuses most calls before they get here;
// these hold even where the edge check is missing (defence in depth), and they are the
// only place council scope is decided. Each refusal is PERMISSION_DENIED with an
// ErrorInfo reason, and is decided from the request's names or from what the caller may
// read anyway (every role reads every resource), so it tells nothing a Get would not.

// Create and update: editor, admin or service (Caller::MayChange's roles). A reader, or
// a caller with no role, never writes.
inline absl::Status RequireEditor(const Caller& caller, absl::string_view method) {
  if (caller.role == Role::kEditor || caller.role == Role::kAdmin ||
      caller.role == Role::kService) {
    return absl::OkStatus();
  }
  return WithReason(absl::PermissionDeniedError(absl::StrCat(
                        method, " needs role editor or admin; ", QuoteValue(caller.principal),
                        " has role ", RoleName(caller.role))),
                    "ROLE_REQUIRED");
}

// Delete, undelete, the audit trail: admin only.
inline absl::Status RequireAdmin(const Caller& caller, absl::string_view method) {
  if (caller.role == Role::kAdmin) return absl::OkStatus();
  return WithReason(absl::PermissionDeniedError(absl::StrCat(
                        method, " needs role admin; ", QuoteValue(caller.principal),
                        " has role ", RoleName(caller.role))),
                    "ROLE_REQUIRED");
}

// Every council of `councils` may be changed by `caller`; else PERMISSION_DENIED naming
// the first that may not (reason COUNCIL_OUT_OF_SCOPE). `what` says what names them.
template <typename Councils>
absl::Status RequireCouncils(const Caller& caller, const Councils& councils,
                             absl::string_view what) {
  for (const auto& council : councils) {
    if (caller.MayChange(council)) continue;
    return WithReason(absl::PermissionDeniedError(absl::StrCat(
                          what, " names ", QuoteValue(council), ", which is not in the scope of ",
                          QuoteValue(caller.principal), " (", caller.councils.size(),
                          " councils)")),
                      "COUNCIL_OUT_OF_SCOPE");
  }
  return absl::OkStatus();
}

inline absl::Status RequireCouncil(const Caller& caller, absl::string_view council,
                                   absl::string_view what) {
  return RequireCouncils(caller, std::vector<absl::string_view>{council}, what);
}

// Whether `caller` is confined to some councils (an editor with a scope).
inline bool Scoped(const Caller& caller) {
  return caller.role == Role::kEditor && !caller.councils.empty();
}

// Resources that belong to no single council (complexes, organizations): an editor
// scoped to councils may not change them.
inline absl::Status RequireUnscoped(const Caller& caller, absl::string_view what) {
  if (!Scoped(caller)) return absl::OkStatus();
  return WithReason(absl::PermissionDeniedError(absl::StrCat(
                        what, " belong to no single council; ", QuoteValue(caller.principal),
                        " may change only what belongs to its ", caller.councils.size(),
                        " councils")),
                    "COUNCIL_OUT_OF_SCOPE");
}

// ------------------------------------------------------------------------ audit trail

// The fields a create sets: the names of `message`'s fields that are set.
inline std::vector<std::string> SetFields(const google::protobuf::Message& message) {
  std::vector<const google::protobuf::FieldDescriptor*> set;
  message.GetReflection()->ListFields(message, &set);
  std::vector<std::string> names;
  for (const auto* field : set) names.push_back(field->name());
  return names;
}

// The fields an update changes: its mask, or every mutable path when the mask is empty.
inline std::vector<std::string> MaskedFields(const FieldMask& mask,
                                             const std::vector<std::string>& mutable_paths) {
  if (mask.paths_size() == 0) return mutable_paths;
  return {mask.paths().begin(), mask.paths().end()};
}

// One write a caller asked for, as the audit trail records it (common/audit_log.h). Hand
// the crud functions this in place of the store and its done through Wrap: the write's
// work then runs with the entry appended to its transaction when the work succeeds (so
// the entry commits iff the write does), and Wrap's done records any other outcome, a
// refusal before the store or a failed commit included, in a transaction of its own
// before the caller hears it. A cheap handle: copies share the entry; the write's work
// and done keep what they need, so the handle itself need not outlive WriteAsync.
class AuditedWrite final : public store::AsyncWriter {
 public:
  AuditedWrite(store::ResourceStore* store, Auditor* auditor, store::AuditEntry entry)
      : store_(store), auditor_(auditor), state_(std::make_shared<State>()) {
    state_->entry = std::move(entry);
  }

  void WriteAsync(store::WriteFn fn, store::WriteDone done) override {
    store_->WriteAsync(
        [state = state_, fn = std::move(fn)](WriteTransaction& tx) mutable -> absl::Status {
          absl::Status status = fn(tx);
          if (!status.ok()) return status;
          if (absl::Status s = tx.AppendAudit(state->entry); !s.ok()) return s;
          state->appended = true;
          return absl::OkStatus();
        },
        std::move(done));
  }

  // The resource's name once the write knows it (a create with a generated id); call
  // from the write's work, before it returns.
  void Named(absl::string_view name) const {
    state_->entry.resource = std::string(name.substr(0, kMaxAuditTextBytes));
  }

  template <typename T>
  Done<T> Wrap(Done<T> done) const {
    return [auditor = auditor_, state = state_,
            done = std::move(done)](absl::StatusOr<T> result) mutable {
      absl::Status status = result.status();
      Finish(auditor, *state, status,
             [done = std::move(done), result = std::move(result)]() mutable {
               done(std::move(result));
             });
    };
  }
  StatusDone Wrap(StatusDone done) const {
    return [auditor = auditor_, state = state_, done = std::move(done)](absl::Status status) mutable {
      Finish(auditor, *state, status,
             [done = std::move(done), status]() mutable { done(status); });
    };
  }

 private:
  struct State {
    store::AuditEntry entry;
    // The entry went into the write's transaction (which may still fail to commit).
    bool appended = false;
  };

  static void Finish(Auditor* auditor, State& state, const absl::Status& status,
                     absl::AnyInvocable<void()> then) {
    if (status.ok() && state.appended) {
      auditor->Committed(state.entry);
      return then();
    }
    // Refused, failed, or checked only (validate_only): nothing of the write was kept.
    Auditor::SetOutcome(status, state.entry);
    auditor->RecordAlone(state.entry, std::move(then));
  }

  store::ResourceStore* store_;
  Auditor* auditor_;
  std::shared_ptr<State> state_;
};

// ListAuditEntries of a service (admin only): the audit trail filtered by principal,
// resource and [start_time, end_time), oldest first, paged by sequence with a signed
// token bound to the filters. Request and Response are the service's
// ListAuditEntriesRequest/Response (their AuditEntry has the store's fields).
template <typename Response, typename Request>
absl::StatusOr<Response> ListAuditEntries(store::ResourceStore* store, const Caller& caller,
                                          const Request& request) {
  if (absl::Status s = RequireAdmin(caller, "ListAuditEntries"); !s.ok()) return s;
  FieldViolations v;
  absl::StatusOr<int> size = PageSize(request.page_size());
  if (!size.ok()) v.Add("page_size", "must not be negative");
  ValidateText(request.principal(), "principal", false, kMaxAuditTextBytes, v);
  ValidateText(request.resource(), "resource", false, kMaxAuditTextBytes, v);
  store::AuditQuery query;
  query.principal = request.principal();
  query.resource = request.resource();
  const bool from = request.has_start_time(), to = request.has_end_time();
  auto time_of = [](const google::protobuf::Timestamp& t) {
    return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
  };
  if (from && !IsValidTimestamp(request.start_time())) v.Add("start_time", "is out of range");
  if (to && !IsValidTimestamp(request.end_time())) v.Add("end_time", "is out of range");
  if (v.empty()) {
    if (from) query.start_time = time_of(request.start_time());
    if (to) query.end_time = time_of(request.end_time());
    if (from && to && query.end_time <= query.start_time) {
      v.Add("end_time", "must be after start_time");
    }
  }
  // The filters, length-prefixed, bind the token: it is honoured only by the same query.
  const std::string fingerprint = absl::StrCat(
      "audit|", query.principal.size(), ":", query.principal, query.resource.size(), ":",
      query.resource, from ? absl::FormatTime(query.start_time) : "-", "|",
      to ? absl::FormatTime(query.end_time) : "-");
  absl::StatusOr<std::string> after = DecodePageToken(request.page_token(), fingerprint);
  if (!after.ok()) {
    google::rpc::BadRequest bad_request = GetBadRequest(after.status());
    for (const auto& fv : bad_request.field_violations()) v.Add(fv.field(), fv.description());
  } else if (!after->empty() && !absl::SimpleAtoi(*after, &query.after_sequence)) {
    v.Add("page_token", "is not a token of this list");
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  query.limit = *size;
  absl::StatusOr<store::AuditPage> page = store->ListAudit(query);
  if (!page.ok()) return page.status();
  Response response;
  for (const store::AuditEntry& e : page->entries) {
    auto* out = response.add_audit_entries();
    out->set_sequence(e.sequence);
    *out->mutable_time() = ToTimestamp(e.time);
    out->set_principal(e.principal);
    out->set_role(e.role);
    out->set_authenticated_by(e.authenticated_by);
    out->set_method(e.method);
    out->set_resource(e.resource);
    out->set_request_id(e.request_id);
    out->set_code(e.code);
    out->set_message(e.message);
    for (const std::string& f : e.fields) out->add_fields(f);
    out->set_validate_only(e.validate_only);
  }
  if (page->more && !page->entries.empty()) {
    response.set_next_page_token(
        EncodePageToken(absl::StrCat(page->entries.back().sequence), fingerprint));
  }
  return response;
}

// ------------------------------------------------------------------------ import
//
// An import (at every start) never overrides the API. Per entry of the data file it
// reads the stored record under that name and the store's import mark for the name (the
// revision the last import left there; see WriteTransaction::GetImportMark):
//
//   no mark, absent               created from the file, marked
//   mark, absent                  deleted through the API: stays deleted
//   mark == stored revision       as the last import left it: the file's version when it
//                                 differs, marked again
//   mark != stored revision       changed through the API: kept as it is
//   no mark, present              created through the API, or a database from before
//                                 marks: kept, unless identical to the file (then marked)

// What an import does with one entry, judged by DecideImport.
enum class ImportAction {
  kCreate,
  kApply,
  kAdopt,
  kKeep,
};

inline ImportAction DecideImport(const std::optional<Resource>& stored,
                                 std::optional<int64_t> mark) {
  if (!mark.has_value()) return stored.has_value() ? ImportAction::kAdopt : ImportAction::kCreate;
  if (!stored.has_value()) return ImportAction::kKeep;
  return stored->revision == *mark ? ImportAction::kApply : ImportAction::kKeep;
}

// The transaction an import hands to its Prepare and After functions. A write an import
// makes to another record (an After hook re-deriving a council from a complex the file
// changed) moves that record's revision; were its mark left behind, the next import
// would take the import's own write for an edit through the API and stop applying the
// file to it. So a Put of a record still as the last import left it (mark == revision)
// moves its mark along; a Put of any other record leaves its mark, and so its owner,
// alone. Everything else passes through.
class ImportingTransaction final : public WriteTransaction {
 public:
  explicit ImportingTransaction(WriteTransaction& tx) : tx_(tx) {}

  absl::StatusOr<std::optional<Resource>> Get(absl::string_view name) override {
    return tx_.Get(name);
  }
  absl::StatusOr<store::ListResult> List(const store::ListQuery& query) override {
    return tx_.List(query);
  }
  absl::StatusOr<int64_t> Count(absl::string_view collection,
                                const std::vector<IndexEntry>& all_of) override {
    return tx_.Count(collection, all_of);
  }
  absl::StatusOr<Resource> Put(Resource resource, const std::vector<IndexEntry>& index,
                               absl::string_view search_text) override {
    absl::StatusOr<std::optional<Resource>> stored = tx_.Get(resource.name);
    if (!stored.ok()) return stored.status();
    absl::StatusOr<std::optional<int64_t>> mark = tx_.GetImportMark(resource.name);
    if (!mark.ok()) return mark.status();
    absl::StatusOr<Resource> saved = tx_.Put(std::move(resource), index, search_text);
    if (!saved.ok()) return saved;
    if (stored->has_value() && mark->has_value() && **mark == (*stored)->revision) {
      if (absl::Status s = tx_.SetImportMark(saved->name, saved->revision); !s.ok()) return s;
    }
    return saved;
  }
  absl::Status Reindex(absl::string_view name, const std::vector<IndexEntry>& index,
                       absl::string_view search_text) override {
    return tx_.Reindex(name, index, search_text);
  }
  // No import deletes today. A record an import deleted would keep its mark and so count
  // as deleted through the API: the next import would not bring it back.
  absl::Status Delete(absl::string_view name) override { return tx_.Delete(name); }
  absl::StatusOr<std::optional<store::RecordedRequest>> FindRequest(
      absl::string_view request_id) override {
    return tx_.FindRequest(request_id);
  }
  absl::Status RecordRequest(absl::string_view request_id, absl::string_view fingerprint,
                             absl::string_view response) override {
    return tx_.RecordRequest(request_id, fingerprint, response);
  }
  absl::StatusOr<std::optional<int64_t>> GetImportMark(absl::string_view name) override {
    return tx_.GetImportMark(name);
  }
  absl::Status SetImportMark(absl::string_view name, int64_t revision) override {
    return tx_.SetImportMark(name, revision);
  }
  absl::Status AppendAudit(const store::AuditEntry& entry) override {
    return tx_.AppendAudit(entry);
  }

 private:
  WriteTransaction& tx_;
};

// Applies one prepared entry as `action` (from DecideImport on `stored` and its mark)
// allows, marks what the import leaves, and counts it. True when it wrote the resource.
template <typename T>
absl::StatusOr<bool> Upsert(WriteTransaction& tx, absl::string_view collection,
                            const Prepared<T>& prepared, const std::optional<Resource>& stored,
                            ImportAction action, ImportSummary& summary) {
  const std::string& name = prepared.message.name();
  if (stored.has_value() && stored->data == DeterministicBytes(prepared.message)) {
    ++summary.unchanged;
    // A record identical to the file is the import's from now on (kAdopt), so a later
    // change of the file reaches it.
    if (action == ImportAction::kAdopt) {
      if (absl::Status s = tx.SetImportMark(name, stored->revision); !s.ok()) return s;
    }
    return false;
  }
  switch (action) {
    case ImportAction::kCreate:
      ++summary.created;
      break;
    case ImportAction::kApply:
      ++summary.updated;
      break;
    case ImportAction::kAdopt:
    case ImportAction::kKeep:
      ++summary.kept;
      return false;
  }
  absl::StatusOr<Resource> saved = Commit(tx, collection, prepared);
  if (!saved.ok()) return saved.status();
  if (absl::Status s = tx.SetImportMark(name, saved->revision); !s.ok()) return s;
  return true;
}

// Imports the resources of one repeated field (see the table above): prepares each entry
// it may write (with its index as the error prefix), upserts it, then lets `after`
// refresh dependents of a changed one. An entry the API changed or deleted is neither
// prepared nor validated: the data file cannot make it valid or invalid, and what it
// names may since have been deleted through the API.
template <typename T, typename Prepare, typename After>
absl::Status ImportAll(WriteTransaction& tx, absl::string_view collection,
                       absl::string_view list_name,
                       const google::protobuf::RepeatedPtrField<T>& items, Prepare prepare,
                       After after, ImportSummary& summary) {
  ImportingTransaction importing(tx);
  for (int i = 0; i < items.size(); ++i) {
    std::string prefix = absl::StrCat(list_name, "[", i, "]");
    absl::StatusOr<std::optional<Resource>> stored = tx.Get(items[i].name());
    if (!stored.ok()) return stored.status();
    if (stored->has_value() && (*stored)->collection != collection) {
      return absl::InvalidArgumentError(
          absl::StrCat(items[i].name(), " already names a ", (*stored)->collection));
    }
    absl::StatusOr<std::optional<int64_t>> mark = tx.GetImportMark(items[i].name());
    if (!mark.ok()) return mark.status();
    const ImportAction action = DecideImport(*stored, *mark);
    if (action == ImportAction::kKeep) {
      ++summary.kept;
      continue;
    }
    std::optional<T> before;
    if (stored->has_value()) {
      absl::StatusOr<T> decoded = Decode<T>(**stored);
      if (!decoded.ok()) return decoded.status();
      before = *std::move(decoded);
    }
    absl::StatusOr<Prepared<T>> prepared = prepare(importing, items[i], prefix);
    if (!prepared.ok()) return prepared.status();
    absl::StatusOr<bool> changed = Upsert(tx, collection, *prepared, *stored, action, summary);
    if (!changed.ok()) return changed.status();
    if (*changed) {
      absl::Status s = after(importing, before ? &*before : nullptr, prepared->message);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status NoDependents(WriteTransaction&, const T*, const T&) {
  return absl::OkStatus();
}

// Names in the bundle must be valid before anything is prepared.
template <typename T>
absl::Status CheckNames(const google::protobuf::RepeatedPtrField<T>& items,
                        absl::string_view collection, absl::string_view list_name) {
  for (int i = 0; i < items.size(); ++i) {
    absl::Status s =
        ParseName(items[i].name(), collection, absl::StrCat(list_name, "[", i, "].name"))
            .status();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}


}  // namespace sanhak::crud

#endif  // SANHAK_COMMON_CRUD_H_
