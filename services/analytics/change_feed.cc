#include "services/analytics/change_feed.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/outbox_relay.h"

namespace sanhak::analytics {
namespace {

using redis::Reply;

absl::Status ReplyError(const Reply& r, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("redis ", what, ": ", r.str));
}

// The `record` field of a stream entry reply; empty when it has none.
std::string RecordOf(const Reply& entry) {
  const std::string* record = redis::StreamEntryField(entry, "record");
  return record == nullptr ? "" : *record;
}

}  // namespace

RedisChangeFeed::RedisChangeFeed(redis::Connection* redis,
                                       std::vector<std::string> services, std::string consumer)
    : redis_(redis), services_(std::move(services)), consumer_(std::move(consumer)) {}

absl::Status RedisChangeFeed::EnsureGroups() {
  for (const std::string& service : services_) {
    absl::StatusOr<Reply> created =
        redis_->Command({"XGROUP", "CREATE", ChangeStreamKey(service), kGroup, "0", "MKSTREAM"});
    if (!created.ok()) return created.status();
    if (created->type == Reply::Type::kError &&
        !absl::StrContains(created->str, "BUSYGROUP")) {
      return ReplyError(*created, "XGROUP CREATE");
    }
  }
  return absl::OkStatus();
}

absl::Status RedisChangeFeed::ClaimPending(
    const std::function<absl::Status(const std::vector<ChangeEntry>&)>& apply) {
  for (const std::string& service : services_) {
    const std::string stream = ChangeStreamKey(service);
    std::string cursor = "0-0";
    while (true) {
      absl::StatusOr<Reply> claimed = redis_->Command(
          {"XAUTOCLAIM", stream, kGroup, consumer_, "0", cursor, "COUNT", "100"});
      if (!claimed.ok()) return claimed.status();
      if (claimed->type == Reply::Type::kError || claimed->elements.size() < 2) break;
      std::vector<ChangeEntry> batch;
      for (const Reply& entry : claimed->elements[1].elements) {
        if (entry.elements.size() < 2) continue;  // deleted from the stream meanwhile
        batch.push_back({stream, entry.elements[0].str, RecordOf(entry)});
      }
      if (!batch.empty()) {
        if (absl::Status s = apply(batch); !s.ok()) return s;
      }
      cursor = claimed->elements[0].str;
      if (cursor == "0-0") break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ChangeEntry>> RedisChangeFeed::ReadNew(absl::Duration block) {
  std::vector<std::string> command = {
      "XREADGROUP", "GROUP", kGroup, consumer_, "COUNT", "200", "BLOCK",
      absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(block))), "STREAMS"};
  for (const std::string& service : services_) command.push_back(ChangeStreamKey(service));
  for (size_t i = 0; i < services_.size(); ++i) command.push_back(">");
  absl::StatusOr<Reply> reply = redis_->Command(command);
  if (!reply.ok()) return reply.status();
  if (reply->type == Reply::Type::kError) {
    if (absl::StrContains(reply->str, "NOGROUP")) {
      return absl::NotFoundError("the change streams' consumer group is gone");
    }
    return ReplyError(*reply, "XREADGROUP");
  }
  std::vector<ChangeEntry> entries;
  if (reply->type != Reply::Type::kArray) return entries;  // none within `block`
  for (const Reply& stream : reply->elements) {
    if (stream.elements.size() < 2) continue;
    const std::string& key = stream.elements[0].str;
    for (const Reply& entry : stream.elements[1].elements) {
      entries.push_back({key, entry.elements[0].str, RecordOf(entry)});
    }
  }
  return entries;
}

absl::StatusOr<std::map<std::string, int64_t>> RedisChangeFeed::NewestSequences() {
  std::vector<std::vector<std::string>> commands;
  for (const std::string& service : services_) {
    commands.push_back({"XREVRANGE", ChangeStreamKey(service), "+", "-", "COUNT", "1"});
  }
  absl::StatusOr<std::vector<Reply>> replies = redis_->Pipeline(commands);
  if (!replies.ok()) return replies.status();
  std::map<std::string, int64_t> newest;
  for (size_t i = 0; i < services_.size(); ++i) {
    const Reply& reply = (*replies)[i];
    if (reply.type == Reply::Type::kError) return ReplyError(reply, "XREVRANGE");
    if (reply.type != Reply::Type::kArray || reply.elements.empty() ||
        reply.elements[0].elements.empty()) {
      continue;
    }
    const int64_t sequence = redis::StreamEntrySequence(reply.elements[0].elements[0].str);
    if (sequence > 0) newest[services_[i]] = sequence;
  }
  return newest;
}

std::vector<std::vector<std::string>> RedisChangeFeed::AckCommands(
    const std::map<std::string, std::vector<std::string>>& acks) {
  std::vector<std::vector<std::string>> commands;
  for (const auto& [stream, ids] : acks) {
    std::vector<std::string> xack = {"XACK", stream, kGroup};
    xack.insert(xack.end(), ids.begin(), ids.end());
    commands.push_back(std::move(xack));
  }
  return commands;
}

}  // namespace sanhak::analytics
