#include "common/page_token.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <cerrno>
#include <cstring>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sanhak {
namespace {

// A token's first byte; a new format gets a new one, so old tokens are refused cleanly.
constexpr char kTokenVersion = '2';
constexpr size_t kMacBytes = 16;

// Installed at start (and by tests); read by every List. Readers copy the pointer under
// the lock, so replacing the key never frees one a reader is using.
ABSL_CONST_INIT absl::Mutex key_mu(absl::kConstInit);
std::shared_ptr<const std::string>* installed_key ABSL_GUARDED_BY(key_mu) = nullptr;

std::shared_ptr<const std::string> Key() {
  absl::MutexLock lock(&key_mu);
  if (installed_key == nullptr) {
    // No key installed (a test, a tool): a random one, valid for this process only.
    std::string random(kPageTokenKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(random.data()),
                   static_cast<int>(random.size())) != 1) {
      // Without randomness a token is only as good as its fingerprint; never silently.
      std::abort();
    }
    installed_key = new std::shared_ptr<const std::string>(
        std::make_shared<const std::string>(std::move(random)));
  }
  return *installed_key;
}

std::string Mac(absl::string_view after_name, absl::string_view fingerprint) {
  // Length-prefixed parts, so no two (fingerprint, name) pairs sign the same bytes.
  std::string message = absl::StrCat("sanhak page token ", std::string(1, kTokenVersion),
                                     "\n", fingerprint.size(), ":", fingerprint,
                                     after_name.size(), ":", after_name);
  const std::shared_ptr<const std::string> key = Key();
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
       &mac_len);
  return std::string(reinterpret_cast<const char*>(mac), kMacBytes);
}

absl::Status NotIssued() {
  return InvalidField("page_token",
                      "is not a token this service issued for this request (filters, query or "
                      "order differ, or it was altered); start again without it");
}

}  // namespace

void SetPageTokenKey(std::string key) {
  auto shared = std::make_shared<const std::string>(std::move(key));
  absl::MutexLock lock(&key_mu);
  if (installed_key == nullptr) {
    // One holder for the process's life (a global's destructor could run while a
    // detached thread still lists).
    installed_key = new std::shared_ptr<const std::string>(std::move(shared));
  } else {
    *installed_key = std::move(shared);
  }
}

absl::Status InstallPageTokenKeyFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    std::string key(kPageTokenKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()),
                   static_cast<int>(key.size())) != 1) {
      return absl::InternalError("no randomness for a page token key");
    }
    // Written whole to a file of this process's own, then linked into place: link()
    // creates `path` only if it is absent, so of processes creating it at once (replicas
    // starting together) exactly one's key lands, and none ever reads a partial file.
    static std::atomic<int> attempts{0};
    const std::string temporary =
        absl::StrCat(path, ".tmp-", getpid(), "-", attempts.fetch_add(1));
    int out = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create page token key ", path, ": ", std::strerror(errno)));
    }
    const bool written =
        write(out, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && fsync(out) == 0;
    close(out);
    const int linked = written ? link(temporary.c_str(), path.c_str()) : -1;
    const int link_errno = errno;
    unlink(temporary.c_str());
    if (!written) return absl::InternalError(absl::StrCat("cannot write page token key ", path));
    if (linked != 0 && link_errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create page token key ", path, ": ", std::strerror(link_errno)));
    }
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read page token key ", path, ": ", std::strerror(errno)));
  }
  std::string key(256, '\0');
  ssize_t n = read(fd, key.data(), key.size());
  close(fd);
  if (n < static_cast<ssize_t>(kPageTokenKeyBytes)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "page token key ", path, " holds fewer than ", kPageTokenKeyBytes, " bytes"));
  }
  key.resize(static_cast<size_t>(n));
  SetPageTokenKey(std::move(key));
  return absl::OkStatus();
}

std::string EncodePageToken(absl::string_view after_name, absl::string_view fingerprint) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(std::string(1, kTokenVersion), Mac(after_name, fingerprint), after_name));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token,
                                            absl::string_view fingerprint) {
  if (token.empty()) return std::string();
  if (token.size() > kMaxPageTokenChars) {
    return InvalidField("page_token",
                        absl::StrCat("is longer than ", kMaxPageTokenChars,
                                     " characters; no token this service issues is"));
  }
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() < 1 + kMacBytes ||
      raw[0] != kTokenVersion) {
    return NotIssued();
  }
  absl::string_view mac = absl::string_view(raw).substr(1, kMacBytes);
  absl::string_view after_name = absl::string_view(raw).substr(1 + kMacBytes);
  std::string expected = Mac(after_name, fingerprint);
  if (CRYPTO_memcmp(expected.data(), mac.data(), kMacBytes) != 0) return NotIssued();
  return std::string(after_name);
}

}  // namespace sanhak
