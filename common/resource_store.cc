#include "common/resource_store.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/validation.h"

namespace sanhak::store {

absl::StatusOr<std::vector<int64_t>> ReadView::CountEach(
    absl::string_view collection, absl::string_view key, const std::vector<std::string>& values,
    const std::vector<IndexEntry>& all_of) {
  std::vector<int64_t> counts;
  counts.reserve(values.size());
  // The per-value entry first: the most selective, and the one an engine looks up first.
  std::vector<IndexEntry> filter = {{std::string(key), ""}};
  filter.insert(filter.end(), all_of.begin(), all_of.end());
  for (const std::string& value : values) {
    filter.front().value = value;
    absl::StatusOr<int64_t> n = Count(collection, filter);
    if (!n.ok()) return n.status();
    counts.push_back(*n);
  }
  return counts;
}

absl::Status CheckStorableText(absl::string_view name, absl::string_view collection,
                               absl::string_view type, const std::vector<IndexEntry>& index,
                               absl::string_view search_text) {
  auto check = [](absl::string_view what, absl::string_view text) -> absl::Status {
    if (text.find('\0') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("the ", what, " holds a NUL byte"));
    }
    if (!IsValidUtf8(text)) {
      return absl::InvalidArgumentError(absl::StrCat("the ", what, " is not valid UTF-8"));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = check("resource name", name); !s.ok()) return s;
  if (absl::Status s = check("collection", collection); !s.ok()) return s;
  if (absl::Status s = check("type", type); !s.ok()) return s;
  for (const IndexEntry& e : index) {
    if (absl::Status s = check("index key", e.key); !s.ok()) return s;
    if (absl::Status s = check(absl::StrCat("index value of ", e.key), e.value); !s.ok()) {
      return s;
    }
  }
  return check("search text", search_text);
}

absl::Status ResourceStore::Write(absl::FunctionRef<absl::Status(WriteTransaction&)> fn) {
  absl::Status result;
  absl::Notification done;
  // `fn` lives on this frame, which stays until `done` is notified: the write runs and
  // completes before this returns.
  WriteAsync([fn](WriteTransaction& tx) { return fn(tx); },
             [&](absl::Status status) {
               result = std::move(status);
               done.Notify();
             });
  done.WaitForNotification();
  return result;
}

}  // namespace sanhak::store
