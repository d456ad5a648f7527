#include "common/auth/identity_service.h"

#include "common/callback_reply.h"
#include "common/caller.h"

namespace sanhak::auth {

IdentityGrpcService::IdentityGrpcService() {
  Serve("sanhak.identity.v1.IdentityService", this, &IdentityGrpcService::WhoAmI);
}

grpc::ServerUnaryReactor* IdentityGrpcService::WhoAmI(grpc::CallbackServerContext* context,
                                                      const identity::v1::WhoAmIRequest*,
                                                      identity::v1::WhoAmIResponse* response) {
  const Caller caller = CallerOf(*context);
  identity::v1::WhoAmIResponse answer;
  answer.set_principal(caller.principal);
  answer.set_role(std::string(RoleName(caller.role)));
  for (const std::string& council : caller.councils) answer.add_councils(council);
  answer.set_authenticated_by(caller.authenticated_by);
  return Reply(context, absl::StatusOr<identity::v1::WhoAmIResponse>(std::move(answer)),
               response);
}

}  // namespace sanhak::auth
