// Serves a generated service's methods with gRPC handing us the request as bytes, so that
// a request that does not parse is ours to answer: INVALID_ARGUMENT, "unreadable
// request: …", with an ErrorInfo (reason UNREADABLE_REQUEST) and, for a string that is not
// UTF-8, a BadRequest naming the field. The handlers stay typed.
//
// Why not let gRPC parse: in gRPC 1.51 the callback handlers
// (grpcpp/impl/codegen/server_callback_handlers.h, CallbackUnaryHandler::RunHandler and
// CallbackServerStreamingHandler::RunHandler) call the method only when
// SerializationTraits<Request>::Deserialize succeeded, and otherwise finish the call
// themselves with UNIMPLEMENTED and an empty message, whatever status Deserialize
// returned. So neither a SerializationTraits specialization (its status is dropped) nor a
// server interceptor (it sees the call only after Deserialize, and cannot replace the
// status it is about to send) can turn that into INVALID_ARGUMENT. A raw method
// (grpc::Service::MarkMethodRawCallback, as the generated WithRawCallbackMethod_X
// templates do) receives the bytes; this file parses them and calls the typed handler.
//
// Unary calls: gRPC sends a raw method's response, a grpc::ByteBuffer, when the call is
// finished, so the typed response must be serialized into it just before Finish. Every
// unary handler finishes through FinishUnary (via Reply and ReplyLater, in
// common/callback_reply.h), which finds the call's state through the context and does
// that. The state (request, response and their bytes) is one object per call, allocated
// by gRPC's MessageAllocator hook and released by gRPC after OnDone; the request's bytes
// are dropped as soon as they are parsed.
//
// Server-streaming calls: the handler gets the parsed request (its own copy) and returns
// a grpc::ServerWriteReactor<grpc::ByteBuffer> that writes serialized responses
// (WatchAggregates serializes each event once for every watcher).
//
// Every call is one span of a trace (common/trace_context.h): the handler runs under the
// trace the caller's traceparent names (or a new one), and the call answers with its own
// traceparent and x-request-id in its initial metadata.
//
// The method names, types and order stay the generated service's, so the metrics
// interceptor (common/grpc_metrics.cc) still counts each call under its method.
//
// The edge role check (issue #11): before a request is handed to its handler, the
// caller (CallerOf, established by common/auth before the call got here) must hold a
// role that allows the method (common/auth/method_roles.h); otherwise the call ends with
// PERMISSION_DENIED naming the method, the role it needs and the role the caller has,
// with an ErrorInfo (reason MISSING_ROLE, metadata method, required_role, role), and
// the handler never runs. A write then passes the service's per-caller write rate
// (LimitWritesPerCaller), if it has one. Nothing about the resource is looked at or said. A service
// that records refused calls (the audit trail) sets a RefusalHook with OnRefused.
#ifndef SANHAK_COMMON_PARSED_CALL_H_
#define SANHAK_COMMON_PARSED_CALL_H_

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/caller.h"
#include "common/caller_limits.h"
#include "common/status.h"
#include "common/trace_context.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "grpcpp/impl/service_type.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/message_allocator.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/server_callback.h"

namespace sanhak {

// The ErrorInfo reason of a request whose bytes do not parse.
inline constexpr absl::string_view kUnreadableRequest = "UNREADABLE_REQUEST";

// Parses `bytes` into `request`; false when they are not a valid `request` (corrupt,
// truncated, or a string field that is not UTF-8).
bool ParseRequest(grpc::ByteBuffer* bytes, google::protobuf::Message* request);

// The INVALID_ARGUMENT for `bytes`, which do not parse as `type`: says why as far as it
// can tell (the first string field that is not UTF-8, named by its path, or bytes that
// are not protobuf at all), within the bounds of common/status.h.
absl::Status UnreadableRequest(const google::protobuf::Descriptor& type,
                               const grpc::ByteBuffer& bytes);

// The ErrorInfo reason of a call refused by the edge role check.
inline constexpr absl::string_view kMissingRole = "MISSING_ROLE";

// A call the edge role check refused, as a RefusalHook sees it. Everything it points to
// lives only during the hook's run.
struct RefusedCall {
  // The method's short name ("DeleteCouncil") and full name
  // ("sanhak.registry.v1.RegistryService.DeleteCouncil").
  absl::string_view method;
  absl::string_view full_method;
  const Caller* caller;
  // The parsed request, or null when its bytes do not parse (the caller learns only
  // that it is refused).
  const google::protobuf::Message* request;
  // What the caller is answered: PERMISSION_DENIED, reason MISSING_ROLE, or (a write
  // over the caller's rate) RESOURCE_EXHAUSTED, reason CALLER_LIMIT, or (a write turned
  // away by the handler, ParsedUnaryState::Refused) RESOURCE_EXHAUSTED, reason OVERLOADED.
  const absl::Status* status;
};

// Called on the call's thread for every refused call, before the refusal is sent; it
// must not block (record and return). The call's context is valid during the run.
using RefusalHook = std::function<void(grpc::CallbackServerContext*, const RefusedCall&)>;

// OK when `caller` may call `method` (short name); else the PERMISSION_DENIED above.
absl::Status CheckMethodRole(const Caller& caller, absl::string_view method);

// The trace of the call `context` serves, from its traceparent, tracestate and
// x-request-id (a new trace when there is none, or it does not parse); adds the call's
// own traceparent and the request id to the initial metadata it will send.
TraceContext StartCallTrace(grpc::CallbackServerContext* context);

// The state of one unary call served by ParsedService::Serve, as gRPC's allocator hook sees it:
// the request's and the response's bytes, and the call's trace.
class ParsedUnaryState : public grpc::MessageHolder<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // `status` as the call should end with it: when OK, the typed response serialized into
  // the response's bytes first (INTERNAL if it cannot be).
  virtual grpc::Status Seal(grpc::Status status) = 0;

  // Tells the service's refusal hook (ParsedService::OnRefused) that the handler refused
  // this call with `status` before doing its work (a write turned away because too many
  // are in flight), so the audit trail holds it like a refusal at the edge.
  virtual void Refused(grpc::CallbackServerContext* context, const absl::Status& status) = 0;

  // Set before the handler runs; lives as long as the call.
  const TraceContext& trace() const { return trace_; }
  void set_trace(TraceContext trace) { trace_ = std::move(trace); }

 protected:
  ParsedUnaryState() {
    set_request(&request_bytes_);
    set_response(&response_bytes_);
  }

  grpc::ByteBuffer request_bytes_;
  grpc::ByteBuffer response_bytes_;
  TraceContext trace_;
};

// Ends a unary call with `status`. For a call served by ParsedService::Serve it serializes the
// response first; any other call (a typed callback method) is finished as it is.
inline void FinishUnary(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                        grpc::Status status) {
  // A dynamic_cast, not a static one: a typed method's context holds gRPC's own state.
  if (auto* parsed = dynamic_cast<ParsedUnaryState*>(context->GetRpcAllocatorState())) {
    status = parsed->Seal(std::move(status));
  }
  reactor->Finish(std::move(status));
}

namespace parsed_internal {

// What the edge check knows of one method: filled by ParsedService::Serve once the
// method is known, read by every call.
struct MethodGate {
  std::string method;
  std::string full_method;
  const RefusalHook* hook = nullptr;  // the service's, which outlives its handlers
  // Whether the method writes (needs role editor or admin), and the service's
  // per-caller write rate (null pointee: none), which outlives its handlers.
  bool writes = false;
  const std::unique_ptr<PerCallerRate>* write_rate = nullptr;
};

// The refusal of `context`'s caller for `gate`'s method, or OK. When refused, the
// request (`bytes` parsed as a `prototype`, as far as they parse) goes to the service's
// hook first; an allowed call costs no parse here.
absl::Status CheckCaller(grpc::CallbackServerContext* context, const MethodGate& gate,
                         const google::protobuf::Message& prototype, grpc::ByteBuffer* bytes);

// Ends a stream with `status` before it writes anything, then frees itself.
class RefusedStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// One unary call's request and response. A handler that answers with bytes it already
// holds (Response = grpc::ByteBuffer) writes the response's bytes directly.
template <typename Request, typename Response>
class UnaryCall final : public ParsedUnaryState {
 public:
  static constexpr bool kRawResponse = std::is_same_v<Response, grpc::ByteBuffer>;

  void Release() override { delete this; }

  grpc::Status Seal(grpc::Status status) override {
    if constexpr (!kRawResponse) {
      if (status.ok()) {
        bool own_buffer = false;
        grpc::Status serialized = grpc::SerializationTraits<Response>::Serialize(
            response_, &response_bytes_, &own_buffer);
        if (!serialized.ok()) {
          return grpc::Status(grpc::StatusCode::INTERNAL, "the response could not be serialized");
        }
      }
    }
    return status;
  }

  // Parses the request's bytes, then lets them go; false when they do not parse (the
  // bytes are kept for UnreadableRequest).
  bool Parse() {
    if (!ParseRequest(&request_bytes_, &request_)) return false;
    request_bytes_.Clear();
    return true;
  }

  // The edge role check; the request is parsed only for a refused call's hook.
  absl::Status Check(grpc::CallbackServerContext* context, const MethodGate& gate) {
    gate_ = &gate;
    return CheckCaller(context, gate, Request::default_instance(), &request_bytes_);
  }

  void Refused(grpc::CallbackServerContext* context, const absl::Status& status) override {
    if (gate_ == nullptr || gate_->hook == nullptr || !*gate_->hook) return;
    const Caller caller = CallerOf(*context);
    (*gate_->hook)(context, RefusedCall{gate_->method, gate_->full_method, &caller, &request_,
                                        &status});
  }

  const grpc::ByteBuffer& request_bytes() const { return request_bytes_; }
  const Request* request() const { return &request_; }
  Response* response() {
    if constexpr (kRawResponse) {
      return &response_bytes_;
    } else {
      return &response_;
    }
  }

 private:
  Request request_;
  std::conditional_t<kRawResponse, char, Response> response_{};
  // The method's gate (set by Check, before the handler runs); outlives the call.
  const MethodGate* gate_ = nullptr;
};

template <typename Request, typename Response>
class UnaryAllocator final : public grpc::MessageAllocator<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  grpc::MessageHolder<grpc::ByteBuffer, grpc::ByteBuffer>* AllocateMessages() override {
    return new UnaryCall<Request, Response>();
  }
};

// gRPC's raw unary handler, with the allocator that gives each call a UnaryCall.
template <typename Request, typename Response>
class UnaryHandler final
    : public grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  template <typename Service>
  UnaryHandler(Service* service,
               grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*,
                                                            const Request*, Response*),
               std::shared_ptr<const MethodGate> gate)
      : CallbackUnaryHandler(
            [service, method, gate = std::move(gate)](
                grpc::CallbackServerContext* context, const grpc::ByteBuffer*,
                grpc::ByteBuffer*) -> grpc::ServerUnaryReactor* {
              // Ours: this handler's allocator made it.
              auto* call = static_cast<UnaryCall<Request, Response>*>(
                  static_cast<ParsedUnaryState*>(context->GetRpcAllocatorState()));
              call->set_trace(StartCallTrace(context));
              ScopedTrace in_trace(&call->trace());
              if (absl::Status refused = call->Check(context, *gate); !refused.ok()) {
                grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
                FinishUnary(context, reactor, ToGrpcStatus(refused));
                return reactor;
              }
              if (!call->Parse()) {
                grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
                FinishUnary(context, reactor,
                            ToGrpcStatus(UnreadableRequest(*Request::descriptor(),
                                                           call->request_bytes())));
                return reactor;
              }
              return (service->*method)(context, call->request(), call->response());
            }) {
    SetMessageAllocator(&allocator_);
  }

 private:
  UnaryAllocator<Request, Response> allocator_;
};

template <typename Service, typename Request>
grpc::internal::MethodHandler* StreamHandler(
    Service* service,
    grpc::ServerWriteReactor<grpc::ByteBuffer>* (Service::*method)(grpc::CallbackServerContext*,
                                                                   Request),
    std::shared_ptr<const MethodGate> gate) {
  return new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
      [service, method, gate = std::move(gate)](
          grpc::CallbackServerContext* context,
          const grpc::ByteBuffer* bytes) -> grpc::ServerWriteReactor<grpc::ByteBuffer>* {
        const TraceContext trace = StartCallTrace(context);
        ScopedTrace in_trace(&trace);
        // A copy shares the slices; the reader needs a mutable buffer.
        grpc::ByteBuffer request_bytes(*bytes);
        if (absl::Status refused =
                CheckCaller(context, *gate, Request::default_instance(), &request_bytes);
            !refused.ok()) {
          return new RefusedStream(ToGrpcStatus(refused));
        }
        Request request;
        if (!ParseRequest(&request_bytes, &request)) {
          return new RefusedStream(
              ToGrpcStatus(UnreadableRequest(*Request::descriptor(), request_bytes)));
        }
        return (service->*method)(context, std::move(request));
      });
}

// What ParsedService::Serve needs of one method: which it is, and its handler.
struct Binding {
  const google::protobuf::Descriptor* request;
  const google::protobuf::Descriptor* response;  // null: answers with bytes
  bool server_streaming;
  grpc::internal::MethodHandler* handler;
  std::shared_ptr<MethodGate> gate;
};

template <typename Service, typename Request, typename Response>
Binding Bind(Service* service, grpc::ServerUnaryReactor* (Service::*method)(
                                   grpc::CallbackServerContext*, const Request*, Response*)) {
  const google::protobuf::Descriptor* response = nullptr;
  if constexpr (!std::is_same_v<Response, grpc::ByteBuffer>) response = Response::descriptor();
  auto gate = std::make_shared<MethodGate>();
  return {Request::descriptor(), response, false,
          new UnaryHandler<Request, Response>(service, method, gate), gate};
}

template <typename Service, typename Request>
Binding Bind(Service* service, grpc::ServerWriteReactor<grpc::ByteBuffer>* (Service::*method)(
                                   grpc::CallbackServerContext*, Request)) {
  auto gate = std::make_shared<MethodGate>();
  return {Request::descriptor(), nullptr, true, StreamHandler(service, method, gate), gate};
}

// The index of each binding's method in `service_name` (the generated service's method
// order is the descriptor's), checking that every method has exactly one. A mismatch is
// a programming error, found the first time the service is constructed: it aborts,
// naming the method.
std::vector<int> MethodIndexes(absl::string_view service_name,
                               const std::vector<Binding>& bindings);

// Names `gate` after method `index` of `service_name` and points it at `hook` and
// `write_rate`.
void NameGate(absl::string_view service_name, int index, const RefusalHook* hook,
              const std::unique_ptr<PerCallerRate>* write_rate, MethodGate* gate);

}  // namespace parsed_internal

// A generated callback service (`Generated`, e.g. v1::RegistryService::CallbackService)
// whose methods are all served through ParsedService::Serve.
template <typename Generated>
class ParsedService : public Generated {
 protected:
  // Serves every method of the service named `service_name` by `methods`, members of
  // `self`, one per method in any order, each either
  //   grpc::ServerUnaryReactor* M(grpc::CallbackServerContext*, const Req*, Resp*)
  // (Resp may be grpc::ByteBuffer: the response's bytes, written by the handler), which
  // must end the call through FinishUnary (Reply/ReplyLater do), or
  //   grpc::ServerWriteReactor<grpc::ByteBuffer>* M(grpc::CallbackServerContext*, Req)
  // for a server-streaming method. Call once, from the constructor.
  template <typename Self, typename... Methods>
  void Serve(absl::string_view service_name, Self* self, Methods... methods) {
    std::vector<parsed_internal::Binding> bindings = {parsed_internal::Bind(self, methods)...};
    std::vector<int> indexes = parsed_internal::MethodIndexes(service_name, bindings);
    for (size_t i = 0; i < bindings.size(); ++i) {
      parsed_internal::NameGate(service_name, indexes[i], &refusal_hook_, &write_rate_,
                                bindings[i].gate.get());
      this->MarkMethodRawCallback(indexes[i], bindings[i].handler);
    }
  }

  // Every call the edge role check refuses goes to `hook` (the audit trail records
  // refused writes there). Set it in the constructor, before the server starts.
  void OnRefused(RefusalHook hook) { refusal_hook_ = std::move(hook); }

 public:
  // Each caller (principal) may make at most `per_second` writes a second on average, in
  // bursts of up to `burst`; beyond it a write is refused before its handler runs with
  // RESOURCE_EXHAUSTED, RetryInfo and reason CALLER_LIMIT (and goes to the refusal
  // hook), while other callers are served. per_second <= 0: no limit. Set it before the
  // server starts.
  void LimitWritesPerCaller(double per_second, int burst) {
    write_rate_ = per_second > 0 ? std::make_unique<PerCallerRate>(per_second, burst) : nullptr;
  }

 private:
  RefusalHook refusal_hook_;
  std::unique_ptr<PerCallerRate> write_rate_;
};

}  // namespace sanhak

#endif  // SANHAK_COMMON_PARSED_CALL_H_
