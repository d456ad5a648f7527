// Issue #10, observation 5: a request whose bytes do not parse gets INVALID_ARGUMENT
// ("unreadable request: …") from every method of every sanhak service, nothing is
// written, and the service answers normally afterwards.
//
// The methods are walked from the proto descriptors, not listed here, so an RPC added to
// a service is covered without touching this test. The bytes go through a generic stub
// (raw ByteBuffers) to the real registry, events and analytics servers, in process over
// loopback gRPC (tests/analytics/analytics_fixture.h starts all three, and Redis).
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"
#include "gtest/gtest.h"
#include "tests/analytics/analytics_fixture.h"
#include "tests/support/capture_stderr.h"

namespace sanhak {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

std::unique_ptr<Message> NewMessage(const Descriptor* type) {
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

// `value` as field `field` (length-delimited) on the wire, written by hand so that bytes
// protobuf would refuse to serialize (invalid UTF-8) can be sent.
std::string LengthDelimited(const FieldDescriptor& field, const std::string& value) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteTag((static_cast<uint32_t>(field.number()) << 3) | 2);
    coded.WriteVarint32(static_cast<uint32_t>(value.size()));
    coded.WriteRaw(value.data(), static_cast<int>(value.size()));
  }
  return out;
}

// The path to a string field of `type`: the field itself when `type` has one, else a
// message field leading to one (the shortest such path); empty when there is none.
std::vector<const FieldDescriptor*> StringPath(const Descriptor& type, int depth = 0) {
  for (int i = 0; i < type.field_count(); ++i) {
    if (type.field(i)->type() == FieldDescriptor::TYPE_STRING) return {type.field(i)};
  }
  std::vector<const FieldDescriptor*> shortest;
  if (depth >= 4) return shortest;
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor* field = type.field(i);
    if (field->type() != FieldDescriptor::TYPE_MESSAGE) continue;
    std::vector<const FieldDescriptor*> rest = StringPath(*field->message_type(), depth + 1);
    if (rest.empty() || (!shortest.empty() && rest.size() + 1 >= shortest.size())) continue;
    shortest = {field};
    shortest.insert(shortest.end(), rest.begin(), rest.end());
  }
  return shortest;
}

// `value` as the string at `path`, nested in length-delimited messages.
std::string AtPath(const std::vector<const FieldDescriptor*>& path, std::string value) {
  for (auto it = path.rbegin(); it != path.rend(); ++it) value = LengthDelimited(**it, value);
  return value;
}

std::string PathName(const std::vector<const FieldDescriptor*>& path) {
  std::string out;
  for (const FieldDescriptor* field : path) out += (out.empty() ? "" : ".") + field->name();
  return out;
}

struct Malformed {
  std::string what;
  std::string bytes;
};

// The unreadable requests sent to a method taking `request`: each is checked not to
// parse as `request` here first, so the test cannot pass on bytes the server could read.
std::vector<Malformed> MalformedRequests(const Descriptor& request) {
  std::vector<Malformed> out = {
      // A tag varint longer than ten bytes.
      {"garbage bytes", std::string(16, '\xff')},
      // 'n' (0x6e) is field 13 with wire type 6, which does not exist.
      {"text, not protobuf", "not a protobuf message"},
  };
  const std::vector<const FieldDescriptor*> text = StringPath(request);
  if (!text.empty()) {
    std::string whole = AtPath(text, "councils/special-purpose-ships");
    out.push_back({"a valid " + request.name() + " cut short by one byte",
                   whole.substr(0, whole.size() - 1)});
    // 0xC3 opens a two-byte sequence; 0x28 ('(') cannot continue it.
    out.push_back({"invalid UTF-8 in " + PathName(text), AtPath(text, "councils/\xc3\x28")});
  } else {
    // No string to break (GetNetworkRequest): a number cut short instead, the varint 300
    // (0xAC 0x02) without its last byte.
    const FieldDescriptor* number = request.field_count() > 0 ? request.field(0) : nullptr;
    EXPECT_TRUE(number != nullptr &&
                google::protobuf::internal::WireFormatLite::WireTypeForFieldType(
                    static_cast<google::protobuf::internal::WireFormatLite::FieldType>(
                        number->type())) ==
                    google::protobuf::internal::WireFormatLite::WIRETYPE_VARINT)
        << request.full_name()
        << ": give this test a way to build a truncated request for it";
    if (number != nullptr) {
      std::string bytes(1, static_cast<char>(number->number() << 3));
      bytes += '\xac';
      out.push_back({"a valid " + request.name() + " cut short by one byte", bytes});
    }
  }
  for (const Malformed& m : out) {
    EXPECT_FALSE(NewMessage(&request)->ParseFromString(m.bytes))
        << request.full_name() << " parses " << m.what;
  }
  return out;
}

struct Outcome {
  grpc::Status status;
  int messages = 0;  // responses received
  std::string response;
};

// A server-streaming call through the generic (bidi) stub: one request, then reads to
// the end.
class RawStream : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  RawStream(grpc::GenericStub* stub, const std::string& method, const std::string& bytes)
      : request_(ToBuffer(bytes)) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    stub->PrepareBidiStreamingCall(&context_, method, grpc::StubOptions(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&incoming_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    ++outcome_.messages;
    // Reading on would not end an open watch: one answer is enough to know it was read.
    context_.TryCancel();
  }
  void OnDone(const grpc::Status& status) override {
    outcome_.status = status;
    done_.Notify();
  }
  Outcome Wait() {
    done_.WaitForNotification();
    return outcome_;
  }

 private:
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer incoming_;
  Outcome outcome_;
  absl::Notification done_;
};

Outcome Call(grpc::Channel* channel, const MethodDescriptor& method, const std::string& bytes) {
  grpc::GenericStub stub(channel->shared_from_this());
  const std::string name = "/" + method.service()->full_name() + "/" + method.name();
  if (method.server_streaming()) {
    RawStream stream(&stub, name, bytes);
    return stream.Wait();
  }
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  grpc::ByteBuffer request = ToBuffer(bytes);
  grpc::ByteBuffer response;
  Outcome outcome;
  absl::Notification done;
  stub.UnaryCall(&context, name, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) {
                   outcome.status = std::move(status);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (outcome.status.ok()) {
    outcome.messages = 1;
    outcome.response = FromBuffer(response);
  }
  return outcome;
}

class MalformedRequestsTest : public analytics::AnalyticsFixture {
 protected:
  // The parent that lists every child, by list request type.
  inline static const std::map<std::string, std::string> kAllParents = {
      {"sanhak.registry.v1.ListMembershipsRequest", "councils/-"},
      {"sanhak.events.v1.ListRegistrationsRequest", "activities/-"},
  };

  struct Target {
    const ServiceDescriptor* service;
    std::shared_ptr<grpc::Channel> channel;
  };

  // Every service of the suite's three API files, with a channel to its server.
  std::vector<Target> Targets(const std::string& analytics_address) {
    std::vector<Target> out;
    auto add = [&](const google::protobuf::FileDescriptor* file, const std::string& address) {
      for (int i = 0; i < file->service_count(); ++i) {
        out.push_back({file->service(i), sanhak::testing::Connect(address)});
      }
    };
    add(registry::v1::GetFieldRequest::descriptor()->file(), registry_->address());
    add(events::v1::GetActivityRequest::descriptor()->file(), events_->address());
    add(analytics::v1::GetAggregatesRequest::descriptor()->file(), analytics_address);
    return out;
  }

  // What every List method of `target` answers to an empty request (its next_page_token
  // left out), keyed by method: two equal listings mean nothing was written.
  static std::vector<std::pair<std::string, std::string>> Listings(const Target& target) {
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < target.service->method_count(); ++i) {
      const MethodDescriptor& method = *target.service->method(i);
      if (method.name().rfind("List", 0) != 0) continue;
      // A list of children may need a parent: "councils/-" lists every council's.
      std::string request;
      const FieldDescriptor* parent = method.input_type()->FindFieldByName("parent");
      const auto wildcard = kAllParents.find(method.input_type()->full_name());
      if (parent != nullptr && wildcard != kAllParents.end()) {
        request = LengthDelimited(*parent, wildcard->second);
      }
      Outcome listed = Call(target.channel.get(), method, request);
      EXPECT_TRUE(listed.status.ok())
          << method.full_name() << ": " << listed.status.error_message()
          << " (if it needs a parent, add the one that lists all to kAllParents)";
      std::unique_ptr<Message> response = NewMessage(method.output_type());
      EXPECT_TRUE(response->ParseFromString(listed.response)) << method.full_name();
      if (const FieldDescriptor* token =
              method.output_type()->FindFieldByName("next_page_token")) {
        response->GetReflection()->ClearField(response.get(), token);
      }
      out.emplace_back(method.full_name(), response->DebugString());
    }
    return out;
  }
};

TEST_F(MalformedRequestsTest, EveryMethodOfEveryServiceAnswersUnreadableBytesWithInvalidArgument) {
  analytics::AnalyticsServer* server = StartAnalytics();
  ASSERT_NE(server, nullptr);
  std::vector<Target> targets = Targets(server->address());
  ASSERT_EQ(targets.size(), 3u);

  std::vector<std::vector<std::pair<std::string, std::string>>> before;
  for (const Target& target : targets) before.push_back(Listings(target));

  int methods = 0;
  for (const Target& target : targets) {
    for (int i = 0; i < target.service->method_count(); ++i) {
      const MethodDescriptor& method = *target.service->method(i);
      ++methods;
      for (const Malformed& malformed : MalformedRequests(*method.input_type())) {
        SCOPED_TRACE(method.full_name() + " given " + malformed.what);
        Outcome outcome = Call(target.channel.get(), method, malformed.bytes);
        EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
            << "answered " << outcome.status.error_code() << " \""
            << outcome.status.error_message() << "\"";
        EXPECT_EQ(outcome.status.error_message().rfind("unreadable request: ", 0), 0u)
            << outcome.status.error_message();
        EXPECT_EQ(outcome.messages, 0);
        // The reason is machine-readable too.
        google::rpc::Status details;
        ASSERT_TRUE(details.ParseFromString(outcome.status.error_details()));
        bool has_reason = false;
        for (const auto& any : details.details()) {
          google::rpc::ErrorInfo info;
          if (any.UnpackTo(&info) && info.reason() == "UNREADABLE_REQUEST") has_reason = true;
        }
        EXPECT_TRUE(has_reason) << details.DebugString();
      }
    }
  }
  // 24 registry, 15 events, 4 analytics methods today; more is fine.
  EXPECT_GE(methods, 43);

  // Still serving: each service answers a well-formed call, and nothing was written.
  for (size_t t = 0; t < targets.size(); ++t) {
    EXPECT_EQ(Listings(targets[t]), before[t]) << targets[t].service->full_name();
  }
  auto stub = StubFor(server);
  EXPECT_TRUE(WaitForActivities(stub.get(), TrueActivityCount()));
}

// The message names the field whose string is not UTF-8, and a BadRequest says which.
TEST_F(MalformedRequestsTest, InvalidUtf8NamesTheField) {
  auto channel = sanhak::testing::Connect(registry_->address());
  const MethodDescriptor* create =
      registry::v1::CreateCouncilRequest::descriptor()->file()->FindServiceByName(
          "RegistryService")->FindMethodByName("CreateCouncil");
  ASSERT_NE(create, nullptr);
  const Descriptor& request = *create->input_type();
  const FieldDescriptor* council = request.FindFieldByName("council");
  ASSERT_NE(council, nullptr);
  const FieldDescriptor* display_name = council->message_type()->FindFieldByName("display_name");
  ASSERT_NE(display_name, nullptr);
  // council { display_name: <not UTF-8> }
  std::string bytes = LengthDelimited(*council, LengthDelimited(*display_name, "조선\xed\xa0\x80"));

  Outcome outcome = Call(channel.get(), *create, bytes);
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(outcome.status.error_message().find("council.display_name"), std::string::npos)
      << outcome.status.error_message();
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(outcome.status.error_details()));
  bool names_field = false;
  for (const auto& any : details.details()) {
    google::rpc::BadRequest bad;
    if (!any.UnpackTo(&bad)) continue;
    for (const auto& v : bad.field_violations()) names_field |= v.field() == "council.display_name";
  }
  EXPECT_TRUE(names_field) << details.DebugString();
}

// libprotobuf logs a line for every string it refuses as invalid UTF-8; a caller sending
// a flood of them must not write to stderr as fast as it sends. The lines are JSON, and
// at most about ten a second get through.
TEST_F(MalformedRequestsTest, AFloodOfInvalidUtf8WritesBoundedJsonLogLines) {
  auto channel = sanhak::testing::Connect(registry_->address());
  const MethodDescriptor* get =
      registry::v1::GetCouncilRequest::descriptor()->file()->FindServiceByName(
          "RegistryService")->FindMethodByName("GetCouncil");
  ASSERT_NE(get, nullptr);
  const FieldDescriptor* name = get->input_type()->FindFieldByName("name");
  ASSERT_NE(name, nullptr);
  const std::string bytes = LengthDelimited(*name, "councils/\xc3\x28");
  constexpr int kCalls = 300;
  // The process lets ten such lines through per one-second window: an earlier test's
  // refusals may have used up the current one, and a flood shorter than a second would
  // then log nothing. Start in a fresh window.
  absl::SleepFor(absl::Milliseconds(1100));
  absl::Time start;
  absl::Duration took;
  const std::string captured = sanhak::testing::CaptureStderr([&] {
    start = absl::Now();
    for (int i = 0; i < kCalls; ++i) {
      ASSERT_EQ(Call(channel.get(), *get, bytes).status.error_code(),
                grpc::StatusCode::INVALID_ARGUMENT);
    }
    took = absl::Now() - start;
  });
  int protobuf_lines = 0;
  for (absl::string_view line : absl::StrSplit(captured, '\n')) {
    EXPECT_FALSE(absl::StartsWith(line, "[libprotobuf")) << "a raw line: " << line;
    if (absl::StrContains(line, "\"source\":\"protobuf\"")) {
      ++protobuf_lines;
      EXPECT_TRUE(absl::StartsWith(line, "{")) << line;
    }
  }
  EXPECT_GE(protobuf_lines, 1) << "the refusals are not logged at all";
  // Ten a second, in every one-second window the calls spanned.
  EXPECT_LE(protobuf_lines, 10 * (static_cast<int>(absl::ToInt64Seconds(took)) + 2))
      << protobuf_lines << " lines for " << kCalls << " calls in " << took;
}

}  // namespace
}  // namespace sanhak
