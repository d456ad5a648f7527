#include "tests/support/redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sanhak::testing {
namespace {

constexpr char kRedisServer[] = "/usr/bin/redis-server";
// The suite's ACL rules, without passwords (scripts/run.sh and deploy/ read it too).
constexpr char kSuiteRules[] = SANHAK_SOURCE_DIR "/deploy/base/redis-users.acl";

// 24 random bytes as hex: a password with nothing an ACL rule would misread.
std::string RandomPassword() {
  std::string bytes(24, '\0');
  std::ifstream random("/dev/urandom", std::ios::binary);
  random.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return absl::BytesToHexString(bytes);
}

// Writes `content` to `path`, readable by its owner alone (as a Secret's key file).
bool WritePrivate(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = ::write(fd, content.data(), content.size()) ==
                  static_cast<ssize_t>(content.size());
  return ::close(fd) == 0 && ok;
}

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

RedisServer::RedisServer(RedisUsers users) : process_(OptionsIn(dir_.path())) {
  if (absl::Status s = process_.Reserve(); !s.ok()) error_ = s.ToString();
  if (users == RedisUsers::kSuite) WriteAclFile();
}

void RedisServer::WriteAclFile() {
  std::ifstream in(kSuiteRules);
  std::stringstream rules;
  rules << in.rdbuf();
  if (!in || rules.str().empty()) {
    error_ = absl::StrCat("cannot read the suite's Redis ACL rules ", kSuiteRules);
    return;
  }
  // A user that is `on` and not `nopass` signs in with a password: one of its own here,
  // as scripts/run.sh and the redis pod's init container give each one.
  std::string acl;
  for (absl::string_view line : absl::StrSplit(rules.str(), '\n', absl::SkipWhitespace())) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    std::string out(line);
    if (words.size() >= 3 && words[0] == "user" &&
        std::find(words.begin(), words.end(), "on") != words.end() &&
        std::find(words.begin(), words.end(), "nopass") == words.end()) {
      const std::string password = RandomPassword();
      passwords_[words[1]] = password;
      absl::StrAppend(&out, " >", password);
      if (!WritePrivate(PasswordFile(words[1]), password + "\n")) {
        error_ = absl::StrCat("cannot write ", PasswordFile(words[1]));
      }
    }
    absl::StrAppend(&acl, out, "\n");
  }
  const std::string admin_password = RandomPassword();
  passwords_[kAdminUser] = admin_password;
  absl::StrAppend(&acl, "user ", kAdminUser, " on >", admin_password, " ~* &* +@all\n");
  aclfile_ = dir_.File("users.acl");
  if (!WritePrivate(aclfile_, acl)) error_ = absl::StrCat("cannot write ", aclfile_);
  process_.options().aclfile = aclfile_;
  process_.options().admin_user = kAdminUser;
  process_.options().admin_password = admin_password;
}

std::string RedisServer::Password(const std::string& user) const {
  auto it = passwords_.find(user);
  return it == passwords_.end() ? "" : it->second;
}

std::string RedisServer::PasswordFile(const std::string& user) const {
  return dir_.File(user + ".password");
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
  if (!aclfile_.empty()) return CommandAs(kAdminUser, Password(kAdminUser), args);
  return CommandAs("", "", args);
}

std::optional<RedisReply> RedisServer::CommandAs(const std::string& user,
                                                 const std::string& password,
                                                 const std::vector<std::string>& args) const {
  timeval timeout{5, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port(), timeout);
  if (c == nullptr) return std::nullopt;
  if (c->err) {
    redisFree(c);
    return std::nullopt;
  }
  redisSetTimeout(c, timeout);
  if (!user.empty()) {
    const char* auth_argv[] = {"AUTH", user.c_str(), password.c_str()};
    const size_t auth_lengths[] = {4, user.size(), password.size()};
    void* auth = redisCommandArgv(c, 3, auth_argv, auth_lengths);
    if (auth == nullptr) {
      redisFree(c);
      return std::nullopt;
    }
    RedisReply refused = Convert(static_cast<redisReply*>(auth));
    freeReplyObject(auth);
    if (refused.type == RedisReply::Type::kError) {
      redisFree(c);
      return refused;
    }
  }
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
