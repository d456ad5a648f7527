#include "tests/support/server_process.h"

#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "tests/support/test_support.h"

namespace sanhak::testing {
namespace {

std::string ReadFrom(const std::string& path, std::streamoff offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(offset);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool ServerProcess::Start() {
  if (child_.running()) return true;
  address_.clear();
  metrics_address_.clear();
  std::ifstream existing(log_, std::ios::binary | std::ios::ate);
  log_offset_ = existing ? static_cast<std::streamoff>(existing.tellg()) : 0;
  std::vector<std::string> args = {binary_, "--listen=127.0.0.1:0", "--drain_ms=1000",
                                   "--log_calls=false", "--insecure_plaintext"};
  args.insert(args.end(), flags_.begin(), flags_.end());
  ChildStreams streams;
  streams.stdout_path = log_;
  absl::Status started = child_.Start(args, streams);
  if (!started.ok()) {
    std::ofstream(log_, std::ios::app) << "ServerProcess: " << started << "\n";
  }
  return started.ok();
}

bool ServerProcess::WaitListening(std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (address_.empty()) {
    // Whole lines only: a line still being written could hold half a port number.
    const std::string text = ReadFrom(log_, log_offset_);
    std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
    lines.pop_back();
    for (absl::string_view line : lines) {
      // The JSON log lines are not what main.cc prints to stdout.
      if (absl::StartsWith(line, "{")) continue;
      std::vector<absl::string_view> listening = absl::StrSplit(line, " listening on ");
      if (listening.size() == 2 && address_.empty()) {
        address_ = std::string(absl::StripAsciiWhitespace(listening[1]));
      }
      std::vector<absl::string_view> metrics = absl::StrSplit(line, " metrics on http://");
      if (metrics.size() == 2 && metrics_address_.empty()) {
        metrics_address_ = std::string(absl::StripSuffix(
            absl::StripAsciiWhitespace(metrics[1]), "/metrics"));
      }
    }
    if (!address_.empty()) break;
    if (child_.Poll().has_value() || !child_.running()) return false;
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool ServerProcess::WaitServing(std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  if (!WaitListening(limit)) return false;
  // A service may listen before it serves (analytics loads its state first): ask until
  // it says SERVING.
  auto stub = grpc::health::v1::Health::NewStub(
      credentials_ != nullptr ? grpc::CreateChannel(address(), credentials_)
                              : Connect(address()));
  while (true) {
    grpc::health::v1::HealthCheckResponse response;
    auto context = Context(5);
    context->set_wait_for_ready(true);
    if (stub->Check(context.get(), {}, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return true;
    }
    if (child_.Poll().has_value()) return false;
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void ServerProcess::Kill() { child_.Kill(); }

void ServerProcess::Signal(int signal) { child_.Signal(signal); }

int ServerProcess::WaitExit(std::chrono::milliseconds limit) {
  return child_.WaitExit(absl::FromChrono(limit));
}

std::string ServerProcess::Log() const { return ReadFrom(log_, 0); }

}  // namespace sanhak::testing
