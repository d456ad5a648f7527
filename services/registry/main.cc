// sanhak registry: parse flags, start the server, wait for SIGINT/SIGTERM, drain.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/log.h"
#include "common/redis_flags.h"
#include "common/server_flags.h"
#include "common/store_factory.h"
#include "common/version.h"
#include "services/registry/registry_server.h"

ABSL_FLAG(std::string, db, sanhak::EnvOr("SANHAK_REGISTRY_DB", "registry.db"),
          "the registry's database: a SQLite file path (one process), or a PostgreSQL URI "
          "postgresql://user:password@host:port/dbname?... that replicas share (env SANHAK_REGISTRY_DB)");
ABSL_FLAG(std::string, redis, sanhak::EnvOr("SANHAK_REDIS", ""),
          "host:port of Redis for the change feed; empty keeps changes in the outbox "
          "(env SANHAK_REDIS)");
ABSL_FLAG(std::string, import, sanhak::EnvOr("SANHAK_REGISTRY_IMPORT", ""),
          "RegistryData text file to import at start, idempotently (env "
          "SANHAK_REGISTRY_IMPORT)");

ABSL_FLAG(std::string, page_token_key, sanhak::EnvOr("SANHAK_REGISTRY_PAGE_TOKEN_KEY", ""),
          "file holding the key page tokens are signed with, created (0600) when missing; "
          "empty: the database path + \".token-key\" (env SANHAK_REGISTRY_PAGE_TOKEN_KEY)");

ABSL_FLAG(std::string, audit_log, sanhak::EnvOr("SANHAK_AUDIT_LOG", ""),
          "JSON-lines file every audit entry (each write asked for, accepted or refused) is "
          "appended to, beside the trail in the database; empty: none (env SANHAK_AUDIT_LOG)");

int main(int argc, char** argv) {
  sanhak::BlockTerminationSignals();
  // Before anything creates a channel, so gRPC's own messages are JSON lines too.
  sanhak::RouteGrpcLogsToLog();
  absl::SetProgramUsageMessage("sanhak registry service");
  sanhak::SetVersionFlagText("sanhak_registry_server");
  absl::ParseCommandLine(argc, argv);

  sanhak::registry::RegistryConfig config;
  config.server = sanhak::ServerOptionsFromFlags();
  config.database_path = absl::GetFlag(FLAGS_db);
  config.import_path = absl::GetFlag(FLAGS_import);
  config.redis_address = absl::GetFlag(FLAGS_redis);
  absl::StatusOr<sanhak::redis::Credentials> redis_credentials =
      sanhak::RedisCredentialsFromFlags(config.redis_address);
  if (!redis_credentials.ok()) {
    sanhak::Log(sanhak::LogLevel::kError, "start failed",
                {{"error", redis_credentials.status().ToString()}});
    return 1;
  }
  config.redis_credentials = *std::move(redis_credentials);
  config.page_token_key_path = absl::GetFlag(FLAGS_page_token_key);
  config.audit_log_path = absl::GetFlag(FLAGS_audit_log);

  auto server = sanhak::registry::RegistryServer::Start(config);
  if (!server.ok()) {
    sanhak::Log(sanhak::LogLevel::kError, "start failed",
                {{"error", server.status().ToString()}});
    return 1;
  }
  const auto& imported = (*server)->import_summary();
  absl::StatusOr<std::string> summary = (*server)->Describe();
  sanhak::Log(sanhak::LogLevel::kInfo, "serving",
              {{"service", std::string(sanhak::registry::kRegistryServiceName)},
               {"address", (*server)->address()},
               {"metrics", (*server)->metrics_address()},
               {"db", sanhak::store::RedactedDatabase(config.database_path)},
               {"imported_created", int64_t{imported.created}},
               {"imported_updated", int64_t{imported.updated}},
               {"imported_unchanged", int64_t{imported.unchanged}},
               {"imported_kept", int64_t{imported.kept}},
               {"reindexed", (*server)->index_update().reindexed},
               {"reindex_skipped", (*server)->index_update().skipped},
               {"holds", summary.ok() ? *summary : summary.status().ToString()}});
  std::printf("registry listening on %s\nholds %s\n", (*server)->address().c_str(),
              summary.ok() ? summary->c_str() : summary.status().ToString().c_str());
  if (!(*server)->metrics_address().empty()) {
    std::printf("registry metrics on http://%s/metrics\n", (*server)->metrics_address().c_str());
  }
  std::fflush(stdout);

  return sanhak::ServeUntilTerminated([&] { (*server)->Shutdown(); });
}
