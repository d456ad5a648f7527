#include "services/analytics/redis_storage.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/resource_names.h"

namespace sanhak::analytics {
namespace {

constexpr char kMirror[] = "sanhak:analytics:mirror";
constexpr char kApplied[] = "sanhak:analytics:applied";
constexpr char kEpoch[] = "sanhak:analytics:epoch";
constexpr char kUseq[] = "sanhak:analytics:useq";
constexpr char kUpdates[] = "sanhak:analytics:updates";
constexpr char kLeader[] = "sanhak:analytics:leader";
constexpr char kRebuildLock[] = "sanhak:analytics:rebuild";
constexpr char kMirrorNext[] = "sanhak:analytics:mirror:next";
// Resources per HSET/HSCAN call, so each call answers within the connection's timeout
// however large the data.
constexpr size_t kSlice = 5000;

using redis::Reply;

bool IsError(const Reply& r) { return r.type == Reply::Type::kError; }

absl::Status ReplyError(const Reply& r, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("redis ", what, ": ", r.str));
}

int64_t AsInt(const Reply& r) {
  if (r.type == Reply::Type::kInteger) return r.integer;
  int64_t v = 0;
  return absl::SimpleAtoi(r.str, &v) ? v : 0;
}

changes::v1::ChangeRecord RecordOf(const std::string& name, const Mirror::Entry& entry) {
  changes::v1::ChangeRecord record;
  record.set_resource_name(name);
  record.set_collection(entry.collection);
  record.set_kind(entry.deleted ? changes::v1::DELETED : changes::v1::CREATED);
  record.set_revision(entry.revision);
  *record.mutable_state() = entry.state;
  return record;
}

// Kept updates from stream entries ([id, [k, v, ...]]); DATA_LOSS at an unreadable one.
absl::StatusOr<std::vector<KeptUpdate>> ParseUpdates(const std::vector<Reply>& entries) {
  std::vector<KeptUpdate> out;
  out.reserve(entries.size());
  for (const Reply& entry : entries) {
    if (entry.elements.size() < 2) continue;
    KeptUpdate kept;
    kept.useq = redis::StreamEntrySequence(entry.elements[0].str);
    const std::string* record = redis::StreamEntryField(entry, "record");
    const std::string* update = redis::StreamEntryField(entry, "update");
    if (kept.useq <= 0 || record == nullptr || update == nullptr ||
        !kept.record.ParseFromString(*record) || !kept.update.ParseFromString(*update)) {
      return absl::DataLossError(
          absl::StrCat("kept update ", entry.elements[0].str, " is unreadable"));
    }
    out.push_back(std::move(kept));
  }
  return out;
}

}  // namespace

RedisStateStore::RedisStateStore(std::unique_ptr<redis::Connection> redis)
    : redis_(std::move(redis)) {}

absl::StatusOr<std::string> RedisStateStore::Epoch() {
  absl::StatusOr<Reply> epoch = redis_->Command({"GET", kEpoch});
  if (!epoch.ok()) return epoch.status();
  if (IsError(*epoch)) return ReplyError(*epoch, "GET epoch");
  if (epoch->type != Reply::Type::kString) return absl::NotFoundError("no aggregates state");
  return epoch->str;
}

absl::StatusOr<StoredState> RedisStateStore::Load() {
  absl::StatusOr<std::vector<Reply>> replies = redis_->Pipeline(
      {{"MULTI"}, {"GET", kEpoch}, {"GET", kUseq}, {"HGETALL", kApplied}, {"EXEC"}});
  if (!replies.ok()) return replies.status();
  const Reply& exec = replies->back();
  if (exec.type != Reply::Type::kArray || exec.elements.size() != 3) {
    return ReplyError(exec, "load");
  }
  StoredState loaded;
  if (exec.elements[0].type != Reply::Type::kString) {
    return absl::NotFoundError("no aggregates state");
  }
  loaded.epoch = exec.elements[0].str;
  loaded.useq = AsInt(exec.elements[1]);
  const auto& applied = exec.elements[2].elements;
  for (size_t i = 0; i + 1 < applied.size(); i += 2) {
    loaded.applied[applied[i].str] = AsInt(applied[i + 1]);
  }
  std::string cursor = "0";
  do {
    absl::StatusOr<Reply> slice =
        redis_->Command({"HSCAN", kMirror, cursor, "COUNT", absl::StrCat(kSlice)});
    if (!slice.ok()) return slice.status();
    if (slice->type != Reply::Type::kArray || slice->elements.size() != 2) {
      return ReplyError(*slice, "load");
    }
    cursor = slice->elements[0].str;
    const auto& entries = slice->elements[1].elements;
    for (size_t i = 0; i + 1 < entries.size(); i += 2) {
      changes::v1::ChangeRecord record;
      if (record.ParseFromString(entries[i + 1].str)) loaded.mirror.Apply(record);
    }
  } while (cursor != "0");
  absl::StatusOr<std::string> still = Epoch();
  if (!still.ok() && !absl::IsNotFound(still.status())) return still.status();
  if (!still.ok() || *still != loaded.epoch) {
    return absl::UnavailableError("the aggregates were rebuilt while loading");
  }
  return loaded;
}

absl::StatusOr<bool> RedisStateStore::LockRebuild(const std::string& holder,
                                                  absl::Duration term) {
  absl::StatusOr<Reply> lock =
      redis_->Command({"SET", kRebuildLock, holder, "NX", "PX",
                       absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(term)))});
  if (!lock.ok()) return lock.status();
  if (IsError(*lock)) return ReplyError(*lock, "rebuild lock");
  return lock->type != Reply::Type::kNil;
}

absl::Status RedisStateStore::UnlockRebuild() {
  absl::StatusOr<Reply> reply = redis_->Command({"DEL", kRebuildLock});
  return reply.status();
}

absl::StatusOr<std::string> RedisStateStore::Replace(const Mirror& mirror) {
  auto send = [&](const std::vector<std::string>& command) -> absl::Status {
    absl::StatusOr<Reply> reply = redis_->Command(command);
    if (!reply.ok()) return reply.status();
    if (IsError(*reply)) return ReplyError(*reply, "rebuild");
    return absl::OkStatus();
  };
  if (absl::Status s = send({"DEL", kMirrorNext}); !s.ok()) return s;
  std::vector<std::string> hset = {"HSET", kMirrorNext};
  for (const auto& [name, entry] : mirror.entries()) {
    hset.push_back(name);
    hset.push_back(RecordOf(name, entry).SerializeAsString());
    if (hset.size() >= 2 + 2 * kSlice) {
      if (absl::Status s = send(hset); !s.ok()) return s;
      hset.resize(2);
    }
  }
  if (hset.size() > 2) {
    if (absl::Status s = send(hset); !s.ok()) return s;
  }
  std::vector<std::vector<std::string>> commands = {
      {"MULTI"}, {"DEL", kMirror, kApplied, kUpdates}, {"SET", kUseq, "0"}};
  if (!mirror.entries().empty()) commands.push_back({"RENAME", kMirrorNext, kMirror});
  std::string epoch = GenerateId("epoch");
  commands.push_back({"SET", kEpoch, epoch});
  commands.push_back({"DEL", kRebuildLock});
  commands.push_back({"EXEC"});
  absl::StatusOr<std::vector<Reply>> replies = redis_->Pipeline(commands);
  if (!replies.ok()) return replies.status();
  const Reply& exec = replies->back();
  if (exec.type != Reply::Type::kArray) return ReplyError(exec, "rebuild");
  for (const Reply& r : exec.elements) {
    if (IsError(r)) return ReplyError(r, "rebuild");
  }
  return epoch;
}

absl::Status RedisStateStore::Commit(const std::string& holder, const AppliedBatch& batch) {
  absl::StatusOr<std::vector<Reply>> fence =
      redis_->Pipeline({{"WATCH", kLeader}, {"GET", kLeader}});
  if (!fence.ok()) return fence.status();
  if ((*fence)[1].str != holder) {
    redis_->Command({"UNWATCH"}).IgnoreError();
    return absl::FailedPreconditionError("the leader lease was lost");
  }
  std::vector<std::vector<std::string>> commands = {{"MULTI"}};
  for (const auto& [service, sequence] : batch.applied) {
    commands.push_back({"HSET", kApplied, service, absl::StrCat(sequence)});
  }
  if (!batch.mirror.empty()) {
    std::vector<std::string> hset = {"HSET", kMirror};
    for (const auto& [name, record] : batch.mirror) {
      hset.push_back(name);
      hset.push_back(record);
    }
    commands.push_back(std::move(hset));
  }
  for (const AppliedBatch::Update& u : batch.updates) {
    commands.push_back({"XADD", kUpdates, "MAXLEN", absl::StrCat(updates_kept_),
                        absl::StrCat(u.useq, "-0"), "record", u.record, "update",
                        u.update.SerializeAsString()});
  }
  commands.push_back({"SET", kUseq, absl::StrCat(batch.useq)});
  for (std::vector<std::string>& ack : RedisChangeFeed::AckCommands(batch.acks)) {
    commands.push_back(std::move(ack));
  }
  commands.push_back({"EXEC"});
  absl::StatusOr<std::vector<Reply>> replies = redis_->Pipeline(commands);
  if (!replies.ok()) return replies.status();
  const Reply& exec = replies->back();
  if (exec.type == Reply::Type::kNil) {
    return absl::FailedPreconditionError("the leader lease changed hands during the write");
  }
  if (exec.type != Reply::Type::kArray) return ReplyError(exec, "apply");
  for (const Reply& r : exec.elements) {
    if (IsError(r)) return ReplyError(r, "apply");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<KeptUpdate>> RedisStateStore::ReadUpdates(int64_t after, size_t max,
                                                                     absl::Duration wait) {
  if (max == 0) return std::vector<KeptUpdate>();
  if (wait <= absl::ZeroDuration()) {
    absl::StatusOr<Reply> range = redis_->Command(
        {"XRANGE", kUpdates, absl::StrCat(after + 1, "-0"), "+", "COUNT", absl::StrCat(max)});
    if (!range.ok()) return range.status();
    if (IsError(*range)) return ReplyError(*range, "XRANGE");
    return ParseUpdates(range->elements);
  }
  absl::StatusOr<Reply> reply = redis_->Command(
      {"XREAD", "COUNT", absl::StrCat(max), "BLOCK",
       absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(wait))), "STREAMS", kUpdates,
       absl::StrCat(after, "-0")});
  if (!reply.ok()) return reply.status();
  if (IsError(*reply)) return ReplyError(*reply, "XREAD");
  if (reply->type != Reply::Type::kArray || reply->elements.empty() ||
      reply->elements[0].elements.size() < 2) {
    return std::vector<KeptUpdate>();
  }
  return ParseUpdates(reply->elements[0].elements[1].elements);
}

absl::StatusOr<StorageSession> RedisStorage::Connect() {
  absl::StatusOr<std::unique_ptr<redis::Connection>> connection =
      redis::Connection::Connect(options_.address, options_.timeout, options_.credentials);
  if (!connection.ok()) return connection.status();
  auto state = std::make_unique<RedisStateStore>(*std::move(connection));
  state->set_updates_kept(options_.updates_kept);
  redis::Connection* redis = state->connection();
  StorageSession session;
  session.state = std::move(state);
  session.lease = std::make_unique<RedisLeaseStore>(redis, kLeader);
  session.feed = std::make_unique<RedisChangeFeed>(redis, options_.services, options_.consumer);
  return session;
}

}  // namespace sanhak::analytics
