#include "common/redis.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sanhak::redis {
namespace {

timeval Timeout(absl::Duration d) { return absl::ToTimeval(d); }

Reply Convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
  }
  return out;
}

absl::Status ContextError(redisContext* c, absl::string_view what) {
  return absl::UnavailableError(
      absl::StrCat("redis ", what, ": ", c != nullptr && c->err ? c->errstr : "no reply"));
}

}  // namespace

absl::Status ParseAddress(absl::string_view address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), port) || *port <= 0 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis address \"", address, "\" is not host:port"));
  }
  *host = std::string(address.substr(0, colon));
  return absl::OkStatus();
}

absl::StatusOr<Credentials> LoadCredentials(absl::string_view user,
                                            absl::string_view password_file) {
  if (user.empty() && password_file.empty()) return Credentials{};
  if (user.empty() || password_file.empty()) {
    return absl::InvalidArgumentError(
        "Redis credentials need both --redis_user and --redis_password_file (env "
        "SANHAK_REDIS_USER, SANHAK_REDIS_PASSWORD_FILE), or neither");
  }
  std::ifstream in{std::string(password_file), std::ios::binary};
  std::stringstream content;
  if (in) content << in.rdbuf();
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the Redis password file ", password_file));
  }
  Credentials credentials{std::string(user), content.str()};
  // One line as written by `openssl rand` or a Secret: the newline is not the password's.
  while (!credentials.password.empty() &&
         (credentials.password.back() == '\n' || credentials.password.back() == '\r')) {
    credentials.password.pop_back();
  }
  if (credentials.password.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Redis password file ", password_file, " is empty"));
  }
  return credentials;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Connect(absl::string_view address,
                                                                absl::Duration timeout,
                                                                const Credentials& credentials) {
  // hiredis writes with write(): when Redis dies mid-write the kernel raises SIGPIPE,
  // whose default action kills the process. A lost connection must be an error instead.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { signal(SIGPIPE, SIG_IGN); });
  std::string host;
  int port = 0;
  if (absl::Status s = ParseAddress(address, &host, &port); !s.ok()) return s;
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, Timeout(timeout));
  if (c == nullptr || c->err) {
    absl::Status status = ContextError(c, absl::StrCat("connect ", address));
    if (c != nullptr) redisFree(c);
    return status;
  }
  redisSetTimeout(c, Timeout(timeout));
  std::unique_ptr<Connection> connection(new Connection(c));
  if (credentials.user.empty()) return connection;
  // Redis 6+: AUTH with a user name. Its error reply (WRONGPASS, or "ERR ... called
  // without any password configured" from a Redis without users) repeats neither.
  absl::StatusOr<Reply> auth =
      connection->Command({"AUTH", credentials.user, credentials.password});
  if (!auth.ok()) return auth.status();
  if (auth->type == Reply::Type::kError) {
    return absl::UnauthenticatedError(absl::StrCat(
        "redis at ", address, " refused user \"", credentials.user, "\": ", auth->str,
        " (check --redis_user and --redis_password_file)"));
  }
  return connection;
}

absl::Status CheckCredentials(absl::string_view address, const Credentials& credentials,
                              absl::Duration timeout) {
  if (credentials.user.empty()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Connection::Connect(address, timeout, credentials);
  if (absl::IsUnauthenticated(connection.status())) return connection.status();
  return absl::OkStatus();
}

Connection::~Connection() { redisFree(context_); }

absl::StatusOr<Reply> Connection::Command(const std::vector<std::string>& args) {
  absl::StatusOr<std::vector<Reply>> replies = Pipeline({args});
  if (!replies.ok()) return replies.status();
  return std::move((*replies)[0]);
}

absl::StatusOr<std::vector<Reply>> Connection::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  for (const auto& args : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                               lengths.data()) != REDIS_OK) {
      return ContextError(context_, "send");
    }
  }
  std::vector<Reply> replies;
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      return ContextError(context_, "read");
    }
    replies.push_back(Convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return replies;
}

int64_t StreamEntrySequence(absl::string_view id) {
  int64_t sequence = 0;
  if (!absl::SimpleAtoi(id.substr(0, id.find('-')), &sequence) || sequence < 0) return 0;
  return sequence;
}

const std::string* StreamEntryField(const Reply& entry, absl::string_view name) {
  if (entry.elements.size() < 2) return nullptr;
  const std::vector<Reply>& fields = entry.elements[1].elements;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    if (fields[i].str == name) return &fields[i + 1].str;
  }
  return nullptr;
}

}  // namespace sanhak::redis
