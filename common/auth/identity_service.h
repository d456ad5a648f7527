// sanhak.identity.v1.IdentityService: WhoAmI answers with the caller this server
// established (CallerOf). GrpcServer hosts one on every server.
#ifndef SANHAK_COMMON_AUTH_IDENTITY_SERVICE_H_
#define SANHAK_COMMON_AUTH_IDENTITY_SERVICE_H_

#include "common/parsed_call.h"
#include "sanhak/identity/v1/identity.grpc.pb.h"

namespace sanhak::auth {

class IdentityGrpcService final
    : public ParsedService<identity::v1::IdentityService::CallbackService> {
 public:
  IdentityGrpcService();

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const identity::v1::WhoAmIRequest* request,
                                   identity::v1::WhoAmIResponse* response);
};

}  // namespace sanhak::auth

#endif  // SANHAK_COMMON_AUTH_IDENTITY_SERVICE_H_
