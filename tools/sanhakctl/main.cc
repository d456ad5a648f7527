// sanhakctl: flags in, commands.cc out. Flags may come before or after the command;
// unknown flags and bad values are usage errors (exit 2), not abseil's exit 1.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tools/sanhakctl/client.h"
#include "tools/sanhakctl/commands.h"
#include "tools/sanhakctl/config.h"
#include "tools/sanhakctl/errors.h"

ABSL_FLAG(std::string, target, "", "host:port of the service the command talks to");
ABSL_FLAG(std::string, registry_target, "", "registry host:port (SANHAK_REGISTRY_TARGET)");
ABSL_FLAG(std::string, events_target, "", "events host:port (SANHAK_EVENTS_TARGET)");
ABSL_FLAG(std::string, analytics_target, "", "analytics host:port (SANHAK_ANALYTICS_TARGET)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "deadline of every call");
ABSL_FLAG(std::string, output, "table",
          "table, wide, json or yaml (-o for short: -o yaml, -owide, -o=json)");
ABSL_FLAG(std::string, json, "", "create/update: the resource as JSON");
ABSL_FLAG(std::string, file, "", "create/update: a file holding the resource JSON (- = stdin)");
ABSL_FLAG(std::string, update_mask, "", "update: comma-separated fields");
ABSL_FLAG(std::string, etag, "", "update/delete: the etag");
ABSL_FLAG(std::string, request_id, "",
          "create: idempotency key; a retry with the same key creates nothing more");
ABSL_FLAG(bool, no_headers, false, "tables without their header row (for scripts)");
ABSL_FLAG(bool, dry_run, false,
          "create, update, delete: the server checks the write and makes none "
          "(validate_only); --dry-run=server is the same, as kubectl spells it");
ABSL_FLAG(int, limit, 0, "list: at most this many rows");
ABSL_FLAG(int, max_width, 48, "cut table cells wider than this (0 = never)");
ABSL_FLAG(int, top, 10, "network: hub complexes");
ABSL_FLAG(int, max_updates, 0, "watch/summary: stop after this many updates");
ABSL_FLAG(absl::Duration, duration, absl::InfiniteDuration(), "watch/summary: stop after");
ABSL_FLAG(bool, watch, false, "summary: follow changes");
ABSL_FLAG(std::string, format, "", "import/export: jsonl or csv");
ABSL_FLAG(std::string, out, "",
          "export: output file (--format=csv: a folder); report: the .xlsx file");
ABSL_FLAG(int, batch_size, 500, "import: records checked together before writing");
// List filters: each maps to the List request field of the same name.
ABSL_FLAG(std::string, field, "", "list filter");
ABSL_FLAG(std::string, region, "", "list filter");
ABSL_FLAG(std::string, complex, "", "list filter");
ABSL_FLAG(std::string, forum_session, "", "list filter");
ABSL_FLAG(std::string, query, "", "list filter");
ABSL_FLAG(std::string, kind, "", "list filter");
ABSL_FLAG(std::string, council, "", "list filter");
ABSL_FLAG(std::string, organization, "", "list filter");
ABSL_FLAG(std::string, role, "", "list filter");
ABSL_FLAG(std::string, state, "", "list filter");
ABSL_FLAG(std::string, category, "", "list filter");
ABSL_FLAG(std::string, parent, "", "list filter");
ABSL_FLAG(std::string, context, "",
          "the named context of the config file to use for this command (default: its "
          "current context; `sanhakctl config` manages them)");
ABSL_FLAG(std::string, token_file, "",
          "a file holding a bearer token (JWT) sent on every call, over TLS (env "
          "SANHAK_TOKEN_FILE); with `config set-context`, stored in the context");
ABSL_FLAG(std::string, token, "",
          "a bearer token (JWT) itself; prefer --token_file, which keeps it out of the "
          "process list and the shell's history");
// A bool, so `--show_deleted` alone works; sent only when set.
ABSL_FLAG(bool, show_deleted, false,
          "list: include soft-deleted councils, complexes and organizations");

namespace {

using sanhak::ctl::kExitBadInput;

// Parses argv into flags (set through abseil's registry) and positional arguments.
// Returns false after printing why.
bool ParseArgs(int argc, char** argv, std::vector<std::string>& positional, bool& help,
               bool& version) {
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (flags_done || arg == "-" || arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string body = arg.substr(absl::StartsWith(arg, "--") ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    if (name == "help" || name == "h") {
      help = true;
      continue;
    }
    if (name == "version" && !has_value) {
      version = true;
      continue;
    }
    if (name == "f") name = "file";
    // kubectl's -o: `-o yaml`, `-o=yaml` and `-oyaml` (a single-dash word that is no
    // flag of its own and starts with o).
    if (name == "o") {
      name = "output";
    } else if (arg[1] == 'o' && absl::FindCommandLineFlag(name) == nullptr) {
      value = body.substr(1);
      name = "output";
      has_value = true;
    }
    // kubectl's spelling (--dry-run, --request-id) as well as abseil's.
    std::replace(name.begin(), name.end(), '-', '_');
    if (name == "dry_run" && has_value) {
      if (value == "server") value = "true";
      if (value == "none") value = "false";
      if (value == "client") {
        std::cerr << "sanhakctl: --dry-run=client is not offered; --dry-run=server asks the "
                     "server to check the write\n";
        return false;
      }
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && absl::StartsWith(name, "no") && !has_value) {
      absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
      if (negated != nullptr && negated->IsOfType<bool>()) {
        flag = negated;
        value = "false";
        has_value = true;
      }
    }
    if (flag == nullptr) {
      std::cerr << "sanhakctl: unknown flag " << arg << " (sanhakctl --help lists them)\n";
      return false;
    }
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        std::cerr << "sanhakctl: flag " << arg << " needs a value\n";
        return false;
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      std::cerr << "sanhakctl: bad value for --" << name << ": " << error << "\n";
      return false;
    }
  }
  return true;
}

std::string FromEnv(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  bool help = false, version = false;
  if (!ParseArgs(argc, argv, args, help, version)) return kExitBadInput;
  if (help) {
    std::cout << sanhak::ctl::Usage();
    return sanhak::ctl::kExitOk;
  }
  if (version || (args.size() == 1 && args[0] == "version")) {
    return sanhak::ctl::PrintVersion(absl::GetFlag(FLAGS_output), std::cout, std::cerr);
  }

  const std::string config_path = sanhak::ctl::DefaultConfigPath();
  if (!args.empty() && args[0] == "config") {
    sanhak::ctl::Context settings;
    settings.registry = absl::GetFlag(FLAGS_registry_target);
    settings.events = absl::GetFlag(FLAGS_events_target);
    settings.analytics = absl::GetFlag(FLAGS_analytics_target);
    settings.token_file = absl::GetFlag(FLAGS_token_file);
    const sanhak::TlsFiles tls = sanhak::ctl::TlsFilesFromFlags();
    settings.ca = tls.ca;
    settings.cert = tls.cert;
    settings.key = tls.key;
    absl::Status status = sanhak::ctl::ConfigCommand(
        std::vector<std::string>(args.begin() + 1, args.end()), settings, config_path,
        std::cout);
    if (!status.ok()) {
      std::cerr << "sanhakctl: " << status.message() << "\n";
      switch (status.code()) {
        case absl::StatusCode::kInvalidArgument:
          return kExitBadInput;
        case absl::StatusCode::kNotFound:
          return sanhak::ctl::kExitNotFound;
        default:
          return sanhak::ctl::kExitOther;
      }
    }
    return sanhak::ctl::kExitOk;
  }

  sanhak::ctl::Options options;
  sanhak::ctl::Targets& t = options.targets;
  // The context first: the environment and the flags override what it says.
  sanhak::ctl::Context context;
  if (!config_path.empty()) {
    absl::StatusOr<sanhak::ctl::Config> config = sanhak::ctl::LoadConfig(config_path);
    if (!config.ok()) {
      std::cerr << "sanhakctl: " << config.status().message() << "\n";
      return kExitBadInput;
    }
    std::string name = absl::GetFlag(FLAGS_context);
    if (name.empty()) name = config->current_context;
    if (!name.empty()) {
      const sanhak::ctl::Context* found = config->Find(name);
      if (found == nullptr) {
        std::cerr << "sanhakctl: no context \"" << name << "\" in " << config_path
                  << " (sanhakctl config get-contexts lists them)\n";
        return kExitBadInput;
      }
      context = sanhak::ctl::ResolvePaths(*found, config_path);
    }
  } else if (!absl::GetFlag(FLAGS_context).empty()) {
    std::cerr << "sanhakctl: --context needs a config file (set SANHAKCTL_CONFIG or HOME)\n";
    return kExitBadInput;
  }
  if (!context.registry.empty()) t.registry = context.registry;
  if (!context.events.empty()) t.events = context.events;
  if (!context.analytics.empty()) t.analytics = context.analytics;
  // TLS files: --ca/--cert/--key (or SANHAK_CA, ...) when any is given, else the
  // context's. Never a mix of the two: a certificate from one and a CA from the other
  // would be a caller nobody configured.
  sanhak::TlsFiles tls = sanhak::ctl::TlsFilesFromFlags();
  // The token: --token, else --token_file (or SANHAK_TOKEN_FILE), else the context's.
  std::string token_file = absl::GetFlag(FLAGS_token_file);
  if (token_file.empty()) token_file = FromEnv("SANHAK_TOKEN_FILE", "");
  const bool token_given = !absl::GetFlag(FLAGS_token).empty() || !token_file.empty();
  if (!token_given) token_file = context.token_file;
  if (tls.empty()) {
    tls.ca = context.ca;
    // A token given here replaces the context's certificate as this call's identity.
    if (!token_given) {
      tls.cert = context.cert;
      tls.key = context.key;
    }
  }
  t.tls = tls;
  t.token = absl::GetFlag(FLAGS_token);
  if (t.token.empty() && !token_file.empty()) {
    absl::StatusOr<std::string> token = sanhak::ctl::ReadTokenFile(token_file);
    if (!token.ok()) {
      std::cerr << "sanhakctl: " << token.status().message() << "\n";
      return kExitBadInput;
    }
    t.token = *std::move(token);
  }
  t.registry = FromEnv("SANHAK_REGISTRY_TARGET", t.registry);
  t.events = FromEnv("SANHAK_EVENTS_TARGET", t.events);
  t.analytics = FromEnv("SANHAK_ANALYTICS_TARGET", t.analytics);
  // --target goes to the one service the command talks to.
  if (const std::string target = absl::GetFlag(FLAGS_target); !target.empty() && !args.empty()) {
    const std::string& command = args[0];
    if (command == "import" || command == "export" || command == "report") {
      std::cerr << "sanhakctl: " << command << " talks to more than one service: use "
                << "--registry_target, --events_target (and --analytics_target)\n";
      return kExitBadInput;
    }
    sanhak::ctl::Service service = sanhak::ctl::Service::kAnalytics;
    if (command == "agenda") {
      service = sanhak::ctl::Service::kEvents;
    } else if (command == "whoami") {
      service = sanhak::ctl::Service::kRegistry;
    } else if ((command == "get" || command == "list" || command == "create" ||
                command == "update" || command == "delete") && args.size() > 1) {
      const sanhak::ctl::Kind* kind = sanhak::ctl::FindKind(args[1]);
      if (kind != nullptr) service = kind->service;
    }
    switch (service) {
      case sanhak::ctl::Service::kRegistry: t.registry = target; break;
      case sanhak::ctl::Service::kEvents: t.events = target; break;
      case sanhak::ctl::Service::kAnalytics: t.analytics = target; break;
    }
  }
  if (auto v = absl::GetFlag(FLAGS_registry_target); !v.empty()) t.registry = v;
  if (auto v = absl::GetFlag(FLAGS_events_target); !v.empty()) t.events = v;
  if (auto v = absl::GetFlag(FLAGS_analytics_target); !v.empty()) t.analytics = v;
  t.timeout = absl::GetFlag(FLAGS_timeout);

  options.output = absl::GetFlag(FLAGS_output);
  options.json = absl::GetFlag(FLAGS_json);
  options.file = absl::GetFlag(FLAGS_file);
  options.update_mask = absl::GetFlag(FLAGS_update_mask);
  options.etag = absl::GetFlag(FLAGS_etag);
  options.request_id = absl::GetFlag(FLAGS_request_id);
  options.dry_run = absl::GetFlag(FLAGS_dry_run);
  options.no_headers = absl::GetFlag(FLAGS_no_headers);
  // The flags this file defines, for `completion` (abseil's own are not sanhakctl's),
  // spelled with dashes as kubectl's are (both spellings are accepted).
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::StrContains(flag->Filename(), "sanhakctl")) {
      std::string dashed(name);
      std::replace(dashed.begin(), dashed.end(), '_', '-');
      options.flag_names.push_back(absl::StrCat("--", dashed));
    }
  }
  options.flag_names.push_back("--help");
  options.flag_names.push_back("--version");
  std::sort(options.flag_names.begin(), options.flag_names.end());
  options.limit = absl::GetFlag(FLAGS_limit);
  options.max_width = absl::GetFlag(FLAGS_max_width);
  options.top = absl::GetFlag(FLAGS_top);
  options.max_updates = absl::GetFlag(FLAGS_max_updates);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.watch = absl::GetFlag(FLAGS_watch);
  options.format = absl::GetFlag(FLAGS_format);
  options.out = absl::GetFlag(FLAGS_out);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  const std::pair<const char*, std::string> filters[] = {
      {"field", absl::GetFlag(FLAGS_field)},
      {"region", absl::GetFlag(FLAGS_region)},
      {"complex", absl::GetFlag(FLAGS_complex)},
      {"forum_session", absl::GetFlag(FLAGS_forum_session)},
      {"query", absl::GetFlag(FLAGS_query)},
      {"kind", absl::GetFlag(FLAGS_kind)},
      {"council", absl::GetFlag(FLAGS_council)},
      {"organization", absl::GetFlag(FLAGS_organization)},
      {"role", absl::GetFlag(FLAGS_role)},
      {"state", absl::GetFlag(FLAGS_state)},
      {"category", absl::GetFlag(FLAGS_category)},
      {"parent", absl::GetFlag(FLAGS_parent)},
      {"show_deleted", absl::GetFlag(FLAGS_show_deleted) ? "true" : ""},
  };
  for (const auto& [name, value] : filters) {
    if (!value.empty()) options.filters[name] = value;
  }
  options.stdout_tty = isatty(STDOUT_FILENO) != 0;
  // As ls and kubectl: $COLUMNS when set, else the terminal's width; a pipe or file gets
  // whole lines.
  int columns = 0;
  if (const char* env = std::getenv("COLUMNS"); env != nullptr && absl::SimpleAtoi(env, &columns)) {
    options.line_width = columns;
  } else if (options.stdout_tty) {
    struct winsize size {};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0) options.line_width = size.ws_col;
  }
  options.stderr_tty = isatty(STDERR_FILENO) != 0;
  return sanhak::ctl::Run(args, options, std::cout, std::cerr);
}
