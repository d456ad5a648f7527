// Transport security for every gRPC port, with gRPC's own TLS credentials: certificates
// and keys come from PEM files that gRPC's FileWatcherCertificateProvider re-reads every
// refresh interval, so a rotated certificate (files replaced) is served to new
// connections without a restart; connections already open keep the certificate they
// were made with until they close (max_connection_age bounds that).
//
// Mutual TLS: a server presents its certificate and verifies a client certificate
// against the CA bundle; a service presents the same certificate as a client when it
// calls another service. Whether a client must present a certificate is the server's
// choice (TlsClientCertificate): it is required unless the server also accepts bearer
// tokens, in which case a certificate is requested and verified when sent, and a caller
// with neither is refused by the authentication before any handler runs.
//
// Rotation: replace the key and certificate together (Kubernetes updates a Secret volume
// by swapping one symlink, which does that). gRPC compares the files' modification times
// before and after reading and reads again when they changed in between, but two files
// renamed one after the other can still be read as a mismatched pair until the next
// refresh.
#ifndef SANHAK_COMMON_TLS_H_
#define SANHAK_COMMON_TLS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"

namespace sanhak {

// PEM files. cert and key: this process's own identity (leaf first, then any
// intermediates). ca: the bundle that verifies the peer's certificate.
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;

  bool empty() const { return cert.empty() && key.empty() && ca.empty(); }
  bool has_identity() const { return !cert.empty() || !key.empty(); }
};

// How often the files are re-read (gRPC's refresh interval, whole seconds, at least 1).
inline constexpr absl::Duration kDefaultTlsRefreshInterval = absl::Seconds(60);

enum class TlsClientCertificate {
  // The handshake fails without a valid client certificate.
  kRequire,
  // Requested, and verified when sent (a bad one fails the handshake); callers without
  // one reach the authentication, which then needs a bearer token.
  kRequestAndVerify,
};

// Checks what a server or a client with an identity needs: cert, key and ca all given,
// readable, parseable, the key matching the certificate, the bundle holding at least one
// certificate. The error names the flag (--tls_cert, --tls_key, --tls_ca) at fault.
absl::Status CheckServerTlsFiles(const TlsFiles& files);
// A client needs the ca; cert and key are optional but go together.
absl::Status CheckClientTlsFiles(const TlsFiles& files);

// A provider watching `files` (identity only when given), re-read every `refresh`.
std::shared_ptr<grpc::experimental::CertificateProviderInterface> WatchTlsFiles(
    const TlsFiles& files, absl::Duration refresh = kDefaultTlsRefreshInterval);

// Server credentials: identity and root certificates from `provider` (which must watch
// all three files).
std::shared_ptr<grpc::ServerCredentials> TlsServerCredentialsFrom(
    std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider,
    TlsClientCertificate client_certificate);

// Channel credentials: the server's certificate verified against the provider's roots
// and its name against the dialled host (a SAN must name it: DNS or IP); the provider's
// identity, when it watches one, presented as the client certificate.
std::shared_ptr<grpc::ChannelCredentials> TlsChannelCredentialsFrom(
    std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider,
    bool present_identity);

// CheckServerTlsFiles/CheckClientTlsFiles, then the credentials above.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFiles(
    const TlsFiles& files, TlsClientCertificate client_certificate,
    absl::Duration refresh = kDefaultTlsRefreshInterval);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFromFiles(
    const TlsFiles& files, absl::Duration refresh = kDefaultTlsRefreshInterval);

// Whether `listen_address` ("host:port", "[v6]:port") names a loopback host: 127.0.0.0/8,
// ::1, or localhost. Wildcards (0.0.0.0, [::], an empty host) are not loopback.
bool IsLoopbackListenAddress(absl::string_view listen_address);

}  // namespace sanhak

#endif  // SANHAK_COMMON_TLS_H_
