#include "tools/sanhakctl/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sanhak::ctl {
namespace {

// Keeps a config file from being anything but small: it is read on every command.
constexpr size_t kMaxConfigBytes = 1 << 20;

struct FieldOf {
  const char* json;
  std::string Context::*member;
};
constexpr FieldOf kFields[] = {
    {"name", &Context::name},         {"registry", &Context::registry},
    {"events", &Context::events},     {"analytics", &Context::analytics},
    {"ca", &Context::ca},             {"cert", &Context::cert},
    {"key", &Context::key},           {"token_file", &Context::token_file},
};

absl::Status Bad(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config ", path, ": ", what));
}

std::string FolderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status MakeFolders(const std::string& folder) {
  if (folder.empty() || folder == "." || folder == "/") return absl::OkStatus();
  struct stat st;
  if (stat(folder.c_str(), &st) == 0) return absl::OkStatus();
  if (absl::Status s = MakeFolders(FolderOf(folder)); !s.ok()) return s;
  if (mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", folder, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

const Context* Config::Find(absl::string_view name) const {
  for (const Context& c : contexts) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Context* Config::Find(absl::string_view name) {
  for (Context& c : contexts) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string DefaultConfigPath() {
  if (const char* set = std::getenv("SANHAKCTL_CONFIG"); set != nullptr && *set != '\0') {
    return set;
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return "";
  return absl::StrCat(home, "/.config/sanhak/config.json");
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  Config config;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return config;
    return absl::FailedPreconditionError(
        absl::StrCat("config ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::string text;
  text.resize(kMaxConfigBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes) return Bad(path, "larger than 1 MiB");

  google::protobuf::Struct root;
  if (auto s = google::protobuf::util::JsonStringToMessage(text, &root); !s.ok()) {
    return Bad(path, absl::StrCat("not JSON: ", s.message().as_string()));
  }
  for (const auto& [key, value] : root.fields()) {
    if (key == "current_context") {
      if (value.kind_case() != google::protobuf::Value::kStringValue) {
        return Bad(path, "current_context must be a string");
      }
      config.current_context = value.string_value();
    } else if (key == "contexts") {
      if (value.kind_case() != google::protobuf::Value::kListValue) {
        return Bad(path, "contexts must be a list");
      }
      for (const google::protobuf::Value& item : value.list_value().values()) {
        if (item.kind_case() != google::protobuf::Value::kStructValue) {
          return Bad(path, "each context must be an object");
        }
        Context context;
        for (const auto& [field, v] : item.struct_value().fields()) {
          const FieldOf* known = nullptr;
          for (const FieldOf& f : kFields) {
            if (field == f.json) known = &f;
          }
          if (known == nullptr) {
            return Bad(path, absl::StrCat("unknown context field \"", field, "\""));
          }
          if (v.kind_case() != google::protobuf::Value::kStringValue) {
            return Bad(path, absl::StrCat("context field ", field, " must be a string"));
          }
          context.*(known->member) = v.string_value();
        }
        if (context.name.empty()) return Bad(path, "a context has no name");
        if (config.Find(context.name) != nullptr) {
          return Bad(path, absl::StrCat("context \"", context.name, "\" appears twice"));
        }
        config.contexts.push_back(std::move(context));
      }
    } else {
      return Bad(path, absl::StrCat("unknown field \"", key, "\""));
    }
  }
  if (!config.current_context.empty() && config.Find(config.current_context) == nullptr) {
    return Bad(path, absl::StrCat("current_context \"", config.current_context,
                                  "\" names no context"));
  }
  return config;
}

absl::Status SaveConfig(const std::string& path, const Config& config) {
  google::protobuf::Struct root;
  if (!config.current_context.empty()) {
    (*root.mutable_fields())["current_context"].set_string_value(config.current_context);
  }
  auto* list = (*root.mutable_fields())["contexts"].mutable_list_value();
  for (const Context& context : config.contexts) {
    auto* fields = list->add_values()->mutable_struct_value()->mutable_fields();
    for (const FieldOf& f : kFields) {
      const std::string& value = context.*(f.member);
      if (!value.empty()) (*fields)[f.json].set_string_value(value);
    }
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string text;
  if (auto s = google::protobuf::util::MessageToJsonString(root, &text, options); !s.ok()) {
    return absl::InternalError(s.message().as_string());
  }
  if (absl::Status s = MakeFolders(FolderOf(path)); !s.ok()) return s;
  const std::string temporary = absl::StrCat(path, ".tmp.", getpid());
  FILE* out = std::fopen(temporary.c_str(), "w");
  if (out == nullptr) {
    return absl::InternalError(absl::StrCat("write ", temporary, ": ", std::strerror(errno)));
  }
  chmod(temporary.c_str(), 0600);
  const bool written = std::fwrite(text.data(), 1, text.size(), out) == text.size() &&
                       std::fflush(out) == 0 && fsync(fileno(out)) == 0;
  std::fclose(out);
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

Context ResolvePaths(Context context, const std::string& config_path) {
  const std::string folder = FolderOf(config_path);
  for (std::string* file : {&context.ca, &context.cert, &context.key, &context.token_file}) {
    if (!file->empty() && (*file)[0] != '/') *file = absl::StrCat(folder, "/", *file);
  }
  return context;
}

absl::Status ConfigCommand(const std::vector<std::string>& args, const Context& settings,
                           const std::string& path, std::ostream& out) {
  if (path.empty()) {
    return absl::FailedPreconditionError(
        "no config file: set SANHAKCTL_CONFIG or HOME");
  }
  const std::string verb = args.empty() ? "" : args[0];
  const bool named = verb == "use-context" || verb == "set-context" || verb == "delete-context";
  const size_t expected = named ? 2 : 1;
  if (verb.empty() || args.size() != expected ||
      (!named && verb != "current-context" && verb != "get-contexts")) {
    return absl::InvalidArgumentError(
        "usage: sanhakctl config current-context | get-contexts | use-context NAME | "
        "set-context NAME [--registry_target=... --events_target=... "
        "--analytics_target=... --ca=... --cert=... --key=... --token_file=...] | "
        "delete-context NAME");
  }
  absl::StatusOr<Config> config = LoadConfig(path);
  if (!config.ok()) return config.status();
  if (verb == "current-context") {
    if (config->current_context.empty()) {
      return absl::NotFoundError(absl::StrCat("no current context in ", path));
    }
    out << config->current_context << "\n";
    return absl::OkStatus();
  }
  if (verb == "get-contexts") {
    out << "CURRENT\tNAME\tREGISTRY\tEVENTS\tANALYTICS\tAUTH\n";
    for (const Context& c : config->contexts) {
      std::string auth = "plaintext";
      if (!c.cert.empty()) {
        auth = "certificate";
      } else if (!c.token_file.empty()) {
        auth = "token";
      } else if (!c.ca.empty()) {
        auth = "tls";
      }
      out << (c.name == config->current_context ? "*" : "") << "\t" << c.name << "\t"
          << c.registry << "\t" << c.events << "\t" << c.analytics << "\t" << auth << "\n";
    }
    return absl::OkStatus();
  }
  const std::string& name = args[1];
  if (verb == "set-context") {
    Context* context = config->Find(name);
    if (context == nullptr) {
      config->contexts.push_back(Context{name});
      context = &config->contexts.back();
    }
    for (const FieldOf& f : kFields) {
      const std::string& value = settings.*(f.member);
      if (!value.empty() && std::string(f.json) != "name") context->*(f.member) = value;
    }
    if (config->current_context.empty()) config->current_context = name;
    if (absl::Status s = SaveConfig(path, *config); !s.ok()) return s;
    out << "context \"" << name << "\" set\n";
    return absl::OkStatus();
  }
  if (config->Find(name) == nullptr) {
    return absl::NotFoundError(absl::StrCat("no context \"", name, "\" in ", path));
  }
  if (verb == "use-context") {
    config->current_context = name;
    if (absl::Status s = SaveConfig(path, *config); !s.ok()) return s;
    out << "switched to context \"" << name << "\"\n";
    return absl::OkStatus();
  }
  // delete-context
  config->contexts.erase(std::remove_if(config->contexts.begin(), config->contexts.end(),
                                        [&](const Context& c) { return c.name == name; }),
                         config->contexts.end());
  if (config->current_context == name) config->current_context.clear();
  if (absl::Status s = SaveConfig(path, *config); !s.ok()) return s;
  out << "context \"" << name << "\" deleted\n";
  return absl::OkStatus();
}

}  // namespace sanhak::ctl
