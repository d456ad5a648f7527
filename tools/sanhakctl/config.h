// sanhakctl's named contexts, as kubectl keeps them: a config file lists contexts (where
// each service listens and how to authenticate there) and names the current one, so a
// person switches between the local suite and a cluster in one word
// (`sanhakctl config use-context prod`, or `--context=prod` for one command).
//
// The file is JSON (there is no YAML library among the suite's dependencies):
//   {"current_context": "local",
//    "contexts": [{"name": "local", "registry": "127.0.0.1:50051", "events": "...",
//                  "analytics": "...", "ca": "/path/ca.pem", "cert": "...", "key": "...",
//                  "token_file": "..."}]}
// Paths are kept as written; a relative one is resolved against the config file's folder.
// Precedence for every setting: command-line flag, then environment, then the context,
// then the built-in default.
#ifndef SANHAK_TOOLS_SANHAKCTL_CONFIG_H_
#define SANHAK_TOOLS_SANHAKCTL_CONFIG_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sanhak::ctl {

struct Context {
  std::string name;
  // host:port of each service; empty = the default (or the environment's).
  std::string registry;
  std::string events;
  std::string analytics;
  // PEM files: the CA bundle that verifies the servers, and the client certificate and
  // key that identify this user (mutual TLS). All empty = plaintext (development).
  std::string ca;
  std::string cert;
  std::string key;
  // A file holding a bearer token (JWT), sent on every call.
  std::string token_file;
};

struct Config {
  std::string current_context;
  std::vector<Context> contexts;

  // The context named `name`, or nullptr.
  const Context* Find(absl::string_view name) const;
  Context* Find(absl::string_view name);
};

// $SANHAKCTL_CONFIG, else $HOME/.config/sanhak/config.json, else "" (no home).
std::string DefaultConfigPath();

// The config in `path`; an empty Config when the file does not exist. INVALID_ARGUMENT
// (naming the file and what is wrong) for a file that is not such a config.
absl::StatusOr<Config> LoadConfig(const std::string& path);

// Writes `config` to `path` atomically (a temporary file renamed over it), mode 0600
// (it names key files and token files), creating the folder when missing.
absl::Status SaveConfig(const std::string& path, const Config& config);

// `context` with its relative file paths resolved against `config_path`'s folder.
Context ResolvePaths(Context context, const std::string& config_path);

// `sanhakctl config VERB ...` on the file `path`:
//   current-context            prints the current context's name
//   get-contexts               a table of every context, the current one marked *
//   use-context NAME           makes NAME current
//   set-context NAME           creates or changes NAME with the non-empty settings in
//                              `settings` (from --registry_target, --ca, ...)
//   delete-context NAME
// `args` starts after "config". INVALID_ARGUMENT for a wrong verb or arguments,
// NOT_FOUND for a context that does not exist.
absl::Status ConfigCommand(const std::vector<std::string>& args, const Context& settings,
                           const std::string& path, std::ostream& out);

}  // namespace sanhak::ctl

#endif  // SANHAK_TOOLS_SANHAKCTL_CONFIG_H_
