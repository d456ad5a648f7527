#include "common/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/trace_context.h"
#include "common/validation.h"

namespace sanhak {
namespace {

std::string Bounded(absl::string_view text, size_t max_bytes) {
  return std::string(Utf8Prefix(text, max_bytes));
}

void AppendField(std::string* line, absl::string_view key, absl::string_view value) {
  absl::StrAppend(line, ",\"", key, "\":");
  AppendJsonString(line, value);
}

}  // namespace

std::string AuditLine(absl::string_view service, const store::AuditEntry& e) {
  std::string line = "{\"ts\":";
  AppendJsonString(&line, absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", e.time, absl::UTCTimeZone()));
  AppendField(&line, "service", Bounded(service, kMaxAuditTextBytes));
  AppendField(&line, "principal", Bounded(e.principal, kMaxAuditTextBytes));
  AppendField(&line, "role", Bounded(e.role, kMaxAuditTextBytes));
  AppendField(&line, "authenticated_by", Bounded(e.authenticated_by, kMaxAuditTextBytes));
  AppendField(&line, "method", Bounded(e.method, kMaxAuditTextBytes));
  AppendField(&line, "resource", Bounded(e.resource, kMaxAuditTextBytes));
  AppendField(&line, "request_id", Bounded(e.request_id, kMaxAuditTextBytes));
  if (!e.trace_id.empty()) AppendField(&line, "trace_id", e.trace_id);
  AppendField(&line, "code", absl::StatusCodeToString(static_cast<absl::StatusCode>(e.code)));
  absl::StrAppend(&line, ",\"code_number\":", e.code);
  AppendField(&line, "message", Bounded(e.message, kMaxAuditTextBytes));
  absl::StrAppend(&line, ",\"fields\":[");
  for (size_t i = 0; i < e.fields.size() && i < kMaxAuditFields; ++i) {
    if (i > 0) line += ',';
    AppendJsonString(&line, Bounded(e.fields[i], kMaxAuditFieldBytes));
  }
  absl::StrAppend(&line, "],\"validate_only\":", e.validate_only ? "true" : "false", "}");
  return line;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit log ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(fd));
}

AuditLog::~AuditLog() { ::close(fd_); }

void AuditLog::Append(absl::string_view service, const store::AuditEntry& entry) {
  std::string line = AuditLine(service, entry);
  line += '\n';
  // O_APPEND and one write() per line: lines of concurrent writers never interleave.
  // A short or failed write is reported on the process log, never to the caller.
  ssize_t n = ::write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    Log(LogLevel::kError, "audit log write failed",
        {{"error", std::string(n < 0 ? std::strerror(errno) : "short write")}});
  }
}

std::function<void(const Caller&, absl::string_view path, const absl::Status&)>
RecordPolicyRefusalsOf(std::string service_full_name, RefusalRecorder record) {
  return [prefix = absl::StrCat("/", service_full_name, "/"), record = std::move(record)](
             const Caller& caller, absl::string_view path, const absl::Status& status) {
    if (!absl::StartsWith(path, prefix)) return;
    const absl::string_view method = path.substr(prefix.size());
    if (IsWriteMethod(method)) record(caller, method, status);
  };
}

bool IsWriteMethod(absl::string_view method) {
  for (absl::string_view prefix : {"Create", "Update", "Delete", "Undelete", "Import"}) {
    if (absl::StartsWith(method, prefix)) return true;
  }
  return false;
}

std::string RequestResource(const google::protobuf::Message* request) {
  if (request == nullptr) return "";
  const google::protobuf::Descriptor* type = request->GetDescriptor();
  const google::protobuf::Reflection* reflection = request->GetReflection();
  auto string_field = [](const google::protobuf::Message& m,
                         absl::string_view name) -> std::string {
    const google::protobuf::FieldDescriptor* f =
        m.GetDescriptor()->FindFieldByName(std::string(name));
    if (f == nullptr || f->is_repeated() ||
        f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
      return "";
    }
    return m.GetReflection()->GetString(m, f);
  };
  for (const char* name : {"name", "parent"}) {
    std::string value = string_field(*request, name);
    if (!value.empty()) return std::string(Utf8Prefix(value, kMaxAuditTextBytes));
  }
  for (int i = 0; i < type->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = type->field(i);
    if (f->is_repeated() || f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE ||
        !reflection->HasField(*request, f)) {
      continue;
    }
    std::string value = string_field(reflection->GetMessage(*request, f), "name");
    if (!value.empty()) return std::string(Utf8Prefix(value, kMaxAuditTextBytes));
  }
  return "";
}

store::AuditEntry Auditor::Entry(const Caller& caller, absl::string_view method,
                                 absl::string_view resource, absl::string_view request_id,
                                 const std::vector<std::string>& fields, bool validate_only) {
  store::AuditEntry e;
  e.time = absl::Now();
  e.principal = Bounded(caller.principal, kMaxAuditTextBytes);
  e.role = std::string(RoleName(caller.role));
  e.authenticated_by = Bounded(caller.authenticated_by, kMaxAuditTextBytes);
  e.method = Bounded(method, kMaxAuditTextBytes);
  e.resource = Bounded(resource, kMaxAuditTextBytes);
  e.request_id = Bounded(request_id, kMaxAuditTextBytes);
  if (const TraceContext* trace = CurrentTrace(); trace != nullptr) e.trace_id = trace->trace_id;
  for (size_t i = 0; i < fields.size() && i < kMaxAuditFields; ++i) {
    // A comma would split the stored list: no valid field path has one.
    std::string field = Bounded(fields[i], kMaxAuditFieldBytes);
    if (field.find(',') == std::string::npos) e.fields.push_back(std::move(field));
  }
  e.validate_only = validate_only;
  return e;
}

void Auditor::SetOutcome(const absl::Status& status, store::AuditEntry& entry) {
  entry.code = static_cast<int>(status.code());
  entry.message = Bounded(status.message(), kMaxAuditTextBytes);
}

void Auditor::Committed(const store::AuditEntry& entry) {
  if (log_ != nullptr) log_->Append(service_, entry);
}

void Auditor::RecordAlone(store::AuditEntry entry, absl::AnyInvocable<void()> then) {
  if (log_ != nullptr) log_->Append(service_, entry);
  auto shared = std::make_shared<store::AuditEntry>(std::move(entry));
  store_->WriteAsync(
      [shared](store::WriteTransaction& tx) { return tx.AppendAudit(*shared); },
      [this, shared, then = std::move(then)](absl::Status status) mutable {
        if (!status.ok()) {
          unstored_.fetch_add(1, std::memory_order_relaxed);
          Log(LogLevel::kError, "audit entry not stored",
              {{"method", shared->method}, {"resource", shared->resource},
               {"error", status.ToString()}});
        }
        if (then) then();
      });
}

void Auditor::RecordRefusal(const Caller& caller, absl::string_view method,
                            absl::string_view resource, const absl::Status& status) {
  store::AuditEntry entry = Entry(caller, method, resource, "", {}, false);
  SetOutcome(status, entry);
  RecordAlone(std::move(entry), nullptr);
}

}  // namespace sanhak
