#include "tools/sanhakctl/watch.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "sanhak/analytics/v1/analytics.grpc.pb.h"
#include "clients/analytics/aggregate_paths.h"
#include "tools/sanhakctl/commands.h"
#include "tools/sanhakctl/display.h"
#include "common/status.h"
#include "tools/sanhakctl/errors.h"
#include "tools/sanhakctl/records.h"
#include "tools/sanhakctl/yaml.h"

namespace sanhak::ctl {

namespace av1 = analytics::v1;

bool Totals::operator==(const Totals& o) const {
  return councils == o.councils && organizations == o.organizations &&
         activities == o.activities && registrations == o.registrations &&
         outcomes == o.outcomes && total_budget_krw == o.total_budget_krw &&
         national_share_krw == o.national_share_krw && deal_amount_krw == o.deal_amount_krw;
}

Totals TotalsOf(const av1::Aggregates& a) {
  Totals t;
  t.councils = a.councils();
  t.activities = a.activities();
  t.registrations = a.registrations();
  t.outcomes = a.outcomes_total().outcomes();
  t.total_budget_krw = a.outcomes_total().total_budget_krw();
  t.national_share_krw = a.outcomes_total().national_share_krw();
  t.deal_amount_krw = a.outcomes_total().deal_amount_krw();
  // The registry's organizations are counted beside the program's reported figure.
  for (const auto& r : a.reported_vs_counted()) {
    if (r.metric() == "participating_organizations") t.organizations = r.counted();
  }
  return t;
}

std::string SummaryLine(const Totals& t) {
  return absl::StrCat("councils ", t.councils, " · organizations ", t.organizations,
                      " · activities ", t.activities, " · registrations ", t.registrations,
                      " · outcomes ", t.outcomes, " · funding ", FormatKrw(t.total_budget_krw),
                      " (national ", FormatKrw(t.national_share_krw), ") · deals ",
                      FormatKrw(t.deal_amount_krw));
}

std::string DescribeUpdate(const av1::AggregatesUpdate& update,
                           const std::map<std::string, int64_t>& before,
                           const std::map<std::string, int64_t>& after) {
  std::vector<std::string> moves;
  for (const std::string& path : update.changed()) {
    auto b = before.find(path);
    auto a = after.find(path);
    if (a == after.end() && b == before.end()) continue;
    moves.push_back(absl::StrCat(path, " ", b == before.end() ? "-" : absl::StrCat(b->second),
                                 "→", a == after.end() ? "-" : absl::StrCat(a->second)));
  }
  for (const std::string& path : update.removed()) {
    if (std::find(update.changed().begin(), update.changed().end(), path) ==
        update.changed().end()) {
      moves.push_back(absl::StrCat(path, " removed"));
    }
  }
  return absl::StrCat(update.change_id(), " ", update.resource_name(), ": ",
                      moves.empty() ? "(no value moved)" : absl::StrJoin(moves, ", "));
}

namespace {

class Watcher {
 public:
  Watcher(Client& client, const WatchConfig& config, std::ostream& out, std::ostream& err)
      : client_(client), config_(config), out_(out), err_(err) {}

  absl::Status Run() {
    stub_ = av1::AnalyticsService::NewStub(client_.Channel(Service::kAnalytics));
    const absl::Time end = config_.duration == absl::InfiniteDuration()
                               ? absl::InfiniteFuture()
                               : absl::Now() + config_.duration;
    absl::Duration backoff = absl::Milliseconds(100);
    int failures = 0;
    while (true) {
      grpc::ClientContext context;
      if (end != absl::InfiniteFuture()) context.set_deadline(absl::ToChronoTime(end));
      AddTraceHeaders(client_.trace(), &context);
      av1::WatchAggregatesRequest request;
      request.set_resume_token(token_);
      // A display catches up in fewer messages when it falls behind; --json keeps one
      // line per update for the scripts that read it.
      request.set_accept_update_batches(!config_.json);
      auto reader = stub_->WatchAggregates(&context, request);
      av1::AggregatesEvent event;
      bool stop = false;
      bool received = false;
      while (reader->Read(&event)) {
        if (!received && failures > 0) {
          err_ << "watch: reconnected"
               << (token_.empty() ? " (new snapshot)" : " (resumed)") << "\n";
        }
        received = true;
        failures = 0;
        backoff = absl::Milliseconds(100);
        if (absl::Status s = Handle(event); !s.ok()) {
          context.TryCancel();
          reader->Finish();
          return s;
        }
        if (config_.max_updates > 0 && updates_ >= config_.max_updates) {
          stop = true;
          context.TryCancel();
          break;
        }
      }
      grpc::Status status = reader->Finish();
      if (stop || absl::Now() >= end) return absl::OkStatus();
      const absl::Status s = FromGrpcStatus(status);
      switch (s.code()) {
        case absl::StatusCode::kOutOfRange:
          // RESUME_TOKEN_EXPIRED: what was missed is gone; start over from a snapshot.
          err_ << "watch: resume token expired; taking a new snapshot\n";
          token_.clear();
          continue;
        case absl::StatusCode::kInvalidArgument:
        case absl::StatusCode::kUnimplemented:
        case absl::StatusCode::kPermissionDenied:
        case absl::StatusCode::kUnauthenticated:
          return s;
        default:
          break;
      }
      ++failures;
      const absl::Duration wait = std::min(backoff, end - absl::Now());
      err_ << "watch: disconnected (" << CodeName(s.code())
           << (s.message().empty() ? "" : ": ") << s.message() << "); reconnecting in "
           << absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(1))) << "\n";
      err_.flush();
      absl::SleepFor(wait);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
  }

 private:
  absl::Status Handle(const av1::AggregatesEvent& event) {
    token_ = event.resume_token();
    if (config_.json) {
      if (config_.yaml) {
        out_ << "---\n" << ToYaml(event);
      } else {
        out_ << ToJson(event) << "\n";
      }
      out_.flush();
    }
    switch (event.event_case()) {
      case av1::AggregatesEvent::kSnapshot: {
        aggregates_ = event.snapshot();
        have_snapshot_ = true;
        flat_ = analytics::FlattenAggregates(aggregates_);
        if (!config_.json) {
          recent_.push_back(absl::StrCat(Clock(), " snapshot"));
          Show(true);
        }
        break;
      }
      case av1::AggregatesEvent::kUpdate:
        return Apply(event.update());
      case av1::AggregatesEvent::kUpdates:
        for (const av1::AggregatesUpdate& update : event.updates().updates()) {
          if (absl::Status s = Apply(update); !s.ok() || !have_snapshot_) return s;
        }
        break;
      default:
        break;
    }
    return absl::OkStatus();
  }

  // One update, on its own or from a batch.
  absl::Status Apply(const av1::AggregatesUpdate& update) {
    ++updates_;
    if (!have_snapshot_) return absl::OkStatus();
    if (update.values_size() == 0 && update.changed_size() > 0) {
      // A server from before updates carried their values: read the aggregates.
      if (absl::Status s = Refetch(); !s.ok()) {
        err_ << "watch: cannot read the aggregates (" << s.message() << ")\n";
      }
    } else if (absl::Status s = analytics::ApplyUpdate(update, aggregates_); !s.ok()) {
      // The copy can no longer be trusted: start over from a snapshot.
      err_ << "watch: cannot apply update (" << s.message() << "); taking a new snapshot\n";
      token_.clear();
      have_snapshot_ = false;
      return absl::OkStatus();
    }
    std::map<std::string, int64_t> after = analytics::FlattenAggregates(aggregates_);
    if (!config_.json) {
      recent_.push_back(absl::StrCat(Clock(), " ", DescribeUpdate(update, flat_, after)));
      if (recent_.size() > 8) recent_.pop_front();
      flat_ = std::move(after);
      Show(false);
    } else {
      flat_ = std::move(after);
    }
    return absl::OkStatus();
  }

  absl::Status Refetch() {
    const auto* method = av1::Aggregates::descriptor()
                             ->file()
                             ->FindServiceByName("AnalyticsService")
                             ->FindMethodByName("GetAggregates");
    av1::Aggregates fresh;
    if (absl::Status s = client_.Call(Service::kAnalytics, method, av1::GetAggregatesRequest(),
                                      &fresh);
        !s.ok()) {
      return s;
    }
    aggregates_ = std::move(fresh);
    return absl::OkStatus();
  }

  // The terminal's width in columns (80 when it cannot be told).
  static int TerminalColumns() {
    struct winsize size;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20) return size.ws_col;
    return 80;
  }

  static std::string Clock() {
    // Korea's time, named, as every other time sanhakctl shows (a container's local
    // zone is usually UTC).
    return absl::FormatTime("%H:%M:%S %Z", absl::Now(), Korea());
  }

  void Show(bool snapshot) {
    const Totals totals = TotalsOf(aggregates_);
    if (config_.terminal && config_.summary_only) {
      // A few lines redrawn where they stand (cursor up over the last drawing, clear to
      // the end), so what was printed before them (run.sh's addresses) stays visible.
      // Each line is cut to the terminal's width: a line that wrapped would take two rows
      // and the next redraw would climb one row too few.
      const int width = TerminalColumns() - 1;
      std::string view;
      if (lines_drawn_ > 0) absl::StrAppend(&view, "\033[", lines_drawn_, "F\033[J");
      absl::StrAppend(&view, TruncateToWidth(absl::StrCat(Clock(), " ", SummaryLine(totals)), width),
                      "\n");
      lines_drawn_ = 1;
      if (!snapshot && !recent_.empty()) {
        absl::StrAppend(&view,
                        TruncateToWidth(absl::StrCat("  last change: ", recent_.back()), width),
                        "\n");
        lines_drawn_ = 2;
      }
      out_ << view;
      out_.flush();
      return;
    }
    if (config_.terminal) {
      // Cursor home and clear: the view is redrawn in place.
      std::string view = "\033[H\033[2J";
      absl::StrAppend(&view, "sanhak — live (analytics at ", client_.Address(Service::kAnalytics),
                      "), ", Clock(), "\n\n");
      Table t({"COUNCILS", "ORGANIZATIONS", "ACTIVITIES", "REGISTRATIONS", "OUTCOMES", "FUNDING",
               "NATIONAL", "DEALS"});
      for (size_t i = 0; i < 8; ++i) t.AlignRight(i);
      t.AddRow({absl::StrCat(totals.councils), absl::StrCat(totals.organizations),
                absl::StrCat(totals.activities), absl::StrCat(totals.registrations),
                absl::StrCat(totals.outcomes), FormatKrw(totals.total_budget_krw),
                FormatKrw(totals.national_share_krw), FormatKrw(totals.deal_amount_krw)});
      view += t.Render();
      if (!config_.summary_only) {
        Table kinds({"ACTIVITY KIND", "COUNT"});
        kinds.AlignRight(1);
        for (const auto& c : aggregates_.activities_by_kind()) {
          kinds.AddRow({c.label().empty() ? c.key() : c.label(), absl::StrCat(c.value())});
        }
        absl::StrAppend(&view, "\n", kinds.Render());
      }
      absl::StrAppend(&view, "\nrecent changes:\n");
      for (const auto& line : recent_) absl::StrAppend(&view, "  ", TruncateToWidth(line, 110), "\n");
      out_ << view;
      out_.flush();
      return;
    }
    if (config_.summary_only) {
      // Plain lines on change only, so a log stays short.
      if (snapshot || totals != last_totals_) {
        out_ << Clock() << " " << SummaryLine(totals) << "\n";
        out_.flush();
      }
    } else if (snapshot) {
      out_ << Clock() << " snapshot: " << SummaryLine(totals) << "\n";
      out_.flush();
    } else {
      out_ << recent_.back() << "\n";
      out_.flush();
    }
    last_totals_ = totals;
  }

  Client& client_;
  const WatchConfig& config_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<av1::AnalyticsService::Stub> stub_;
  std::string token_;
  av1::Aggregates aggregates_;
  bool have_snapshot_ = false;
  std::map<std::string, int64_t> flat_;
  std::deque<std::string> recent_;
  Totals last_totals_;
  int updates_ = 0;
  // Lines of the last in-place summary, to move back over.
  int lines_drawn_ = 0;
};

}  // namespace

absl::Status Watch(Client& client, const WatchConfig& config, std::ostream& out,
                   std::ostream& err) {
  Watcher watcher(client, config, out, err);
  return watcher.Run();
}

}  // namespace sanhak::ctl
