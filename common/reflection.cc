#include "common/reflection.h"

#include <memory>
#include <set>
#include <utility>

#include "absl/base/call_once.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/impl/server_initializer.h"
#include "grpcpp/server_builder.h"

namespace sanhak {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

// `file` and every file it imports, transitively, each once, dependencies first.
template <typename FileResponse>
void AddFileAndDependencies(const FileDescriptor* file, std::set<std::string>& seen,
                            FileResponse& out) {
  if (!seen.insert(file->name()).second) return;
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFileAndDependencies(file->dependency(i), seen, out);
  }
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out.add_file_descriptor_proto());
}

template <typename Response>
void Error(Response& response, grpc::StatusCode code, const char* message) {
  response.mutable_error_response()->set_error_code(code);
  response.mutable_error_response()->set_error_message(message);
}

// The protocol, for either package's messages (they are the same fields).
template <typename Request, typename Response>
Response Answer(const Request& request, const std::vector<std::string>& services) {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  Response response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  std::set<std::string> seen;
  auto send_file = [&](const FileDescriptor* file, const char* missing) {
    if (file == nullptr) {
      Error(response, grpc::StatusCode::NOT_FOUND, missing);
    } else {
      AddFileAndDependencies(file, seen, *response.mutable_file_descriptor_response());
    }
  };
  switch (request.message_request_case()) {
    case Request::kListServices:
      for (const std::string& name : services) {
        response.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    case Request::kFileByFilename:
      send_file(pool->FindFileByName(request.file_by_filename()), "file not found");
      break;
    case Request::kFileContainingSymbol:
      send_file(pool->FindFileContainingSymbol(request.file_containing_symbol()),
                "symbol not found");
      break;
    case Request::kFileContainingExtension: {
      const auto* type =
          pool->FindMessageTypeByName(request.file_containing_extension().containing_type());
      const auto* extension =
          type == nullptr ? nullptr
                          : pool->FindExtensionByNumber(
                                type, request.file_containing_extension().extension_number());
      send_file(extension == nullptr ? nullptr : extension->file(), "extension not found");
      break;
    }
    case Request::kAllExtensionNumbersOfType: {
      const auto* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        Error(response, grpc::StatusCode::NOT_FOUND, "type not found");
        break;
      }
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* out = response.mutable_all_extension_numbers_response();
      out->set_base_type_name(type->full_name());
      for (const auto* e : extensions) out->add_extension_number(e->number());
      break;
    }
    default:
      Error(response, grpc::StatusCode::INVALID_ARGUMENT,
            "message_request: set one of list_services, file_by_filename, "
            "file_containing_symbol, file_containing_extension, "
            "all_extension_numbers_of_type");
  }
  return response;
}

// One reflection stream: each request answered in turn, on gRPC's threads.
template <typename Request, typename Response>
class Reactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit Reactor(const std::vector<std::string>* services) : services_(services) {
    this->StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status::OK);
      return;
    }
    response_ = Answer<Request, Response>(request_, *services_);
    this->StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    this->StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  const std::vector<std::string>* const services_;
  Request request_;
  Response response_;
};

// `Base` is the package's generated CallbackService.
template <typename Base, typename Request, typename Response>
class ReflectionService final : public Base {
 public:
  grpc::ServerBidiReactor<Request, Response>* ServerReflectionInfo(
      grpc::CallbackServerContext*) override {
    return new Reactor<Request, Response>(&services_);
  }
  // Set once, before the server serves.
  void SetServiceList(const std::vector<std::string>& services) { services_ = services; }

 private:
  std::vector<std::string> services_;
};

namespace v1 = ::grpc::reflection::v1;
namespace v1alpha = ::grpc::reflection::v1alpha;
using V1Service = ReflectionService<v1::ServerReflection::CallbackService,
                                    v1::ServerReflectionRequest, v1::ServerReflectionResponse>;
using V1AlphaService =
    ReflectionService<v1alpha::ServerReflection::CallbackService,
                      v1alpha::ServerReflectionRequest, v1alpha::ServerReflectionResponse>;

class ReflectionPlugin final : public grpc::ServerBuilderPlugin {
 public:
  std::string name() override { return "sanhak_reflection"; }
  void InitServer(grpc::ServerInitializer* si) override {
    si->RegisterService(v1_);
    si->RegisterService(v1alpha_);
  }
  void Finish(grpc::ServerInitializer* si) override {
    v1_->SetServiceList(*si->GetServiceList());
    v1alpha_->SetServiceList(*si->GetServiceList());
  }
  void ChangeArguments(const std::string&, void*) override {}

 private:
  std::shared_ptr<V1Service> v1_ = std::make_shared<V1Service>();
  std::shared_ptr<V1AlphaService> v1alpha_ = std::make_shared<V1AlphaService>();
};

std::unique_ptr<grpc::ServerBuilderPlugin> CreateReflectionPlugin() {
  return std::make_unique<ReflectionPlugin>();
}

}  // namespace

v1::ServerReflectionResponse AnswerReflection(const v1::ServerReflectionRequest& request,
                                              const std::vector<std::string>& services) {
  return Answer<v1::ServerReflectionRequest, v1::ServerReflectionResponse>(request, services);
}

v1alpha::ServerReflectionResponse AnswerReflection(
    const v1alpha::ServerReflectionRequest& request, const std::vector<std::string>& services) {
  return Answer<v1alpha::ServerReflectionRequest, v1alpha::ServerReflectionResponse>(request,
                                                                                      services);
}

void InitReflectionServerBuilderPlugin() {
  static absl::once_flag once;
  absl::call_once(once,
                  [] { grpc::ServerBuilder::InternalAddPluginFactory(&CreateReflectionPlugin); });
}

}  // namespace sanhak
