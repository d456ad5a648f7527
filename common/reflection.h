// Server reflection, as generic clients (grpcurl, grpc_cli, Postman, Evans) use it, under
// both names they ask for: grpc.reflection.v1 (what current clients try first) and
// grpc.reflection.v1alpha (what older ones and Debian's gRPC 1.51 know). The two protocols
// are the same messages under two packages; both are answered from the descriptors linked
// into this binary, on the callback API (the sync v1alpha plugin of libgrpc++_reflection
// kept polling threads and only knew v1alpha).
#ifndef SANHAK_COMMON_REFLECTION_H_
#define SANHAK_COMMON_REFLECTION_H_

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.pb.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"

namespace sanhak {

// One request's answer; `services` are what list_services returns.
grpc::reflection::v1::ServerReflectionResponse AnswerReflection(
    const grpc::reflection::v1::ServerReflectionRequest& request,
    const std::vector<std::string>& services);
grpc::reflection::v1alpha::ServerReflectionResponse AnswerReflection(
    const grpc::reflection::v1alpha::ServerReflectionRequest& request,
    const std::vector<std::string>& services);

// Adds both reflection services to every server built after this call, each listing the
// services that server hosts. Process-wide; call before building the first server.
void InitReflectionServerBuilderPlugin();

}  // namespace sanhak

#endif  // SANHAK_COMMON_REFLECTION_H_
