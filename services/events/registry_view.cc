#include "services/events/registry_view.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "sanhak/changes/v1/changes.pb.h"
#include "sanhak/registry/v1/registry.pb.h"

namespace sanhak::events {
namespace {

using redis::Reply;


}  // namespace

struct RegistryView::State {
  explicit State(size_t max_entries) : max_entries(max_entries) {}

  const size_t max_entries;
  mutable absl::Mutex mu;
  absl::flat_hash_map<std::string, Entry> names ABSL_GUARDED_BY(mu);
  // Bumped whenever the view forgets what it knew (a gap, a rebuilt stream): an answer
  // the registry gave before must not be remembered after, as it may predate the very
  // record the view missed.
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  int64_t last_sequence ABSL_GUARDED_BY(mu) = 0;
  int64_t records_applied ABSL_GUARDED_BY(mu) = 0;
  int64_t gaps ABSL_GUARDED_BY(mu) = 0;
  bool caught_up ABSL_GUARDED_BY(mu) = false;
  std::atomic<int64_t> local_checks{0};
  std::atomic<int64_t> remote_checks{0};
  std::atomic<bool> redis_reachable{false};

  void ForgetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    names.clear();
    ++generation;
  }

  // Remembers what the registry said exists among `asked`, unless the view forgot since
  // the question, or the feed has told about a name meanwhile (its record is at least as
  // new as the answer: the record was applied after the answer was read, or the answer
  // came from before the record's commit; either way the feed's word stands).
  void Remember(const std::vector<std::string>& asked, const Answer& answer,
                uint64_t asked_generation) {
    absl::flat_hash_set<std::string> missing(answer.missing.begin(), answer.missing.end());
    absl::flat_hash_set<std::string> deleted(answer.deleted.begin(), answer.deleted.end());
    absl::MutexLock lock(&mu);
    if (generation != asked_generation) return;
    for (const std::string& name : asked) {
      if (missing.contains(name) || names.size() >= max_entries) continue;
      names.try_emplace(name, Entry{true, deleted.contains(name)});
    }
  }
};

struct RegistryView::Parsed {
  enum class Kind {
    // Another collection: only the sequence matters.
    kOther,
    // A council or organization as stored after the write.
    kLive,
    kSoftDeleted,
    // Removed for good (a DELETED record).
    kGone,
    // A council or organization whose state cannot be read: forgotten, so it is asked.
    kUnreadable,
    // A record that cannot be read at all: which name it was about is unknown, so the
    // view cannot tell what to forget, and takes it as a gap.
    kBroken,
  };
  int64_t sequence = 0;
  Kind kind = Kind::kOther;
  std::string name;
};

RegistryView::RegistryView(RegistryDirectory* fallback, RegistryViewOptions options)
    : fallback_(fallback),
      options_(std::move(options)),
      state_(std::make_shared<State>(options_.max_entries)) {
  thread_ = std::thread([this] { Run(); });
}

RegistryView::~RegistryView() { Stop(); }

void RegistryView::Stop() {
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool RegistryView::SleepFor(absl::Duration d) {
  absl::MutexLock lock(&stop_mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stop_mu_) { return stopping_; };
  return !stop_mu_.AwaitWithTimeout(absl::Condition(&stopping), d);
}

RegistryView::Stats RegistryView::stats() const {
  Stats s;
  {
    absl::ReaderMutexLock lock(&state_->mu);
    s.entries = static_cast<int64_t>(state_->names.size());
    s.last_sequence = state_->last_sequence;
    s.records_applied = state_->records_applied;
    s.gaps = state_->gaps;
    s.caught_up = state_->caught_up;
  }
  s.local_checks = state_->local_checks.load();
  s.remote_checks = state_->remote_checks.load();
  s.redis_reachable = state_->redis_reachable.load();
  return s;
}

std::optional<RegistryView::Entry> RegistryView::Lookup(const std::string& name) const {
  absl::ReaderMutexLock lock(&state_->mu);
  auto it = state_->names.find(name);
  if (it == state_->names.end()) return std::nullopt;
  return it->second;
}

void RegistryView::Check(const std::vector<std::string>& names, absl::Time deadline,
                         CheckDone done) {
  Answer local;
  std::vector<std::string> unseen;
  uint64_t generation = 0;
  {
    absl::ReaderMutexLock lock(&state_->mu);
    generation = state_->generation;
    for (const std::string& name : names) {
      auto it = state_->caught_up ? state_->names.find(name) : state_->names.end();
      if (it == state_->names.end()) {
        unseen.push_back(name);
      } else if (!it->second.exists) {
        local.missing.push_back(name);
      } else if (it->second.deleted) {
        local.deleted.push_back(name);
      }
    }
  }
  if (unseen.empty()) {
    state_->local_checks.fetch_add(1, std::memory_order_relaxed);
    return done(std::move(local));
  }
  state_->remote_checks.fetch_add(1, std::memory_order_relaxed);
  fallback_->Check(
      unseen, deadline,
      [state = state_, unseen, generation, local = std::move(local),
       done = std::move(done)](absl::StatusOr<Answer> answer) mutable {
        if (!answer.ok()) return done(answer.status());
        state->Remember(unseen, *answer, generation);
        for (std::string& name : answer->missing) local.missing.push_back(std::move(name));
        for (std::string& name : answer->deleted) local.deleted.push_back(std::move(name));
        done(std::move(local));
      });
}

void RegistryView::RegisterMetrics(metrics::MetricsRegistry* registry) {
  using metrics::MetricType;
  registry->AddCallback(MetricType::kGauge, "sanhak_registry_view_entries",
                        "Councils and organizations the events service's registry view holds.",
                        [this]() -> std::optional<double> {
                          return static_cast<double>(stats().entries);
                        });
  registry->AddCallback(MetricType::kGauge, "sanhak_registry_view_last_sequence",
                        "Sequence of the last registry change record the view applied.",
                        [this]() -> std::optional<double> {
                          return static_cast<double>(stats().last_sequence);
                        });
  registry->AddCallback(MetricType::kCounter, "sanhak_registry_view_local_checks_total",
                        "Registry checks answered from the view without a registry call.",
                        [this]() -> std::optional<double> {
                          return static_cast<double>(state_->local_checks.load());
                        });
  registry->AddCallback(MetricType::kCounter, "sanhak_registry_view_remote_checks_total",
                        "Registry checks that asked the registry about names the view had "
                        "not seen.",
                        [this]() -> std::optional<double> {
                          return static_cast<double>(state_->remote_checks.load());
                        });
  registry->AddCallback(MetricType::kCounter, "sanhak_registry_view_gaps_total",
                        "Gaps in the registry's change feed the view saw (each made it "
                        "forget what it knew).",
                        [this]() -> std::optional<double> {
                          return static_cast<double>(stats().gaps);
                        });
  registry->AddCallback(MetricType::kGauge, "sanhak_registry_view_redis_reachable",
                        "1 while the registry view reads the change feed from Redis, else 0.",
                        [this]() -> std::optional<double> {
                          return state_->redis_reachable.load() ? 1 : 0;
                        });
}

void RegistryView::Run() {
  absl::Duration backoff = options_.min_backoff;
  bool was_down = false;
  while (true) {
    {
      absl::MutexLock lock(&stop_mu_);
      if (stopping_) return;
    }
    absl::Status status = FollowOnce();
    if (status.ok()) {
      state_->redis_reachable.store(true);
      if (was_down) {
        Log(LogLevel::kInfo, "registry view resumed following the registry's change feed",
            {{"stream", options_.stream}});
        was_down = false;
      }
      backoff = options_.min_backoff;
      continue;
    }
    redis_.reset();
    state_->redis_reachable.store(false);
    if (!was_down) {
      Log(LogLevel::kWarning,
          "registry view cannot read the registry's change feed; it answers from what it "
          "knows and asks the registry about the rest",
          {{"stream", options_.stream}, {"error", status.ToString()}});
      was_down = true;
    }
    if (!SleepFor(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::Status RegistryView::CheckStreamTop() {
  absl::StatusOr<Reply> top =
      redis_->Command({"XREVRANGE", options_.stream, "+", "-", "COUNT", "1"});
  if (!top.ok()) return top.status();
  if (top->type == Reply::Type::kError) {
    return absl::UnavailableError(absl::StrCat("XREVRANGE ", options_.stream, ": ", top->str));
  }
  // An empty stream is a Redis that restarted empty: the registry's next records follow
  // on from where the view is.
  if (top->type != Reply::Type::kArray || top->elements.empty() ||
      top->elements[0].elements.empty()) {
    return absl::OkStatus();
  }
  const int64_t top_sequence = redis::StreamEntrySequence(top->elements[0].elements[0].str);
  int64_t was = 0;
  {
    absl::MutexLock lock(&state_->mu);
    if (top_sequence == 0 || top_sequence >= state_->last_sequence) return absl::OkStatus();
    was = state_->last_sequence;
    state_->ForgetLocked();
    state_->last_sequence = 0;
    state_->caught_up = false;
    ++state_->gaps;
  }
  Log(LogLevel::kWarning,
      "the registry's change stream ends below what the registry view applied (rebuilt "
      "from another history); the view starts over from its first entry",
      {{"stream", options_.stream},
       {"applied", absl::StrCat(was)},
       {"stream_top", absl::StrCat(top_sequence)}});
  return absl::OkStatus();
}

absl::Status RegistryView::FollowOnce() {
  if (redis_ == nullptr) {
    absl::StatusOr<std::unique_ptr<redis::Connection>> connection =
        redis::Connection::Connect(options_.redis_address,
                                   options_.io_timeout + options_.block,
                                   options_.redis_credentials);
    if (!connection.ok()) return connection.status();
    redis_ = *std::move(connection);
    if (absl::Status s = CheckStreamTop(); !s.ok()) return s;
  }
  int64_t from = 0;
  {
    absl::ReaderMutexLock lock(&state_->mu);
    from = state_->last_sequence;
  }
  absl::StatusOr<Reply> reply = redis_->Command(
      {"XREAD", "COUNT", absl::StrCat(options_.batch), "BLOCK",
       absl::StrCat(absl::ToInt64Milliseconds(options_.block)), "STREAMS", options_.stream,
       absl::StrCat(from, "-0")});
  if (!reply.ok()) return reply.status();
  if (reply->type == Reply::Type::kError) {
    // NOPERM (the events user may not read the stream) is as final as Redis being away
    // until an operator fixes the rules: back off and try again.
    return absl::UnavailableError(absl::StrCat("XREAD ", options_.stream, ": ", reply->str));
  }
  // Nil after `block`: nothing new, the view is at the stream's end.
  if (reply->type != Reply::Type::kArray || reply->elements.empty() ||
      reply->elements[0].elements.size() < 2) {
    {
      absl::MutexLock lock(&state_->mu);
      state_->caught_up = true;
    }
    return CheckStreamTop();
  }
  const std::vector<Reply>& entries = reply->elements[0].elements[1].elements;
  std::vector<Parsed> parsed;
  parsed.reserve(entries.size());
  // Parsed before taking the map's lock, so checks wait only for the applying.
  for (const Reply& entry : entries) {
    if (entry.elements.size() < 2) continue;
    Parsed p;
    p.sequence = redis::StreamEntrySequence(entry.elements[0].str);
    if (p.sequence == 0) continue;
    const std::vector<Reply>& fields = entry.elements[1].elements;
    std::string record_bytes;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str == "record") record_bytes = fields[i + 1].str;
    }
    changes::v1::ChangeRecord record;
    if (!record.ParseFromString(record_bytes)) {
      Log(LogLevel::kWarning, "registry view: unreadable change record",
          {{"stream", options_.stream}, {"id", entry.elements[0].str}});
      p.kind = Parsed::Kind::kBroken;
      parsed.push_back(std::move(p));
      continue;
    }
    const bool council = record.collection() == "councils";
    if (!council && record.collection() != "organizations") {
      parsed.push_back(std::move(p));
      continue;
    }
    p.name = record.resource_name();
    if (record.kind() == changes::v1::DELETED) {
      p.kind = Parsed::Kind::kGone;
    } else {
      bool ok = false;
      bool soft_deleted = false;
      if (council) {
        registry::v1::Council c;
        ok = record.state().UnpackTo(&c);
        soft_deleted = c.has_delete_time();
      } else {
        registry::v1::Organization o;
        ok = record.state().UnpackTo(&o);
        soft_deleted = o.has_delete_time();
      }
      p.kind = !ok           ? Parsed::Kind::kUnreadable
               : soft_deleted ? Parsed::Kind::kSoftDeleted
                              : Parsed::Kind::kLive;
    }
    parsed.push_back(std::move(p));
  }
  Apply(parsed);
  if (static_cast<int>(entries.size()) < options_.batch) {
    absl::MutexLock lock(&state_->mu);
    state_->caught_up = true;
  }
  return absl::OkStatus();
}

void RegistryView::Apply(const std::vector<Parsed>& records) {
  int64_t gap_after = -1;
  int64_t gap_at = 0;
  {
    absl::MutexLock lock(&state_->mu);
    for (const Parsed& r : records) {
      const int64_t sequence = r.sequence;
      const bool broken = r.kind == Parsed::Kind::kBroken;
      if (broken || (state_->last_sequence > 0 && sequence != state_->last_sequence + 1)) {
        // Records between were lost to the view: any of them may have deleted a name it
        // holds. Forget everything; the feed and the registry tell again.
        state_->ForgetLocked();
        ++state_->gaps;
        gap_after = state_->last_sequence;
        gap_at = sequence;
      }
      state_->last_sequence = sequence;
      ++state_->records_applied;
      if (broken || r.kind == Parsed::Kind::kOther) continue;
      if (r.kind == Parsed::Kind::kUnreadable) {
        state_->names.erase(r.name);
        continue;
      }
      Entry entry{r.kind != Parsed::Kind::kGone, r.kind == Parsed::Kind::kSoftDeleted};
      auto it = state_->names.find(r.name);
      if (it != state_->names.end()) {
        it->second = entry;
      } else if (state_->names.size() < state_->max_entries) {
        state_->names.emplace(r.name, entry);
      }
    }
  }
  if (gap_after >= 0) {
    Log(LogLevel::kWarning,
        "registry view: the change feed skipped records (trimmed, or Redis lost them); "
        "forgot what it knew, learning again",
        {{"stream", options_.stream},
         {"applied", absl::StrCat(gap_after)},
         {"next", absl::StrCat(gap_at)}});
  }
}

}  // namespace sanhak::events
