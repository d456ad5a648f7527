// A small file an operator edits while the server runs (a key set, a policy), read again
// when it changes. Whoever holds one asks Poll() on its own schedule (at most once per
// check interval it looks at the file's inode, size and modification time); a change
// hands back the new contents. A file that cannot be read keeps what was read before:
// an edit in progress never takes a server's keys or policy away.
#ifndef SANHAK_COMMON_AUTH_WATCHED_FILE_H_
#define SANHAK_COMMON_AUTH_WATCHED_FILE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sanhak::auth {

// Largest file read: key sets and policies are a few KiB.
inline constexpr int64_t kMaxWatchedFileBytes = 1 << 20;

// The whole of `path`, refused beyond kMaxWatchedFileBytes.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

class WatchedFile {
 public:
  WatchedFile(std::string path, absl::Duration check_interval)
      : path_(std::move(path)), check_interval_(check_interval) {}

  const std::string& path() const { return path_; }

  // The file's contents when it is new since the last call that returned some (the
  // first call always reads), nullopt when unchanged or not yet due for a look, an error
  // when it changed but cannot be read.
  absl::StatusOr<std::optional<std::string>> Poll(absl::Time now = absl::Now());

 private:
  struct Stamp {
    uint64_t inode = 0;
    int64_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const Stamp& o) const {
      return inode == o.inode && size == o.size && mtime_ns == o.mtime_ns;
    }
  };

  const std::string path_;
  const absl::Duration check_interval_;
  absl::Mutex mu_;
  absl::Time last_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::optional<Stamp> read_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sanhak::auth

#endif  // SANHAK_COMMON_AUTH_WATCHED_FILE_H_
