#include "tests/support/redis_server.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include "absl/time/time.h"
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

RedisOptions OptionsIn(const std::string& dir) {
  RedisOptions options;
  options.binary = kRedisServer;
  options.dir = dir;
  return options;
}

}  // namespace

RedisServer::RedisServer() : process_(OptionsIn(dir_.path())) {
  if (absl::Status s = process_.Reserve(); !s.ok()) error_ = s.ToString();
}

RedisServer::~RedisServer() { Kill(); }

std::string RedisServer::Log() const {
  std::string log = process_.Log();
  return error_.empty() ? log : error_ + "\n" + log;
}

bool RedisServer::Start(std::chrono::seconds limit) {
  process_.options().start_limit = absl::FromChrono(limit);
  absl::Status s = process_.Start();
  error_ = s.ok() ? "" : s.ToString();
  return s.ok();
}

void RedisServer::Kill() { process_.Kill(); }

bool RedisServer::Restart() {
  Kill();
  return Start();
}

std::optional<RedisReply> RedisServer::Command(const std::vector<std::string>& args) const {
  timeval timeout{5, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port(), timeout);
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
