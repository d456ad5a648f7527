#include "common/auth/watched_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sanhak::auth {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::string contents;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    contents.append(buffer, static_cast<size_t>(in.gcount()));
    if (static_cast<int64_t>(contents.size()) > kMaxWatchedFileBytes) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is larger than ", kMaxWatchedFileBytes, " bytes"));
    }
  }
  return contents;
}

absl::StatusOr<std::optional<std::string>> WatchedFile::Poll(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (read_.has_value() && now - last_check_ < check_interval_) return std::nullopt;
  last_check_ = now;
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot stat ", path_, ": ", std::strerror(errno)));
  }
  Stamp stamp;
  stamp.inode = st.st_ino;
  stamp.size = st.st_size;
  stamp.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  if (read_.has_value() && *read_ == stamp) return std::nullopt;
  absl::StatusOr<std::string> contents = ReadSmallFile(path_);
  if (!contents.ok()) return contents.status();
  read_ = stamp;
  return std::optional<std::string>(*std::move(contents));
}

}  // namespace sanhak::auth
