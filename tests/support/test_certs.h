// A test public-key infrastructure made with OpenSSL in a directory of the test's own:
// a certificate authority (EC P-256) and the certificates tests need (servers, clients
// named by a URI or DNS subject alternative name, expired ones), as PEM files. A second
// TestPki is a second, unrelated authority. No GoogleTest here, so bench/ links it too.
#ifndef SANHAK_TESTS_SUPPORT_TEST_CERTS_H_
#define SANHAK_TESTS_SUPPORT_TEST_CERTS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sanhak::testing {

// One issued certificate: its files and their contents.
struct TestCert {
  std::string cert_path;  // PEM certificate (the leaf alone)
  std::string key_path;   // PEM private key (PKCS#8)
  std::string cert_pem;
  std::string key_pem;
  std::string serial_hex;  // upper-case hex, as OpenSSL prints it
};

struct CertSpec {
  // Files are "{dir}/{name}.crt" and "{dir}/{name}.key"; also the subject's CN.
  std::string name;
  std::vector<std::string> uri_sans;  // e.g. "spiffe://sanhak.local/service/registry"
  std::vector<std::string> dns_sans;  // e.g. "localhost"
  std::vector<std::string> ip_sans;   // e.g. "127.0.0.1"
  // Validity; InfinitePast/InfiniteFuture mean "an hour ago" and "in a day".
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfiniteFuture();
  // Extended key usages.
  bool server_auth = true;
  bool client_auth = true;
};

class TestPki {
 public:
  // A new authority whose files live in `dir` (which must exist): "{dir}/ca.crt" and
  // "{dir}/ca.key". `ca_name` is its subject CN; two authorities in one directory need
  // different `file_prefix`es ("{dir}/{file_prefix}ca.crt").
  static absl::StatusOr<std::unique_ptr<TestPki>> Create(
      const std::string& dir, const std::string& ca_name = "sanhak test CA",
      const std::string& file_prefix = "");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // The authority's certificate (PEM), the root both peers verify against.
  const std::string& ca_path() const { return ca_path_; }
  const std::string& ca_pem() const { return ca_pem_; }

  // A certificate signed by this authority, with a fresh key, as `spec` says.
  absl::StatusOr<TestCert> Issue(const CertSpec& spec);

  // A service's certificate: DNS localhost and IP 127.0.0.1 (so clients that dial
  // 127.0.0.1 or localhost verify it), `uri_san` when not empty, usable as server and as
  // client (the services present it both ways).
  absl::StatusOr<TestCert> IssueService(const std::string& name, const std::string& uri_san);
  // A client certificate (clientAuth only) naming the caller by a URI SAN...
  absl::StatusOr<TestCert> IssueClientUri(const std::string& name, const std::string& uri_san);
  // ...or by a DNS SAN.
  absl::StatusOr<TestCert> IssueClientDns(const std::string& name, const std::string& dns_san);
  // A client certificate whose validity ended a day ago (it began two days ago).
  absl::StatusOr<TestCert> IssueExpiredClient(const std::string& name,
                                              const std::string& uri_san);

 private:
  struct Impl;
  explicit TestPki(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  std::string dir_;
  std::string file_prefix_;
  std::string ca_path_;
  std::string ca_pem_;
};

// Writes `contents` to "{path}.tmp-XXXXXX" and renames it over `path`: a reader sees the
// old file or the new one, never half of one.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

// A key and certificate laid out as a Kubernetes Secret volume lays them out:
// "{dir}/tls.crt" and "{dir}/tls.key" are links through "{dir}/..data", itself a link to
// a versioned directory. Install swaps "..data" in one rename, so the pair changes
// together: a reader opening both files between two installs sees one pair, and gRPC's
// file watcher (which compares the files' modification times before and after reading)
// reads again when a swap falls in the middle. Rewriting tls.crt and tls.key one after
// the other instead leaves a moment where the key does not match the certificate.
class CertDir {
 public:
  explicit CertDir(std::string dir) : dir_(std::move(dir)) {}
  std::string cert_path() const { return dir_ + "/tls.crt"; }
  std::string key_path() const { return dir_ + "/tls.key"; }
  // Creates `dir` when missing, writes the pair into a new version, swaps it in, and
  // removes the version it replaced.
  absl::Status Install(const TestCert& cert);

 private:
  std::string dir_;
  int version_ = 0;
};

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_TEST_CERTS_H_
