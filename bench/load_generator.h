// A closed-loop load generator on gRPC's callback API: a fixed number of call "slots",
// each of which has exactly one call in flight and issues the next one from the previous
// call's completion. No thread per call: completions run on gRPC's own threads.
#ifndef SANHAK_BENCH_LOAD_GENERATOR_H_
#define SANHAK_BENCH_LOAD_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace sanhak::bench {

// Reports the end of one call. Called exactly once per issued call.
using DoneFn = std::function<void(grpc::Status)>;

// What a scenario gets to issue one call with.
struct CallEnv {
  // Fresh for every call, deadline already set; valid until `done` has been called.
  grpc::ClientContext* context;
  // Which of the client channels this slot uses (slot index modulo channel count).
  int channel;
  // The slot's own generator; never touched by two calls at once.
  std::mt19937_64* rng;

  // Uniform in [0, n); n > 0.
  size_t Uniform(size_t n) const {
    return std::uniform_int_distribution<size_t>(0, n - 1)(*rng);
  }
};

// Starts one asynchronous call and arranges for `done` to be called when it ends. It must
// not block. A scenario that checks the response reports a wrong one as a non-OK status.
using IssueFn = std::function<void(const CallEnv& env, DoneFn done)>;

// Starts a unary call through the callback API and reports its status once `check` has
// looked at the response. `start` is typically
//   [stub](auto* ctx, auto* req, auto* resp, auto cb) {
//     stub->async()->Method(ctx, req, resp, std::move(cb)); }
// and `check` is grpc::Status(const Request&, const Response&).
template <typename Request, typename Response, typename Start, typename Check>
void StartUnary(const CallEnv& env, Request request, const Start& start, Check check,
                DoneFn done) {
  // Request and response live in a per-call arena whose first block is part of this
  // object: parsing a response of a few hundred sub-messages costs the load generator one
  // allocation, not hundreds. Baseline and scenarios alike. (Its effect on the ratios was
  // within the run-to-run noise when measured; it keeps the client's share predictable.)
  struct Exchange {
    Exchange() : arena(Options(block, sizeof(block))) {}
    static google::protobuf::ArenaOptions Options(char* block, size_t size) {
      google::protobuf::ArenaOptions options;
      options.initial_block = block;
      options.initial_block_size = size;
      return options;
    }
    alignas(16) char block[16384];
    google::protobuf::Arena arena;
    Request* request = google::protobuf::Arena::CreateMessage<Request>(&arena);
    Response* response = google::protobuf::Arena::CreateMessage<Response>(&arena);
  };
  auto exchange = std::make_shared<Exchange>();
  *exchange->request = std::move(request);
  Request* request_ptr = exchange->request;
  Response* response_ptr = exchange->response;
  start(env.context, request_ptr, response_ptr,
        std::function<void(grpc::Status)>(
            [exchange = std::move(exchange), check = std::move(check),
             done = std::move(done)](grpc::Status status) {
              if (status.ok()) status = check(*exchange->request, *exchange->response);
              done(std::move(status));
            }));
}

struct LoadOptions {
  // Calls in flight at all times.
  int concurrency = 64;
  // Channels the slots are spread over.
  int channels = 4;
  // Calls completing in the warm-up are not measured.
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration duration = absl::Seconds(5);
  // Each call's deadline; also bounds how long a run can overrun its duration.
  absl::Duration call_deadline = absl::Seconds(10);
  uint64_t seed = 1;
  // The overload scenario: RESOURCE_EXHAUSTED and UNAVAILABLE are refusals the servers are
  // expected to answer beyond their bound, counted apart from errors; latency percentiles
  // are then over the admitted (OK) calls only. A refused slot issues its next call at once.
  bool refusals_expected = false;
  // With refusals_expected: a refused slot waits the google.rpc.RetryInfo delay the refusal
  // carries (a well-behaved client) before its next call, instead of calling again at once.
  bool honor_retry_info = false;
  // When set: CPU seconds the server process has used so far (separate-process mode), so
  // that CPU per call covers client and server; unset: the servers run in this process.
  std::function<double()> server_cpu_seconds;
};

struct LoadResult {
  // Calls completing inside the measured window (errors included).
  int64_t calls = 0;
  double seconds = 0;
  double qps = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  // CPU (user + system) spent inside the measured window, per measured call: this
  // process (client, and the servers when they run in it) plus, in separate-process mode,
  // the server process; server_cpu_us_per_call is the server process's share (0 when the
  // servers run in this process).
  double cpu_us_per_call = 0;
  double server_cpu_us_per_call = 0;
  // With refusals_expected: calls completing in the window that were admitted (OK) and
  // refused (RESOURCE_EXHAUSTED, UNAVAILABLE), per second; refusals over the whole run by
  // code, and how many of them carried a RetryInfo. Without: admitted = calls - errors in
  // the window, no refusals.
  int64_t admitted = 0;
  int64_t refused = 0;
  double admitted_qps = 0;
  double refused_qps = 0;
  int64_t refused_total = 0;
  std::map<std::string, int64_t> refused_by_code;
  int64_t refused_with_retry_info = 0;
  // Calls that ended non-OK, over the whole run (warm-up included).
  int64_t errors = 0;
  std::map<std::string, int64_t> errors_by_code;
  std::string first_error;
};

// Runs the closed loop for warm-up plus duration, waits for the calls in flight to end,
// and returns what was measured. Returns after at most warmup + duration + call_deadline
// (plus scheduling slack).
LoadResult RunClosedLoop(const IssueFn& issue, const LoadOptions& options);

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_LOAD_GENERATOR_H_
