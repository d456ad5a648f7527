// sanhakctl's view of the suite: where each service listens, a deadline on every call,
// and the resource kinds it knows (councils ... outcomes) described by their gRPC methods,
// so get/list/create/update/delete run one generic code path over protobuf reflection.
#ifndef SANHAK_TOOLS_SANHAKCTL_CLIENT_H_
#define SANHAK_TOOLS_SANHAKCTL_CLIENT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/tls.h"
#include "common/trace_context.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"

namespace sanhak::ctl {

enum class Service { kRegistry, kEvents, kAnalytics };

std::string ServiceName(Service service);

// Addresses and the per-call deadline.
struct Targets {
  std::string registry = "127.0.0.1:50051";
  std::string events = "127.0.0.1:50052";
  std::string analytics = "127.0.0.1:50053";
  absl::Duration timeout = absl::Seconds(10);
  // How the channels are secured: ca (verifies the services' certificates) and, for
  // mutual TLS, cert and key (this caller's identity). With none given the channels are
  // plaintext (a development suite on loopback; a TLS server refuses them). nullopt:
  // from the --ca, --cert and --key flags (env SANHAK_CA, SANHAK_CERT, SANHAK_KEY).
  std::optional<TlsFiles> tls;
  // A bearer token (JWT) sent on every call as `authorization: Bearer ...`, for people
  // without a client certificate. Needs TLS (gRPC never sends it in plaintext).
  std::string token;
};

// The token in `path` (surrounding whitespace dropped): INVALID_ARGUMENT naming the file
// when it cannot be read, is empty or larger than 8 KiB (the servers' bound).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// TlsFiles from the --ca, --cert and --key flags.
TlsFiles TlsFilesFromFlags();

// One resource kind as the services expose it.
struct Kind {
  // Singular, as in `get council` and the import files' "kind".
  std::string name;
  // The name prefix, e.g. "councils" (`councils/{id}`).
  std::string collection;
  Service service;
  // Method stems: Get{singular}, List{plural}, Create{singular}, ...
  std::string singular;
  std::string plural;
  // For child resources: the parent's collection ("councils" for memberships).
  std::string parent_collection;
  // False for reference data (fields, regions, reported figures): Get and List only.
  bool writable = true;
  // Table columns: field paths of the resource ("display_name", "place.city").
  std::vector<std::string> columns;
  // Fields the server sets (etag, times, counts); never sent, never compared.
  std::vector<std::string> output_only;
  // Fields naming another resource, with that resource's kind, e.g. {"complexes",
  // "complex"}; checked by import before anything is written.
  std::vector<std::pair<std::string, std::string>> references;
};

// Every kind, in dependency order (a kind only references kinds before it).
const std::vector<Kind>& Kinds();
// By singular ("council"), plural ("councils") or collection; nullptr when unknown.
const Kind* FindKind(absl::string_view name);

// The resource message of `kind` (e.g. sanhak.registry.v1.Council).
const google::protobuf::Descriptor* ResourceDescriptor(const Kind& kind);
// "Get", "List", "Create", "Update", "Delete" of `kind`; nullptr when absent.
const google::protobuf::MethodDescriptor* MethodOf(const Kind& kind, absl::string_view verb);

// A full resource name from what a user typed: a full name is checked against the kind;
// a bare id gets the collection ("x" -> "councils/x"); for a child kind "parent/child"
// becomes "councils/parent/memberships/child". INVALID_ARGUMENT when it cannot be one.
absl::StatusOr<std::string> ResolveName(const Kind& kind, absl::string_view text);
// The last id of a name ("councils/a/memberships/b" -> "b").
std::string IdOf(absl::string_view name);
// The parent of a child name ("councils/a/memberships/b" -> "councils/a"), or "".
std::string ParentOf(absl::string_view name);

// Calls to the services. Each call gets a fresh deadline of `timeout`.
class Client {
 public:
  explicit Client(Targets targets);

  const Targets& targets() const { return targets_; }
  // Whether the channels use TLS.
  bool tls() const { return !tls_files_.empty(); }
  // OK, or why the TLS files cannot be used (naming --ca, --cert or --key).
  const absl::Status& credentials_status() const { return credentials_error_; }
  std::string Address(Service service) const;
  std::shared_ptr<grpc::Channel> Channel(Service service);
  // A context whose deadline is `timeout` from now, carrying this client's trace.
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  // One trace for every call this client makes (one command), so the services' log
  // lines for a command share its trace_id: the thread's when the client is made under
  // one (RunCommand's), else a new one.
  const TraceContext& trace() const { return trace_; }

  // A unary call by method descriptor; request and response are messages of its types.
  // Fails with INVALID_ARGUMENT, naming the flag, when the TLS files are unusable.
  absl::Status Call(Service service, const google::protobuf::MethodDescriptor* method,
                    const google::protobuf::Message& request,
                    google::protobuf::Message* response);

  // A new, empty request or response message of the method's type.
  static std::unique_ptr<google::protobuf::Message> NewMessage(
      const google::protobuf::Descriptor* type);

  // Get of `kind`; NOT_FOUND passes through.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Get(const Kind& kind,
                                                                 const std::string& name);
  // Every resource of `kind` (all pages, or the first `limit` when limit > 0), with the
  // List request fields in `filters` (field name -> text as a user gives it). `total`
  // (when not null) receives the server's total_size.
  absl::StatusOr<std::vector<std::unique_ptr<google::protobuf::Message>>> List(
      const Kind& kind, const std::map<std::string, std::string>& filters, int limit = 0,
      int* total = nullptr);

 private:
  Targets targets_;
  TlsFiles tls_files_;
  // TLS channel credentials shared by the channels (null when plaintext or unusable),
  // and why they are unusable.
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  absl::Status credentials_error_;
  std::map<Service, std::shared_ptr<grpc::Channel>> channels_;
  TraceContext trace_;
};

// Gives every bare id in a field of `message` (nested messages and lists included) that
// names a top-level resource its collection ("special-purpose-ships" in a council field
// becomes "councils/special-purpose-ships"), as arguments and flags take it, so JSON given
// with --json or -f may use bare ids too. Full names and child kinds are left as they are.
void QualifyBareIds(google::protobuf::Message& message);

// Sets a scalar field of `message` from text: strings as given (a reference field's bare
// id gets its collection), numbers parsed, enums by name (case-insensitive, with or
// without the enum's prefix), bools as true/false. INVALID_ARGUMENT naming the field.
absl::Status SetFieldFromText(google::protobuf::Message& message, absl::string_view field,
                              absl::string_view text);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_CLIENT_H_
