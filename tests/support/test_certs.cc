#include "tests/support/test_certs.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sanhak::testing {
namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

// OpenSSL's error queue, emptied, as one status.
absl::Status OpenSslError(absl::string_view what) {
  std::string detail;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    absl::StrAppend(&detail, detail.empty() ? "" : "; ", buffer);
  }
  return absl::InternalError(absl::StrCat(what, ": ", detail));
}

absl::StatusOr<KeyPtr> NewP256Key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("EC P-256 key");
  return key;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("PEM certificate");
  }
  return BioText(bio.get());
}

absl::StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM key");
  }
  return BioText(bio.get());
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status SetName(X509* cert, const std::string& common_name, bool subject) {
  X509_NAME* name = subject ? X509_get_subject_name(cert) : X509_get_issuer_name(cert);
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("sanhak tests"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 -1, -1, 0) != 1) {
    return OpenSslError("X509 name");
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_nconf_nid(nullptr, &context, nid, value.c_str());
  if (extension == nullptr) return OpenSslError(absl::StrCat("extension ", value));
  int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) return OpenSslError(absl::StrCat("extension ", value));
  return absl::OkStatus();
}

// A random positive 64-bit serial (RFC 5280 wants them unique per issuer).
absl::Status SetRandomSerial(X509* cert) {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return OpenSslError("serial");
  bytes[0] = (bytes[0] & 0x7f) | 0x10;  // positive, and no leading zero byte
  BIGNUM* number = BN_bin2bn(bytes, sizeof bytes, nullptr);
  bool ok = number != nullptr && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert));
  BN_free(number);
  if (!ok) return OpenSslError("serial");
  return absl::OkStatus();
}

std::string SerialHex(X509* cert) {
  BIGNUM* number = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  char* hex = number != nullptr ? BN_bn2hex(number) : nullptr;
  std::string text = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(number);
  return text;
}

absl::Status SetValidity(X509* cert, absl::Time not_before, absl::Time not_after) {
  if (ASN1_TIME_set(X509_getm_notBefore(cert), absl::ToTimeT(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), absl::ToTimeT(not_after)) == nullptr) {
    return OpenSslError("validity");
  }
  return absl::OkStatus();
}

}  // namespace

struct TestPki::Impl {
  KeyPtr ca_key;
  CertPtr ca_cert;
};

TestPki::TestPki(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TestPki::~TestPki() = default;

absl::StatusOr<std::unique_ptr<TestPki>> TestPki::Create(const std::string& dir,
                                                         const std::string& ca_name,
                                                         const std::string& file_prefix) {
  auto impl = std::make_unique<Impl>();
  absl::StatusOr<KeyPtr> key = NewP256Key();
  if (!key.ok()) return key.status();
  impl->ca_key = *std::move(key);
  impl->ca_cert.reset(X509_new());
  X509* ca = impl->ca_cert.get();
  if (ca == nullptr || X509_set_version(ca, 2) != 1) return OpenSslError("CA");
  absl::Time now = absl::Now();
  for (absl::Status status :
       {SetRandomSerial(ca), SetValidity(ca, now - absl::Hours(24), now + absl::Hours(24 * 30)),
        SetName(ca, ca_name, /*subject=*/true), SetName(ca, ca_name, /*subject=*/false)}) {
    if (!status.ok()) return status;
  }
  if (X509_set_pubkey(ca, impl->ca_key.get()) != 1) return OpenSslError("CA key");
  for (absl::Status status :
       {AddExtension(ca, ca, NID_basic_constraints, "critical,CA:TRUE"),
        AddExtension(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign"),
        AddExtension(ca, ca, NID_subject_key_identifier, "hash")}) {
    if (!status.ok()) return status;
  }
  if (X509_sign(ca, impl->ca_key.get(), EVP_sha256()) == 0) return OpenSslError("CA sign");

  std::unique_ptr<TestPki> pki(new TestPki(std::move(impl)));
  pki->dir_ = dir;
  pki->file_prefix_ = file_prefix;
  pki->ca_path_ = absl::StrCat(dir, "/", file_prefix, "ca.crt");
  absl::StatusOr<std::string> ca_pem = CertPem(ca);
  if (!ca_pem.ok()) return ca_pem.status();
  pki->ca_pem_ = *ca_pem;
  absl::StatusOr<std::string> ca_key_pem = KeyPem(pki->impl_->ca_key.get());
  if (!ca_key_pem.ok()) return ca_key_pem.status();
  if (absl::Status status = WriteFile(pki->ca_path_, pki->ca_pem_); !status.ok()) return status;
  if (absl::Status status =
          WriteFile(absl::StrCat(dir, "/", file_prefix, "ca.key"), *ca_key_pem);
      !status.ok()) {
    return status;
  }
  return pki;
}

absl::StatusOr<TestCert> TestPki::Issue(const CertSpec& spec) {
  absl::StatusOr<KeyPtr> key = NewP256Key();
  if (!key.ok()) return key.status();
  CertPtr cert(X509_new());
  X509* leaf = cert.get();
  X509* ca = impl_->ca_cert.get();
  if (leaf == nullptr || X509_set_version(leaf, 2) != 1) return OpenSslError("certificate");
  absl::Time now = absl::Now();
  absl::Time not_before =
      spec.not_before == absl::InfinitePast() ? now - absl::Hours(1) : spec.not_before;
  absl::Time not_after =
      spec.not_after == absl::InfiniteFuture() ? now + absl::Hours(24) : spec.not_after;
  for (absl::Status status :
       {SetRandomSerial(leaf), SetValidity(leaf, not_before, not_after),
        SetName(leaf, spec.name, /*subject=*/true)}) {
    if (!status.ok()) return status;
  }
  if (X509_set_issuer_name(leaf, X509_get_subject_name(ca)) != 1 ||
      X509_set_pubkey(leaf, key->get()) != 1) {
    return OpenSslError("certificate");
  }
  std::vector<std::string> sans;
  for (const std::string& uri : spec.uri_sans) sans.push_back("URI:" + uri);
  for (const std::string& dns : spec.dns_sans) sans.push_back("DNS:" + dns);
  for (const std::string& ip : spec.ip_sans) sans.push_back("IP:" + ip);
  std::vector<std::string> usages;
  if (spec.server_auth) usages.push_back("serverAuth");
  if (spec.client_auth) usages.push_back("clientAuth");
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyAgreement"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  if (!usages.empty()) extensions.push_back({NID_ext_key_usage, absl::StrJoin(usages, ",")});
  if (!sans.empty()) extensions.push_back({NID_subject_alt_name, absl::StrJoin(sans, ",")});
  for (const auto& [nid, value] : extensions) {
    if (absl::Status status = AddExtension(leaf, ca, nid, value); !status.ok()) return status;
  }
  if (X509_sign(leaf, impl_->ca_key.get(), EVP_sha256()) == 0) return OpenSslError("sign");

  TestCert issued;
  absl::StatusOr<std::string> cert_pem = CertPem(leaf);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = KeyPem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  issued.cert_pem = *std::move(cert_pem);
  issued.key_pem = *std::move(key_pem);
  issued.serial_hex = SerialHex(leaf);
  issued.cert_path = absl::StrCat(dir_, "/", file_prefix_, spec.name, ".crt");
  issued.key_path = absl::StrCat(dir_, "/", file_prefix_, spec.name, ".key");
  if (absl::Status status = WriteFile(issued.cert_path, issued.cert_pem); !status.ok()) {
    return status;
  }
  if (absl::Status status = WriteFile(issued.key_path, issued.key_pem); !status.ok()) {
    return status;
  }
  return issued;
}

absl::StatusOr<TestCert> TestPki::IssueService(const std::string& name,
                                               const std::string& uri_san) {
  CertSpec spec;
  spec.name = name;
  if (!uri_san.empty()) spec.uri_sans = {uri_san};
  spec.dns_sans = {"localhost"};
  spec.ip_sans = {"127.0.0.1"};
  return Issue(spec);
}

absl::StatusOr<TestCert> TestPki::IssueClientUri(const std::string& name,
                                                 const std::string& uri_san) {
  CertSpec spec;
  spec.name = name;
  spec.uri_sans = {uri_san};
  spec.server_auth = false;
  return Issue(spec);
}

absl::StatusOr<TestCert> TestPki::IssueClientDns(const std::string& name,
                                                 const std::string& dns_san) {
  CertSpec spec;
  spec.name = name;
  spec.dns_sans = {dns_san};
  spec.server_auth = false;
  return Issue(spec);
}

absl::StatusOr<TestCert> TestPki::IssueExpiredClient(const std::string& name,
                                                     const std::string& uri_san) {
  CertSpec spec;
  spec.name = name;
  spec.uri_sans = {uri_san};
  spec.server_auth = false;
  absl::Time now = absl::Now();
  spec.not_before = now - absl::Hours(48);
  spec.not_after = now - absl::Hours(24);
  return Issue(spec);
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  std::string temp = path + ".tmp-XXXXXX";
  int fd = mkstemp(temp.data());
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot create ", temp));
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = write(fd, contents.data() + written, contents.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  bool ok = written == contents.size() && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

absl::Status CertDir::Install(const TestCert& cert) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::create_directories(dir_, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", dir_));
  const std::string data_link = dir_ + "/..data";
  std::string previous;
  if (fs::is_symlink(data_link, error)) previous = fs::read_symlink(data_link, error).string();

  const std::string version = absl::StrCat("..v", ++version_, "-", getpid());
  const std::string version_dir = dir_ + "/" + version;
  fs::remove_all(version_dir, error);
  fs::create_directory(version_dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", version_dir));
  if (absl::Status status = WriteFile(version_dir + "/tls.crt", cert.cert_pem); !status.ok()) {
    return status;
  }
  if (absl::Status status = WriteFile(version_dir + "/tls.key", cert.key_pem); !status.ok()) {
    return status;
  }
  // The new "..data" is made beside it and renamed over the old one: one atomic step.
  const std::string temp_link = dir_ + "/..data_tmp";
  fs::remove(temp_link, error);
  fs::create_directory_symlink(version, temp_link, error);
  if (error || std::rename(temp_link.c_str(), data_link.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot swap ", data_link));
  }
  for (const char* file : {"tls.crt", "tls.key"}) {
    const std::string link = dir_ + "/" + file;
    if (!fs::is_symlink(link, error)) {
      fs::remove(link, error);
      fs::create_symlink(std::string("..data/") + file, link, error);
      if (error) return absl::InternalError(absl::StrCat("cannot link ", link));
    }
  }
  if (!previous.empty() && previous != version) fs::remove_all(dir_ + "/" + previous, error);
  return absl::OkStatus();
}

}  // namespace sanhak::testing
