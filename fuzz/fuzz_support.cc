#include "fuzz/fuzz_support.h"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/page_token.h"
#include "common/sqlite_resource_store.h"
#include "common/text_data.h"
#include "google/protobuf/stubs/logging.h"

namespace sanhak::fuzz {
namespace {

[[noreturn]] void Fail(absl::string_view what, const absl::Status& status) {
  std::fprintf(stderr, "fuzz setup: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               status.ToString().c_str());
  std::abort();
}

// Made once; removed by an atexit handler (libFuzzer ends a bounded run with exit()). A
// run that crashes leaves it: scripts/test.sh points TMPDIR into build-fuzz/ and clears it.
const std::string& TempDir() {
  static const std::string* dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp",
                                       "/sanhak-fuzz-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      Fail("mkdtemp", absl::InternalError(pattern));
    }
    auto* made = new std::string(pattern);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(*dir, ignored);
    });
    return made;
  }();
  return *dir;
}

template <typename T>
T LoadSeed(absl::string_view relative) {
  T data;
  if (absl::Status s = LoadTextProto(SourcePath(relative), &data); !s.ok()) {
    Fail(relative, s);
  }
  return data;
}

// Marks a write that ran to completion, so its transaction rolls back; never a status
// the code under test returns.
absl::Status RolledBack() { return absl::AbortedError("sanhak fuzz: rolled back"); }
bool IsRolledBack(const absl::Status& s) {
  return s.code() == absl::StatusCode::kAborted && s.message() == "sanhak fuzz: rolled back";
}

}  // namespace

void InstallPageTokenKey() {
  static std::once_flag once;
  std::call_once(once, [] { SetPageTokenKey(kPageTokenKey); });
}

Caller FuzzCaller(int selector) {
  switch (selector % 3) {
    case 1: {
      Caller reader;
      reader.principal = "spiffe://sanhak.local/user/fuzz-reader";
      reader.role = Role::kReader;
      reader.authenticated_by = "certificate";
      return reader;
    }
    case 2: {
      Caller editor;
      editor.principal = "jwt:https://issuer.fuzz#editor";
      editor.role = Role::kEditor;
      editor.councils = {"councils/special-purpose-ships"};
      editor.authenticated_by = "token";
      return editor;
    }
    default:
      return PlaintextDevelopmentCaller();
  }
}

void QuietProtobufLogs() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel level, const char* file,
                                     int line, const std::string& message) {
    if (level >= google::protobuf::LOGLEVEL_DFATAL) {
      std::fprintf(stderr, "[libprotobuf %s:%d] %s\n", file, line, message.c_str());
    }
  });
}

std::string SourcePath(absl::string_view relative) {
  return absl::StrCat(SANHAK_SOURCE_DIR, "/", relative);
}

std::string TempPath(absl::string_view file) { return absl::StrCat(TempDir(), "/", file); }

registry::v1::RegistryData LoadRegistrySeed() {
  return LoadSeed<registry::v1::RegistryData>("data/registry.textproto");
}

events::v1::EventsData LoadEventsSeed() {
  return LoadSeed<events::v1::EventsData>("data/events.textproto");
}

store::ResourceStore* OpenStore(absl::string_view file, absl::string_view service) {
  store::SqliteStoreOptions options;
  options.path = TempPath(file);
  options.service = std::string(service);
  absl::StatusOr<std::unique_ptr<store::SqliteResourceStore>> opened =
      store::SqliteResourceStore::Open(options);
  if (!opened.ok()) Fail(options.path, opened.status());
  return opened->release();
}

void RollbackStore::WriteAsync(store::WriteFn fn, store::WriteDone done) {
  base_->WriteAsync(
      [fn = std::move(fn)](store::WriteTransaction& tx) mutable -> absl::Status {
        absl::Status status = fn(tx);
        return status.ok() ? RolledBack() : status;
      },
      [done = std::move(done)](absl::Status status) mutable {
        done(IsRolledBack(status) ? absl::OkStatus() : std::move(status));
      });
}

SeededRegistryDirectory::SeededRegistryDirectory(const registry::v1::RegistryData& data)
    : known_({kDeletedCouncil, kDeletedOrganization}),
      deleted_({kDeletedCouncil, kDeletedOrganization}) {
  for (const auto& council : data.councils()) known_.insert(council.name());
  for (const auto& organization : data.organizations()) known_.insert(organization.name());
}

void SeededRegistryDirectory::Check(const std::vector<std::string>& names, absl::Time,
                                    CheckDone done) {
  Answer answer;
  for (const std::string& name : names) {
    if (known_.count(name) == 0) {
      answer.missing.push_back(name);
    } else if (deleted_.count(name) > 0) {
      answer.deleted.push_back(name);
    }
  }
  done(std::move(answer));
}

void WriteFile(const std::string& path, absl::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) Fail(path, absl::InternalError("cannot write"));
}

}  // namespace sanhak::fuzz
