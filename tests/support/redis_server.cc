#include "tests/support/redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"

namespace sanhak::testing {
namespace {

constexpr char kRedisServer[] = "/usr/bin/redis-server";

RedisReply Convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

}  // namespace

RedisServer::RedisServer() : port_(FreePort()) {}

RedisServer::~RedisServer() { Kill(); }

std::string RedisServer::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::string RedisServer::Log() const {
  std::ifstream in(dir_.File("redis.log"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool RedisServer::Start(std::chrono::seconds limit) {
  if (pid_ > 0) return true;
  // Everything the child needs is prepared before fork: after it, only exec.
  std::vector<std::string> args = {kRedisServer,    "--port",        std::to_string(port_),
                                   "--bind",        "127.0.0.1",     "--save",
                                   "",              "--appendonly",  "no",
                                   "--daemonize",   "no",            "--dir",
                                   dir_.path(),     "--protected-mode", "no"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log = open(dir_.File("redis.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return false;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Dies with the test, even on a crash.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log);
  if (pid < 0) return false;
  pid_ = pid;
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::optional<RedisReply> pong = Command({"PING"});
    if (pong.has_value() && pong->str == "PONG") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool RedisServer::Restart() {
  Kill();
  return Start();
}

std::optional<RedisReply> RedisServer::Command(const std::vector<std::string>& args) const {
  timeval timeout{5, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeout);
  if (c == nullptr) return std::nullopt;
  if (c->err) {
    redisFree(c);
    return std::nullopt;
  }
  redisSetTimeout(c, timeout);
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  void* raw = redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data());
  std::optional<RedisReply> reply;
  if (raw != nullptr) {
    reply = Convert(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
  }
  redisFree(c);
  return reply;
}

bool RedisServer::ReadStream(const std::string& key, std::vector<StreamEntry>* entries) const {
  entries->clear();
  std::optional<RedisReply> reply = Command({"XRANGE", key, "-", "+"});
  if (!reply.has_value()) {
    ADD_FAILURE() << "XRANGE " << key << ": Redis at " << address() << " not reachable";
    return false;
  }
  if (reply->type != RedisReply::Type::kArray) {
    ADD_FAILURE() << "XRANGE " << key << ": unexpected reply " << reply->str;
    return false;
  }
  // [[id, [field, value, ...]], ...]
  for (const RedisReply& e : reply->elements) {
    if (e.elements.size() != 2 || e.elements[1].elements.size() % 2 != 0) {
      ADD_FAILURE() << "XRANGE " << key << ": malformed entry";
      return false;
    }
    StreamEntry entry{e.elements[0].str, ""};
    const auto& fields = e.elements[1].elements;
    bool found = false;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str == "record") {
        entry.record = fields[i + 1].str;
        found = true;
      }
    }
    if (!found) {
      ADD_FAILURE() << "XRANGE " << key << ": entry " << entry.id << " has no record field";
      return false;
    }
    entries->push_back(std::move(entry));
  }
  return true;
}

}  // namespace sanhak::testing
