#include "common/parsed_call.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/auth/method_roles.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace sanhak {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

// How deep UnreadableRequest follows nested messages looking for the field at fault:
// protobuf's own default recursion limit.
constexpr int kMaxDepth = 100;

// Whether `s` is UTF-8 as protobuf requires of a proto3 string: no overlong forms, no
// surrogates, nothing above U+10FFFF.
bool IsUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int length;
    uint32_t lowest;
    uint32_t code;
    if ((c & 0xe0) == 0xc0) {
      length = 2, lowest = 0x80, code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3, lowest = 0x800, code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4, lowest = 0x10000, code = c & 0x07;
    } else {
      return false;
    }
    if (i + length > s.size()) return false;
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < lowest || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

enum class Scan { kClean, kNotUtf8, kCorrupt };

// Reads the message of `type` in `in` (up to its limit) looking for a string field that
// is not UTF-8; on kNotUtf8, `path` names it ("council.display_name").
Scan FindNonUtf8(CodedInputStream* in, const Descriptor& type, int depth, std::string* path) {
  if (depth > kMaxDepth) return Scan::kCorrupt;
  while (true) {
    const uint32_t tag = in->ReadTag();
    if (tag == 0) return in->ConsumedEntireMessage() ? Scan::kClean : Scan::kCorrupt;
    const FieldDescriptor* field = type.FindFieldByNumber(static_cast<int>(tag >> 3));
    const bool delimited =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    // Protobuf checks UTF-8 only in proto3 files.
    const bool text = field != nullptr && field->type() == FieldDescriptor::TYPE_STRING &&
                      field->file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3;
    const bool nested = field != nullptr && field->type() == FieldDescriptor::TYPE_MESSAGE;
    if (!delimited || !(text || nested)) {
      if (!WireFormatLite::SkipField(in, tag)) return Scan::kCorrupt;
      continue;
    }
    uint32_t length;
    if (!in->ReadVarint32(&length)) return Scan::kCorrupt;
    if (text) {
      std::string value;
      if (!in->ReadString(&value, static_cast<int>(length))) return Scan::kCorrupt;
      if (!IsUtf8(value)) {
        *path = field->name();
        return Scan::kNotUtf8;
      }
      continue;
    }
    if (in->BytesUntilLimit() >= 0 && length > static_cast<uint32_t>(in->BytesUntilLimit())) {
      return Scan::kCorrupt;
    }
    const CodedInputStream::Limit limit = in->PushLimit(static_cast<int>(length));
    std::string inner;
    const Scan scan = FindNonUtf8(in, *field->message_type(), depth + 1, &inner);
    if (scan == Scan::kNotUtf8) {
      *path = absl::StrCat(field->name(), ".", inner);
      return scan;
    }
    if (scan == Scan::kCorrupt || !in->ConsumedEntireMessage()) return Scan::kCorrupt;
    in->PopLimit(limit);
  }
}

}  // namespace

TraceContext StartCallTrace(grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto header = [&metadata](absl::string_view key) -> absl::string_view {
    auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
    return it == metadata.end() ? absl::string_view()
                                : absl::string_view(it->second.data(), it->second.size());
  };
  TraceContext trace = TraceContext::ForIncoming(
      header(kTraceparentHeader), header(kTracestateHeader), header(kRequestIdHeader));
  context->AddInitialMetadata(kTraceparentHeader, trace.Traceparent());
  context->AddInitialMetadata(kRequestIdHeader, trace.request_id);
  return trace;
}

bool ParseRequest(grpc::ByteBuffer* bytes, google::protobuf::Message* request) {
  // As gRPC's own SerializationTraits<Message>::Deserialize reads them: straight from the
  // slices, without copying.
  grpc::ProtoBufferReader reader(bytes);
  return reader.status().ok() && request->ParseFromZeroCopyStream(&reader);
}

absl::Status UnreadableRequest(const Descriptor& type, const grpc::ByteBuffer& bytes) {
  // Only a refused request comes here, so the copy costs nothing to a good one; the bytes
  // are within the server's maximum message size.
  std::vector<grpc::Slice> slices;
  std::string flat;
  if (bytes.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) {
      flat.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  CodedInputStream in(reinterpret_cast<const uint8_t*>(flat.data()),
                      static_cast<int>(flat.size()));
  std::string path;
  if (FindNonUtf8(&in, type, 0, &path) == Scan::kNotUtf8) {
    // Field paths are the proto's own names, so they fit the bounds of common/status.h.
    absl::Status status = absl::InvalidArgumentError(
        absl::StrCat("unreadable request: field ", path,
                     " is not valid UTF-8 (a string field must be; send bytes fields for raw "
                     "bytes)"));
    google::rpc::BadRequest bad_request;
    auto* violation = bad_request.add_field_violations();
    violation->set_field(path);
    violation->set_description("is not valid UTF-8");
    status.SetPayload("type.googleapis.com/google.rpc.BadRequest",
                      absl::Cord(bad_request.SerializeAsString()));
    return WithReason(std::move(status), kUnreadableRequest);
  }
  return WithReason(
      absl::InvalidArgumentError(absl::StrCat(
          "unreadable request: ", flat.size(), " bytes that are not a valid ", type.full_name(),
          " (corrupt or truncated protobuf)")),
      kUnreadableRequest);
}

absl::Status CheckMethodRole(const Caller& caller, absl::string_view method) {
  if (auth::RoleAllows(caller.role, method)) return absl::OkStatus();
  const absl::string_view required = RoleName(auth::RequiredRole(method));
  const absl::string_view held = RoleName(caller.role);
  // Names the method, the role it needs and the caller's: never the resource, which the
  // caller may not even be allowed to know exists.
  absl::Status status = absl::PermissionDeniedError(absl::StrCat(
      method, " needs role ", required, "; caller ",
      caller.principal.empty() ? std::string("(unauthenticated)") : QuoteValue(caller.principal),
      " has ", caller.role == Role::kNone ? absl::string_view("no role") : held));
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(kMissingRole));
  info.set_domain(std::string(kErrorDomain));
  (*info.mutable_metadata())["method"] = std::string(method);
  (*info.mutable_metadata())["required_role"] = std::string(required);
  (*info.mutable_metadata())["role"] = std::string(held);
  status.SetPayload("type.googleapis.com/google.rpc.ErrorInfo",
                    absl::Cord(info.SerializeAsString()));
  return status;
}

namespace parsed_internal {

absl::Status CheckCaller(grpc::CallbackServerContext* context, const MethodGate& gate,
                         const google::protobuf::Message& prototype, grpc::ByteBuffer* bytes) {
  const Caller caller = CallerOf(*context);
  absl::Status refused = CheckMethodRole(caller, gate.method);
  if (refused.ok() && gate.writes && *gate.write_rate != nullptr) {
    refused = (*gate.write_rate)->Admit(caller.principal);
  }
  if (refused.ok()) return refused;
  if (gate.hook != nullptr && *gate.hook) {
    std::unique_ptr<google::protobuf::Message> request(prototype.New());
    const bool parsed = ParseRequest(bytes, request.get());
    (*gate.hook)(context, RefusedCall{gate.method, gate.full_method, &caller,
                                      parsed ? request.get() : nullptr, &refused});
  }
  return refused;
}

void NameGate(absl::string_view service_name, int index, const RefusalHook* hook,
              const std::unique_ptr<PerCallerRate>* write_rate, MethodGate* gate) {
  const google::protobuf::MethodDescriptor* method =
      google::protobuf::DescriptorPool::generated_pool()
          ->FindServiceByName(std::string(service_name))
          ->method(index);
  gate->method = method->name();
  gate->full_method = method->full_name();
  gate->hook = hook;
  const Role required = auth::RequiredRole(gate->method);
  gate->writes = required == Role::kEditor || required == Role::kAdmin;
  gate->write_rate = write_rate;
}

std::vector<int> MethodIndexes(absl::string_view service_name,
                               const std::vector<Binding>& bindings) {
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "ParsedService::Serve(%s): %s\n", std::string(service_name).c_str(), why.c_str());
    std::abort();
  };
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          std::string(service_name));
  if (service == nullptr) fail("no such service in the generated descriptor pool");
  std::vector<int> indexes;
  std::vector<bool> bound(static_cast<size_t>(service->method_count()), false);
  for (const Binding& binding : bindings) {
    int found = -1;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor& method = *service->method(i);
      if (method.input_type() != binding.request || method.client_streaming() ||
          method.server_streaming() != binding.server_streaming ||
          (binding.response != nullptr && method.output_type() != binding.response)) {
        continue;
      }
      if (found >= 0) {
        fail(absl::StrCat(binding.request->full_name(), " is the request of two methods"));
      }
      found = i;
    }
    if (found < 0) {
      fail(absl::StrCat("no method takes ", binding.request->full_name(), " as bound"));
    }
    if (bound[static_cast<size_t>(found)]) {
      fail(absl::StrCat(service->method(found)->name(), " is bound twice"));
    }
    bound[static_cast<size_t>(found)] = true;
    indexes.push_back(found);
  }
  for (int i = 0; i < service->method_count(); ++i) {
    if (!bound[static_cast<size_t>(i)]) {
      // Left to gRPC, it would answer unreadable bytes with UNIMPLEMENTED.
      fail(absl::StrCat(service->method(i)->name(), " has no handler"));
    }
  }
  return indexes;
}

}  // namespace parsed_internal
}  // namespace sanhak
