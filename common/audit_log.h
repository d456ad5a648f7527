// The audit trail of a service's writes (issue 11): who asked for which write, and what
// became of it. Every write a caller asks for, accepted or refused, becomes one
// store::AuditEntry:
//   - accepted: appended in the write's own transaction (crud::AuditedWrite), so neither
//     the write nor its entry exists without the other;
//   - refused (validation, NOT_FOUND, ABORTED etag, PERMISSION_DENIED, ...), or a commit
//     that failed: appended in a transaction of its own, after the refusal;
//   - validate_only (AIP-163): recorded as such (validate_only = true), in a transaction
//     of its own, whatever its outcome: it changed nothing, but it is still a caller
//     trying a write.
// Each recorded entry is also one line of the JSON-lines audit log (--audit_log), when
// there is one. Entries are not changes: they are never relayed to the change feed.
//
// When the store refuses even the refusal's entry (its queue of writes is full:
// RESOURCE_EXHAUSTED), the entry reaches the audit log only, and is counted in
// Auditor::unstored(): shedding load must not wait on the trail.
#ifndef SANHAK_COMMON_AUDIT_LOG_H_
#define SANHAK_COMMON_AUDIT_LOG_H_

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/caller.h"
#include "common/resource_store.h"
#include "google/protobuf/message.h"

namespace sanhak {

// Bounds on what one entry keeps of what a caller sent, so neither a row nor a log line
// grows with the request.
inline constexpr size_t kMaxAuditTextBytes = 256;
inline constexpr size_t kMaxAuditFields = 32;
inline constexpr size_t kMaxAuditFieldBytes = 100;
// Every line AuditLine writes is shorter than this.
inline constexpr size_t kMaxAuditLineBytes = 8192;

// The JSON object (one line, no newline) of `entry` of `service`: ts, service, principal,
// role, authenticated_by, method, resource, request_id, trace_id (when the write had a
// trace), code (name) and code_number, message, fields, validate_only.
std::string AuditLine(absl::string_view service, const store::AuditEntry& entry);

// Whether `method` (a short name) writes: Create*, Update*, Delete*, Undelete*, Import*.
// The edge records only refused writes; a refused read is not in the trail.
bool IsWriteMethod(absl::string_view method);

// For auth::AuthOptions::on_policy_refusal: a write method of `service_full_name`
// ("sanhak.registry.v1.RegistryService") refused by the authorization policy goes to
// `record` (caller, the method's short name, the refusal) with no resource, since the
// request is never read; other paths and refused reads are not recorded.
using RefusalRecorder =
    std::function<void(const Caller&, absl::string_view method, const absl::Status&)>;
std::function<void(const Caller&, absl::string_view path, const absl::Status&)>
RecordPolicyRefusalsOf(std::string service_full_name, RefusalRecorder record);

// The resource a request names, for the trail of a call refused before its handler:
// its `name`, else its `parent`, else the `name` of its first message field that has
// one (an update's resource); "" when none (or `request` is null).
std::string RequestResource(const google::protobuf::Message* request);

// An append-only JSON-lines file. Thread-safe; each line is one write().
class AuditLog {
 public:
  // Opens `path` for appending, creating it (0600) when missing.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();
  void Append(absl::string_view service, const store::AuditEntry& entry);

 private:
  explicit AuditLog(int fd) : fd_(fd) {}
  const int fd_;
};

// Records one service's audit trail in its store (and its audit log).
class Auditor {
 public:
  // `store` and `log` (may be null: no log file) must outlive the auditor.
  Auditor(store::ResourceStore* store, std::string service, AuditLog* log)
      : store_(store), service_(std::move(service)), log_(log) {}

  // The entry of a write `caller` asked for, bounded (see kMaxAuditTextBytes), its time
  // now and its outcome OK until told otherwise.
  static store::AuditEntry Entry(const Caller& caller, absl::string_view method,
                                 absl::string_view resource, absl::string_view request_id,
                                 const std::vector<std::string>& fields, bool validate_only);
  // Sets the outcome of `entry` from `status` (its message bounded).
  static void SetOutcome(const absl::Status& status, store::AuditEntry& entry);

  // Appends `entry` in a transaction of its own (a refusal, a validate_only call), writes
  // its log line, then calls `then` (on the store's thread, or at once when the store
  // refuses the write).
  void RecordAlone(store::AuditEntry entry, absl::AnyInvocable<void()> then);
  // Writes the log line of an entry the write's own transaction committed.
  void Committed(const store::AuditEntry& entry);

  // For the edge: a call refused before any handler ran (e.g. the role check of
  // common/parsed_call), recorded like any other refusal. Returns at once.
  void RecordRefusal(const Caller& caller, absl::string_view method,
                     absl::string_view resource, const absl::Status& status);

  // Entries that reached the log only, because the store refused them.
  int64_t unstored() const { return unstored_.load(std::memory_order_relaxed); }
  const std::string& service() const { return service_; }

 private:
  store::ResourceStore* const store_;
  const std::string service_;
  AuditLog* const log_;
  std::atomic<int64_t> unstored_{0};
};

}  // namespace sanhak

#endif  // SANHAK_COMMON_AUDIT_LOG_H_
