// How a unary handler on gRPC's callback API answers: at once with a result it has, or
// later, when asynchronous work (a commit, a call to another service) tells its outcome.
// Either way the status is converted exactly once, by ToGrpcReply (common/status.h), the
// call ends through FinishUnary (common/parsed_call.h: a method served as bytes gets its
// response serialized there), and no thread waits for anything.
#ifndef SANHAK_COMMON_CALLBACK_REPLY_H_
#define SANHAK_COMMON_CALLBACK_REPLY_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/strings/str_cat.h"
#include "common/overload.h"
#include "common/parsed_call.h"
#include "common/status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"

namespace sanhak {

// How long a refused caller is asked to back off.
inline constexpr absl::Duration kOverloadRetryDelay = absl::Milliseconds(100);

// Finishes the call with `result` (a value into `response`, or an error).
template <typename Result, typename Response>
grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, Result result,
                                Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishUnary(context, reactor, ToGrpcReply(std::move(result), response));
  return reactor;
}

// Starts work that answers later: `start(done)` must return at once and call `done` once
// with the outcome (absl::StatusOr<T>, or absl::Status for an Empty response). At most
// `gate->limit()` such calls are in flight; beyond it the call is refused at once with
// RESOURCE_EXHAUSTED and RetryInfo, and `start` never runs. `response` stays valid until
// the call is finished, so `done` may write it from any thread.
template <typename T, typename Response, typename Start>
grpc::ServerUnaryReactor* ReplyLater(grpc::CallbackServerContext* context, AdmissionGate* gate,
                                     Response* response, Start start) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!gate->TryEnter()) {
    absl::Status refused =
        Overloaded(absl::StrCat(gate->limit(), " writes are already in flight"),
                   kOverloadRetryDelay);
    // A refused write is still a write the caller asked for: the audit trail hears of it.
    if (auto* parsed = dynamic_cast<ParsedUnaryState*>(context->GetRpcAllocatorState())) {
      parsed->Refused(context, refused);
    }
    FinishUnary(context, reactor, ToGrpcStatus(refused));
    return reactor;
  }
  // `context` too lives until the call is finished.
  start([context, reactor, response, gate](T outcome) {
    grpc::Status status = ToGrpcReply(std::move(outcome), response);
    gate->Leave();
    FinishUnary(context, reactor, std::move(status));
  });
  return reactor;
}

}  // namespace sanhak

#endif  // SANHAK_COMMON_CALLBACK_REPLY_H_
