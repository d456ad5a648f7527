// A real redis-server for the change feed tests: RedisProcess (a child process on
// 127.0.0.1 and a reserved port, persisting nothing, so a restart comes back empty) in a
// temp dir of its own, with a few client calls the tests need (any command, a whole
// stream read back). Optionally with the suite's ACL users, as deployed.
#ifndef SANHAK_TESTS_SUPPORT_REDIS_SERVER_H_
#define SANHAK_TESTS_SUPPORT_REDIS_SERVER_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/redis_process.h"
#include "tests/support/temp_dir.h"

namespace sanhak::testing {

// A Redis reply as plain values.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<RedisReply> elements;  // kArray
};

// One entry of a Redis Stream: its id and the value of its `record` field.
struct StreamEntry {
  std::string id;
  std::string record;
};

// Which users the server knows.
enum class RedisUsers {
  // Redis as it ships: the default user, no password, every command.
  kDefault,
  // The suite's ACL users from deploy/base/redis-users.acl, the same rules scripts/run.sh
  // and deploy/ give Redis: the default user off, one user per service (each with a
  // password of its own, Password()), and an administrator of the harness's own that
  // Command() and ReadStream() sign in as.
  kSuite,
};

class RedisServer {
 public:
  // The user Command() signs in as with RedisUsers::kSuite: every command, every key.
  static constexpr char kAdminUser[] = "sanhak-test-admin";

  // Reserves the port (see RedisProcess); Start() runs the server.
  explicit RedisServer(RedisUsers users = RedisUsers::kDefault);
  // Kills the server.
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts redis-server and waits until it answers; false when it does not within
  // `limit` (Log() says why). The first start moves to a fresh port if its port turns
  // out taken; a start after Kill() keeps the port (see RedisProcess).
  bool Start(std::chrono::seconds limit = std::chrono::seconds(10));
  // SIGKILL, then reaps the process. Nothing survives: nothing is persisted.
  void Kill();
  // Kill() if running, then Start() on the same port: an empty Redis.
  bool Restart();
  bool running() const { return process_.running(); }

  int port() const { return process_.port(); }
  // "127.0.0.1:{port}".
  std::string address() const { return process_.address(); }
  // Why the last start failed, if it did, then the server's log.
  std::string Log() const;

  // One command on a fresh connection (as kAdminUser with kSuite users); nullopt when
  // Redis cannot be reached or the connection fails. A Redis error comes back as a
  // kError reply.
  std::optional<RedisReply> Command(const std::vector<std::string>& args) const;
  // The same, signed in as `user` first (AUTH user password); when Redis refuses the
  // sign-in, its error reply (the command is not sent).
  std::optional<RedisReply> CommandAs(const std::string& user, const std::string& password,
                                      const std::vector<std::string>& args) const;

  // With kSuite: the password of `user` ("" for a user without one), and a file holding
  // it (0600, in the server's dir), as a service's --redis_password_file.
  std::string Password(const std::string& user) const;
  std::string PasswordFile(const std::string& user) const;
  // The ACL file redis-server runs with; empty with kDefault.
  const std::string& aclfile() const { return aclfile_; }
  // XRANGE key - +: every entry in id order with its `record` field. False (with a gtest
  // failure) when Redis cannot be asked or answers something else.
  bool ReadStream(const std::string& key, std::vector<StreamEntry>* entries) const;

 private:
  // Writes aclfile_ and the password files from the suite's rules.
  void WriteAclFile();

  TempDir dir_;
  RedisProcess process_;
  std::string error_;
  std::string aclfile_;
  std::map<std::string, std::string> passwords_;  // user -> password (kSuite)
};

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_REDIS_SERVER_H_
