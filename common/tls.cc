#include "common/tls.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace sanhak {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct CertDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

absl::Status Problem(absl::string_view flag, const std::string& path,
                     absl::string_view what) {
  ERR_clear_error();
  return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": ", what));
}

std::unique_ptr<BIO, BioDeleter> OpenFile(const std::string& path) {
  return std::unique_ptr<BIO, BioDeleter>(BIO_new_file(path.c_str(), "r"));
}

// The first certificate in `path` (the leaf), after counting how many there are.
absl::StatusOr<std::unique_ptr<X509, CertDeleter>> ReadCertificates(
    absl::string_view flag, const std::string& path, int* count) {
  auto bio = OpenFile(path);
  if (bio == nullptr) return Problem(flag, path, "cannot be read");
  std::unique_ptr<X509, CertDeleter> first;
  *count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (first == nullptr) {
      first.reset(cert);
    } else {
      X509_free(cert);
    }
    ++*count;
  }
  ERR_clear_error();  // the read that ended the loop
  if (first == nullptr) return Problem(flag, path, "holds no PEM certificate");
  return first;
}

absl::Status CheckIdentity(const TlsFiles& files) {
  if (files.cert.empty()) return absl::InvalidArgumentError("--tls_key needs --tls_cert");
  if (files.key.empty()) return absl::InvalidArgumentError("--tls_cert needs --tls_key");
  int count = 0;
  auto cert = ReadCertificates("--tls_cert", files.cert, &count);
  if (!cert.ok()) return cert.status();
  auto bio = OpenFile(files.key);
  if (bio == nullptr) return Problem("--tls_key", files.key, "cannot be read");
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return Problem("--tls_key", files.key, "holds no PEM private key");
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return Problem("--tls_key", files.key,
                   absl::StrCat("does not match the certificate in ", files.cert));
  }
  return absl::OkStatus();
}

absl::Status CheckCa(const TlsFiles& files) {
  if (files.ca.empty()) {
    return absl::InvalidArgumentError(
        "--tls_ca is needed: the CA bundle that verifies the peer's certificate");
  }
  int count = 0;
  auto first = ReadCertificates("--tls_ca", files.ca, &count);
  return first.status();
}

unsigned RefreshSeconds(absl::Duration refresh) {
  int64_t seconds = absl::ToInt64Seconds(refresh);
  return static_cast<unsigned>(std::clamp<int64_t>(seconds, 1, 24 * 3600));
}

}  // namespace

absl::Status CheckServerTlsFiles(const TlsFiles& files) {
  if (absl::Status status = CheckIdentity(files); !status.ok()) return status;
  return CheckCa(files);
}

absl::Status CheckClientTlsFiles(const TlsFiles& files) {
  if (absl::Status status = CheckCa(files); !status.ok()) return status;
  if (!files.has_identity()) return absl::OkStatus();
  return CheckIdentity(files);
}

std::shared_ptr<grpc::experimental::CertificateProviderInterface> WatchTlsFiles(
    const TlsFiles& files, absl::Duration refresh) {
  if (files.has_identity()) {
    return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        files.key, files.cert, files.ca, RefreshSeconds(refresh));
  }
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.ca, RefreshSeconds(refresh));
}

std::shared_ptr<grpc::ServerCredentials> TlsServerCredentialsFrom(
    std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider,
    TlsClientCertificate client_certificate) {
  grpc::experimental::TlsServerCredentialsOptions options(std::move(provider));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(client_certificate == TlsClientCertificate::kRequire
                                    ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                    : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> TlsChannelCredentialsFrom(
    std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider,
    bool present_identity) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(std::move(provider));
  options.watch_root_certs();
  if (present_identity) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  // Named explicitly rather than left to the default: the dialled host must be in the
  // server certificate's SANs.
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  return grpc::experimental::TlsCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFiles(
    const TlsFiles& files, TlsClientCertificate client_certificate, absl::Duration refresh) {
  if (absl::Status status = CheckServerTlsFiles(files); !status.ok()) return status;
  return TlsServerCredentialsFrom(WatchTlsFiles(files, refresh), client_certificate);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFromFiles(
    const TlsFiles& files, absl::Duration refresh) {
  if (absl::Status status = CheckClientTlsFiles(files); !status.ok()) return status;
  return TlsChannelCredentialsFrom(WatchTlsFiles(files, refresh), files.has_identity());
}

bool IsLoopbackListenAddress(absl::string_view listen_address) {
  absl::string_view host = listen_address;
  if (absl::ConsumePrefix(&host, "[")) {
    size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    host = host.substr(0, close);
  } else {
    size_t colon = host.rfind(':');
    if (colon != absl::string_view::npos) host = host.substr(0, colon);
  }
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  std::string text(host);
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

}  // namespace sanhak
