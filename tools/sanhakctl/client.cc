#include "tools/sanhakctl/client.h"

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <fstream>
#include <map>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/dynamic_message.h"
#include "grpcpp/generic/generic_stub.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "sanhak/events/v1/events.grpc.pb.h"
#include "sanhak/registry/v1/registry.grpc.pb.h"
#include "common/resource_kind.h"
#include "common/status.h"
#include "tools/sanhakctl/errors.h"

namespace {

std::string FlagDefault(const char* env) {
  const char* value = std::getenv(env);
  return value != nullptr ? value : "";
}

}  // namespace

// Defined beside the client that uses them rather than in main.cc, so every command (and
// the tests, through Targets::tls) builds its channels one way.
ABSL_FLAG(std::string, ca, FlagDefault("SANHAK_CA"),
          "PEM CA bundle verifying the services' certificates; turns on TLS (env SANHAK_CA)");
ABSL_FLAG(std::string, cert, FlagDefault("SANHAK_CERT"),
          "PEM client certificate for mutual TLS, with --key (env SANHAK_CERT)");
ABSL_FLAG(std::string, key, FlagDefault("SANHAK_KEY"),
          "PEM private key of --cert (env SANHAK_KEY)");

namespace sanhak::ctl {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::MethodDescriptor;

std::string ServiceName(Service service) {
  switch (service) {
    case Service::kRegistry:
      return "registry";
    case Service::kEvents:
      return "events";
    case Service::kAnalytics:
      return "analytics";
  }
  return "";
}

namespace {

const google::protobuf::ServiceDescriptor* ServiceDescriptorOf(Service service) {
  switch (service) {
    case Service::kRegistry:
      return registry::v1::Council::descriptor()->file()->FindServiceByName("RegistryService");
    case Service::kEvents:
      return events::v1::Activity::descriptor()->file()->FindServiceByName("EventsService");
    case Service::kAnalytics:
      return analytics::v1::Aggregates::descriptor()->file()->FindServiceByName(
          "AnalyticsService");
  }
  return nullptr;
}

// The table columns of each kind, by its short name: how `get` and `list` lay a kind
// out is the command line's own choice, not part of the kind.
std::vector<std::string> ColumnsOf(absl::string_view name) {
  static const auto* const kColumns =
      new std::map<std::string, std::vector<std::string>, std::less<>>{
          {"field", {"name", "display_name", "english_name", "parent"}},
          {"region", {"name", "display_name", "short_name", "english_name"}},
          {"figure", {"name", "metric", "value", "approximate", "as_of"}},
          {"complex", {"name", "display_name", "region", "kind", "council_count"}},
          {"organization", {"name", "display_name", "kind", "home_complex"}},
          {"council",
           {"name", "display_name", "field", "forum_session", "regions", "membership_count"}},
          {"membership", {"name", "organization", "role", "join_date"}},
          {"activity",
           {"name", "kind", "title", "start_time", "councils", "registration_count"}},
          {"registration", {"name", "organization", "person", "state"}},
          {"outcome",
           {"name", "council", "category", "title", "start_date", "total_budget_krw",
            "deal_amount_krw"}},
      };
  auto it = kColumns->find(name);
  return it == kColumns->end() ? std::vector<std::string>{"name"} : it->second;
}

std::string UpperFirst(absl::string_view text) {
  std::string out(text);
  if (!out.empty()) out[0] = absl::ascii_toupper(out[0]);
  return out;
}

// The kinds the services' protos declare (google.api.resource), as the command line uses
// them: nothing here restates a kind's collection, parent, server-set fields or
// references (common/resource_kind.h reads them from the annotations).
std::vector<Kind> MakeKinds() {
  std::vector<Kind> kinds;
  for (Service service : {Service::kRegistry, Service::kEvents}) {
    const google::protobuf::ServiceDescriptor* methods = ServiceDescriptorOf(service);
    for (const ResourceKind* resource : ResourceKind::DeclaredIn(methods->file())) {
      Kind kind;
      kind.name = resource->id_variable();
      kind.collection = resource->collection();
      kind.service = service;
      kind.singular = UpperFirst(resource->singular());
      kind.plural = UpperFirst(resource->plural());
      kind.parent_collection = resource->parent_collection();
      kind.writable =
          methods->FindMethodByName(absl::StrCat("Create", kind.singular)) != nullptr;
      kind.columns = ColumnsOf(kind.name);
      if (resource->message()->FindFieldByName("etag") != nullptr) {
        kind.output_only.push_back("etag");
      }
      for (const std::string& path : resource->output_only_paths()) {
        kind.output_only.push_back(path);
      }
      for (const ReferenceField& reference : resource->references()) {
        if (reference.kind == nullptr) continue;
        kind.references.emplace_back(reference.path, reference.kind->id_variable());
      }
      kinds.push_back(std::move(kind));
    }
  }
  // Dependency order, for import: a kind after every kind it references, otherwise in
  // the order the protos declare them.
  std::vector<Kind> ordered;
  std::vector<bool> placed(kinds.size(), false);
  while (ordered.size() < kinds.size()) {
    const size_t before = ordered.size();
    for (size_t i = 0; i < kinds.size(); ++i) {
      if (placed[i]) continue;
      const bool ready = std::all_of(
          kinds[i].references.begin(), kinds[i].references.end(), [&](const auto& ref) {
            for (size_t j = 0; j < kinds.size(); ++j) {
              if (kinds[j].name == ref.second) return placed[j] || j == i;
            }
            return true;  // another service's kind, not imported here
          });
      if (!ready) continue;
      placed[i] = true;
      ordered.push_back(kinds[i]);
      break;  // restart, so that declaration order decides among the ready ones
    }
    // A reference cycle would leave kinds unplaced: place the rest as declared.
    if (ordered.size() == before) {
      for (size_t i = 0; i < kinds.size(); ++i) {
        if (!placed[i]) ordered.push_back(kinds[i]);
      }
    }
  }
  return ordered;
}

}  // namespace

const std::vector<Kind>& Kinds() {
  static const auto* const kKinds = new std::vector<Kind>(MakeKinds());
  return *kKinds;
}

const Kind* FindKind(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (const Kind& kind : Kinds()) {
    if (lower == kind.name || lower == absl::AsciiStrToLower(kind.collection) ||
        lower == absl::AsciiStrToLower(kind.plural)) {
      return &kind;
    }
  }
  if (lower == "figures" || lower == "reported_figures") return FindKind("figure");
  return nullptr;
}

const MethodDescriptor* MethodOf(const Kind& kind, absl::string_view verb) {
  const auto* service = ServiceDescriptorOf(kind.service);
  if (service == nullptr) return nullptr;
  const std::string& stem = verb == "List" ? kind.plural : kind.singular;
  return service->FindMethodByName(absl::StrCat(verb, stem));
}

const Descriptor* ResourceDescriptor(const Kind& kind) {
  const MethodDescriptor* get = MethodOf(kind, "Get");
  return get == nullptr ? nullptr : get->output_type();
}

void QualifyBareIds(Message& message) {
  const Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_map()) continue;
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(message, f); ++i) {
          QualifyBareIds(*r->MutableRepeatedMessage(&message, f, i));
        }
      } else {
        QualifyBareIds(*r->MutableMessage(&message, f));
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) continue;
    const ResourceKind* named = ResourceKind::NamedBy(f);
    if (named == nullptr || named->collection().empty() ||
        !named->parent_collection().empty()) {
      continue;
    }
    auto qualified = [&](const std::string& value) {
      return value.empty() || absl::StrContains(value, '/')
                 ? value
                 : absl::StrCat(named->collection(), "/", value);
    };
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(message, f); ++i) {
        r->SetRepeatedString(&message, f, i, qualified(r->GetRepeatedString(message, f, i)));
      }
    } else {
      r->SetString(&message, f, qualified(r->GetString(message, f)));
    }
  }
}

absl::StatusOr<std::string> ResolveName(const Kind& kind, absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a ", kind.name,
                                                   " name: ", why));
  };
  if (text.empty()) return bad("empty");
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  for (const auto& p : parts) {
    if (p.empty()) return bad("empty segment");
  }
  if (kind.parent_collection.empty()) {
    if (parts.size() == 1) return absl::StrCat(kind.collection, "/", text);
    if (parts.size() == 2 && parts[0] == kind.collection) return std::string(text);
    return bad(absl::StrCat("expected ", kind.collection, "/{id} or a bare id"));
  }
  if (parts.size() == 2) {
    return absl::StrCat(kind.parent_collection, "/", parts[0], "/", kind.collection, "/",
                        parts[1]);
  }
  if (parts.size() == 4 && parts[0] == kind.parent_collection && parts[2] == kind.collection) {
    return std::string(text);
  }
  return bad(absl::StrCat("expected ", kind.parent_collection, "/{id}/", kind.collection,
                          "/{id} or PARENT/ID"));
}

std::string IdOf(absl::string_view name) {
  const size_t slash = name.rfind('/');
  return std::string(slash == absl::string_view::npos ? name : name.substr(slash + 1));
}

std::string ParentOf(absl::string_view name) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() < 4) return "";
  return absl::StrCat(parts[0], "/", parts[1]);
}

TlsFiles TlsFilesFromFlags() {
  TlsFiles files;
  files.ca = absl::GetFlag(FLAGS_ca);
  files.cert = absl::GetFlag(FLAGS_cert);
  files.key = absl::GetFlag(FLAGS_key);
  return files;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  constexpr size_t kMaxTokenBytes = 8 * 1024;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token_file ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::string token(kMaxTokenBytes + 2, '\0');
  in.read(token.data(), static_cast<std::streamsize>(token.size()));
  token.resize(static_cast<size_t>(in.gcount()));
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.empty() || token.size() > kMaxTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token_file ", path, ": ",
                     token.empty() ? "empty" : "larger than 8 KiB, the servers' bound"));
  }
  return token;
}

Client::Client(Targets targets)
    : targets_(std::move(targets)),
      trace_(CurrentTrace() != nullptr ? *CurrentTrace() : TraceContext::NewRoot()) {
  tls_files_ = targets_.tls.has_value() ? *targets_.tls : TlsFilesFromFlags();
  if (tls_files_.empty()) {
    if (!targets_.token.empty()) {
      credentials_error_ = absl::InvalidArgumentError(
          "a bearer token is sent only over TLS: give --ca (the CA that verifies the "
          "services) with --token_file");
    }
    return;
  }
  // A person's files are read once: sanhakctl runs for seconds, or as a watch that
  // reconnects with the files as they are then (refresh once a minute).
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentialsFromFiles(tls_files_);
  if (credentials.ok()) {
    credentials_ = *std::move(credentials);
    if (!targets_.token.empty()) {
      // A token caller has no certificate: the server takes the token as its identity
      // and refuses a call that carries both (one identity per call).
      if (tls_files_.has_identity()) {
        credentials_error_ = absl::InvalidArgumentError(
            "give either a client certificate (--cert, --key) or a token (--token_file), "
            "not both: a call has one identity");
        return;
      }
      credentials_ = grpc::CompositeChannelCredentials(
          credentials_, grpc::AccessTokenCredentials(targets_.token));
    }
  } else {
    // The flags are sanhakctl's --ca, --cert, --key, not the services' --tls_*.
    std::string message(credentials.status().message());
    for (auto [from, to] : {std::pair<const char*, const char*>{"--tls_ca", "--ca"},
                            {"--tls_cert", "--cert"},
                            {"--tls_key", "--key"}}) {
      for (size_t at = message.find(from); at != std::string::npos; at = message.find(from)) {
        message.replace(at, std::strlen(from), to);
      }
    }
    credentials_error_ = absl::InvalidArgumentError(message);
  }
}

std::string Client::Address(Service service) const {
  switch (service) {
    case Service::kRegistry:
      return targets_.registry;
    case Service::kEvents:
      return targets_.events;
    case Service::kAnalytics:
      return targets_.analytics;
  }
  return "";
}

std::shared_ptr<grpc::Channel> Client::Channel(Service service) {
  auto& channel = channels_[service];
  if (channel == nullptr) {
    grpc::ChannelArguments args;
    // Fail fast when a service is down instead of waiting out the whole deadline in
    // reconnect backoff: a second attempt comes quickly.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetMaxReceiveMessageSize(64 << 20);
    if (!credentials_error_.ok()) {
      // Unusable TLS files fail every Call before it is sent; a caller that took the
      // channel itself gets one that reaches nothing (UNAVAILABLE), never plaintext.
      channel = grpc::CreateCustomChannel("unix:/nonexistent/sanhakctl-unusable-tls-files",
                                          grpc::InsecureChannelCredentials(), args);
    } else {
      channel = grpc::CreateCustomChannel(
          Address(service),
          credentials_ != nullptr ? credentials_ : grpc::InsecureChannelCredentials(), args);
    }
  }
  return channel;
}

std::unique_ptr<grpc::ClientContext> Client::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + targets_.timeout));
  AddTraceHeaders(trace_, context.get());
  return context;
}

std::unique_ptr<Message> Client::NewMessage(const Descriptor* type) {
  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type);
  return std::unique_ptr<Message>(prototype->New());
}

absl::Status Client::Call(Service service, const MethodDescriptor* method,
                          const Message& request, Message* response) {
  if (!credentials_error_.ok()) return credentials_error_;
  std::string bytes;
  if (!request.SerializeToString(&bytes)) return absl::InternalError("request does not serialize");
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::GenericStub stub(Channel(service));
  auto context = NewContext();
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(context.get(),
                 absl::StrCat("/", method->service()->full_name(), "/", method->name()),
                 grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) {
    absl::Status out = FromGrpcStatus(status);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      // Say which service, since one command may talk to several.
      absl::Status annotated(out.code(), absl::StrCat(ServiceName(service), " at ",
                                                      Address(service), ": ", out.message()));
      out.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
        annotated.SetPayload(url, payload);
      });
      return annotated;
    }
    return out;
  }
  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return absl::InternalError("response unreadable");
  std::string data;
  for (const auto& s : slices) data.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!response->ParseFromString(data)) return absl::InternalError("response does not parse");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Message>> Client::Get(const Kind& kind, const std::string& name) {
  const MethodDescriptor* method = MethodOf(kind, "Get");
  auto request = NewMessage(method->input_type());
  if (absl::Status s = SetFieldFromText(*request, "name", name); !s.ok()) return s;
  auto response = NewMessage(method->output_type());
  if (absl::Status s = Call(kind.service, method, *request, response.get()); !s.ok()) return s;
  return response;
}

absl::StatusOr<std::vector<std::unique_ptr<Message>>> Client::List(
    const Kind& kind, const std::map<std::string, std::string>& filters, int limit,
    int* total) {
  const MethodDescriptor* method = MethodOf(kind, "List");
  auto request = NewMessage(method->input_type());
  const Descriptor* in = method->input_type();
  if (!kind.parent_collection.empty() && filters.count("parent") == 0) {
    SetFieldFromText(*request, "parent", absl::StrCat(kind.parent_collection, "/-"));
  }
  for (const auto& [field, value] : filters) {
    if (in->FindFieldByName(field) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("list ", kind.plural, " has no filter --", field));
    }
    if (field == "parent" && !absl::StrContains(value, '/')) {
      SetFieldFromText(*request, "parent", absl::StrCat(kind.parent_collection, "/", value));
      continue;
    }
    if (absl::Status s = SetFieldFromText(*request, field, value); !s.ok()) return s;
  }
  const FieldDescriptor* items = nullptr;
  for (int i = 0; i < method->output_type()->field_count(); ++i) {
    const FieldDescriptor* f = method->output_type()->field(i);
    if (f->is_repeated() && f->type() == FieldDescriptor::TYPE_MESSAGE) items = f;
  }
  std::vector<std::unique_ptr<Message>> out;
  std::string token;
  const int page = limit > 0 && limit < 1000 ? limit : 1000;
  SetFieldFromText(*request, "page_size", absl::StrCat(page));
  while (true) {
    SetFieldFromText(*request, "page_token", token);
    auto response = NewMessage(method->output_type());
    if (absl::Status s = Call(kind.service, method, *request, response.get()); !s.ok()) return s;
    const auto* r = response->GetReflection();
    if (total != nullptr) {
      *total = r->GetInt32(*response, response->GetDescriptor()->FindFieldByName("total_size"));
    }
    const int n = r->FieldSize(*response, items);
    for (int i = 0; i < n; ++i) {
      if (limit > 0 && static_cast<int>(out.size()) >= limit) return out;
      auto item = NewMessage(items->message_type());
      item->CopyFrom(r->GetRepeatedMessage(*response, items, i));
      out.push_back(std::move(item));
    }
    token = r->GetString(*response, response->GetDescriptor()->FindFieldByName("next_page_token"));
    if (token.empty() || (limit > 0 && static_cast<int>(out.size()) >= limit)) return out;
  }
}

absl::Status SetFieldFromText(Message& message, absl::string_view field_name,
                              absl::string_view text) {
  const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(std::string(field_name));
  if (field == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no field ", field_name, " in ",
                                                   message.GetDescriptor()->name()));
  }
  const auto* r = message.GetReflection();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", field_name, "=", text, ": ", what));
  };
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value(text);
      // A bare id in a field that names a resource gets that kind's collection.
      const ResourceKind* named = ResourceKind::NamedBy(field);
      const std::string collection = named == nullptr ? "" : named->collection();
      if (!collection.empty() && !value.empty() && !absl::StrContains(value, '/')) {
        value = absl::StrCat(collection, "/", value);
      }
      r->SetString(&message, field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("not an integer");
      r->SetInt32(&message, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("not an integer");
      r->SetInt64(&message, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!absl::SimpleAtob(text, &v)) return bad("not true or false");
      r->SetBool(&message, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* type = field->enum_type();
      const std::string upper = absl::AsciiStrToUpper(text);
      for (int i = 0; i < type->value_count(); ++i) {
        const auto* value = type->value(i);
        if (value->name() == upper || absl::EndsWith(value->name(), "_" + upper)) {
          r->SetEnum(&message, field, value);
          return absl::OkStatus();
        }
      }
      std::string names;
      for (int i = 1; i < type->value_count(); ++i) {
        absl::StrAppend(&names, i > 1 ? ", " : "", type->value(i)->name());
      }
      return bad(absl::StrCat("expected one of ", names));
    }
    default:
      return bad("cannot be set from text");
  }
}

}  // namespace sanhak::ctl
