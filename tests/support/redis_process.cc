#include "tests/support/redis_process.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace sanhak::testing {
namespace {

// What redis-server logs before it exits when its port is taken.
constexpr char kAddressInUse[] = "Address already in use";

std::string ReadFrom(const std::string& path, std::streamoff offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(offset);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::streamoff SizeOf(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  return in ? static_cast<std::streamoff>(in.tellg()) : 0;
}

// The process_id of the Redis answering on 127.0.0.1:port, asked as `user` when set; -1
// when none answers. A stranger that accepts and stays silent costs one short timeout:
// the caller polls.
long long PidServing(int port, const std::string& user, const std::string& password) {
  timeval timeout{0, 250000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, timeout);
  if (c == nullptr) return -1;
  long long pid = -1;
  if (c->err == 0) {
    redisSetTimeout(c, timeout);
    if (!user.empty()) {
      const char* argv[] = {"AUTH", user.c_str(), password.c_str()};
      const size_t lengths[] = {4, user.size(), password.size()};
      auto* auth = static_cast<redisReply*>(redisCommandArgv(c, 3, argv, lengths));
      if (auth != nullptr) freeReplyObject(auth);
    }
    auto* reply = static_cast<redisReply*>(redisCommand(c, "INFO server"));
    if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
      for (absl::string_view line : absl::StrSplit(absl::string_view(reply->str, reply->len),
                                                   absl::ByAnyChar("\r\n"))) {
        if (absl::ConsumePrefix(&line, "process_id:") && !absl::SimpleAtoi(line, &pid)) {
          pid = -1;
        }
      }
    }
    if (reply != nullptr) freeReplyObject(reply);
  }
  redisFree(c);
  return pid;
}

}  // namespace

absl::Status RedisProcess::Reserve() {
  if (port_.port() != 0) return absl::OkStatus();
  absl::StatusOr<ReservedPort> picked = ReservedPort::Pick();
  if (!picked.ok()) return picked.status();
  port_ = *std::move(picked);
  return absl::OkStatus();
}

RedisProcess::Outcome RedisProcess::Launch(std::string* why) {
  if (options_.before_launch) options_.before_launch(port());
  const std::string log = log_path();
  const std::streamoff offset = SizeOf(log);
  std::vector<std::string> args = {
      options_.binary, "--port",       std::to_string(port()), "--bind",    "127.0.0.1",
      "--save",        "",             "--appendonly",         "no",        "--daemonize",
      "no",            "--dir",        options_.dir,           "--protected-mode", "no"};
  if (!options_.aclfile.empty()) {
    args.push_back("--aclfile");
    args.push_back(options_.aclfile);
  }
  ChildStreams streams;
  streams.stdout_path = log;
  if (absl::Status s = child_.Start(args, streams); !s.ok()) {
    *why = s.ToString();
    return Outcome::kFailed;
  }
  ++launches_;
  const absl::Time until = absl::Now() + options_.start_limit;
  while (true) {
    if (std::optional<int> status = child_.Poll(); status.has_value()) {
      const std::string said = ReadFrom(log, offset);
      *why = absl::StrCat(options_.binary, " on port ", port(), " exited (", *status,
                          ") at start: ", said.substr(said.size() > 600 ? said.size() - 600 : 0));
      return absl::StrContains(said, kAddressInUse) ? Outcome::kAddressInUse : Outcome::kFailed;
    }
    if (PidServing(port(), options_.admin_user, options_.admin_password) == child_.pid()) {
      return Outcome::kUp;
    }
    if (absl::Now() >= until) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  child_.Kill();
  *why = absl::StrCat(options_.binary, " did not answer on port ", port(), " within ",
                      absl::FormatDuration(options_.start_limit), " (see ", log, ")");
  return Outcome::kFailed;
}

absl::Status RedisProcess::Start() {
  if (child_.running()) return absl::OkStatus();
  if (options_.dir.empty()) return absl::InvalidArgumentError("RedisOptions.dir is empty");
  std::string why;
  if (!answered_) {
    // Nobody knows the port yet: a taken one is swapped for a fresh one.
    for (int i = 0; i < kMaxLaunches; ++i) {
      if (absl::Status s = Reserve(); !s.ok()) return s;
      switch (Launch(&why)) {
        case Outcome::kUp:
          answered_ = true;
          return absl::OkStatus();
        case Outcome::kFailed:
          return absl::UnavailableError(why);
        case Outcome::kAddressInUse: {
          // The next port is picked while this one is still held, so it differs.
          absl::StatusOr<ReservedPort> next = ReservedPort::Pick();
          if (!next.ok()) return next.status();
          port_ = *std::move(next);
          break;
        }
      }
    }
    return absl::UnavailableError(absl::StrCat("redis-server found its port taken ",
                                               kMaxLaunches, " times; last: ", why));
  }
  // Its clients know this port: wait for it rather than move.
  const absl::Time until = absl::Now() + options_.same_port_limit;
  int tries = 0;
  while (true) {
    ++tries;
    switch (Launch(&why)) {
      case Outcome::kUp:
        return absl::OkStatus();
      case Outcome::kFailed:
        return absl::UnavailableError(why);
      case Outcome::kAddressInUse:
        break;
    }
    if (absl::Now() >= until) {
      return absl::UnavailableError(absl::StrCat(
          "restart on port ", port(), " (which its clients know): another process still holds ",
          "it after ", tries, " tries in ", absl::FormatDuration(options_.same_port_limit),
          "; last: ", why));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

void RedisProcess::Kill() { child_.Kill(); }

absl::Status RedisProcess::Restart() {
  Kill();
  return Start();
}

std::string RedisProcess::Log() const { return ReadFrom(log_path(), 0); }

}  // namespace sanhak::testing
