#include "services/analytics/model.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "clients/analytics/aggregate_paths.h"
#include "common/status.h"
#include "common/time_zones.h"
#include "sanhak/events/v1/events.pb.h"
#include "sanhak/registry/v1/registry.pb.h"

namespace sanhak::analytics {
namespace {

namespace rv1 = ::sanhak::registry::v1;
namespace ev1 = ::sanhak::events::v1;

// The reported figure that is set against the number of activities.
constexpr char kActivitiesMetric[] = "networking_activities";

// An ordered tally with labels, turned into repeated Count.
class Tally {
 public:
  void Add(const std::string& key, const std::string& label, int64_t n = 1) {
    auto& [value, saved_label] = counts_[key];
    value += n;
    if (!label.empty()) saved_label = label;
  }
  void To(google::protobuf::RepeatedPtrField<v1::Count>* out) const {
    for (const auto& [key, entry] : counts_) {
      v1::Count* c = out->Add();
      c->set_key(key);
      c->set_label(entry.second.empty() ? key : entry.second);
      c->set_value(entry.first);
    }
  }
  const std::map<std::string, std::pair<int64_t, std::string>>& counts() const {
    return counts_;
  }

 private:
  std::map<std::string, std::pair<int64_t, std::string>> counts_;
};

// Adds a council's reported composition (rv1::MemberComposition) or another sum
// (v1::MemberCounts): the same six fields. In int64 throughout: a field's sum of councils'
// counts may exceed int32.
template <typename Members>
void AddMembers(v1::MemberCounts& to, const Members& m) {
  to.set_total(to.total() + m.total());
  to.set_companies(to.companies() + m.companies());
  to.set_universities(to.universities() + m.universities());
  to.set_research_institutes(to.research_institutes() + m.research_institutes());
  to.set_support_agencies(to.support_agencies() + m.support_agencies());
  to.set_others(to.others() + m.others());
}

void CountMember(v1::MemberCounts& to, rv1::OrganizationKind kind) {
  to.set_total(to.total() + 1);
  switch (kind) {
    case rv1::COMPANY: to.set_companies(to.companies() + 1); break;
    case rv1::UNIVERSITY: to.set_universities(to.universities() + 1); break;
    case rv1::RESEARCH_INSTITUTE: to.set_research_institutes(to.research_institutes() + 1); break;
    case rv1::SUPPORT_AGENCY: to.set_support_agencies(to.support_agencies() + 1); break;
    default: to.set_others(to.others() + 1);
  }
}

// The council of a membership name "councils/{c}/memberships/{o}".
std::string CouncilOf(const std::string& membership) {
  size_t slash = membership.find('/', std::string("councils/").size());
  return membership.substr(0, slash);
}

// The field and its ancestors, most specific first.
std::vector<std::string> FieldChain(const std::map<std::string, rv1::Field>& fields,
                                    const std::string& field) {
  std::vector<std::string> chain;
  for (std::string f = field; !f.empty() && chain.size() < 8;) {
    chain.push_back(f);
    auto it = fields.find(f);
    if (it == fields.end()) break;
    f = it->second.parent();
  }
  return chain;
}

std::string Label(const std::map<std::string, rv1::Field>& fields, const std::string& name) {
  auto it = fields.find(name);
  return it == fields.end() ? name : it->second.display_name();
}

std::string MonthOf(const ev1::Activity& a) {
  if (a.start_time().seconds() == 0 && a.start_time().nanos() == 0) return "undated";
  // Only a name the tz database declares reaches the zone loader (which caches every name
  // it is given); the events service accepts no other, a record from before it checked
  // counts in UTC.
  absl::TimeZone zone =
      FindTimeZone(a.time_zone().empty() ? "Asia/Seoul" : a.time_zone())
          .value_or(absl::UTCTimeZone());
  return absl::FormatTime("%Y-%m", absl::FromUnixSeconds(a.start_time().seconds()), zone);
}

// Outcomes and their amounts, summed exactly (see SaturatedSum).
struct OutcomeTotals {
  int64_t outcomes = 0;
  absl::int128 total_budget_krw = 0;
  absl::int128 national_share_krw = 0;
  absl::int128 deal_amount_krw = 0;

  void Add(const ev1::Outcome& o) {
    ++outcomes;
    total_budget_krw += o.total_budget_krw();
    national_share_krw += o.national_share_krw();
    deal_amount_krw += o.deal_amount_krw();
  }
  void To(v1::OutcomeSums& sums) const {
    sums.set_outcomes(outcomes);
    sums.set_total_budget_krw(SaturatedSum(total_budget_krw));
    sums.set_national_share_krw(SaturatedSum(national_share_krw));
    sums.set_deal_amount_krw(SaturatedSum(deal_amount_krw));
  }
};

// Sums the outcomes `keep` accepts: per category into `by_category` (in category order),
// and in all, which it returns.
template <typename Keep>
OutcomeTotals SumOutcomes(const std::map<std::string, ev1::Outcome>& outcomes, Keep keep,
                          google::protobuf::RepeatedPtrField<v1::OutcomeSums>& by_category) {
  std::map<std::string, OutcomeTotals> categories;
  OutcomeTotals total;
  for (const auto& [name, o] : outcomes) {
    if (!keep(o)) continue;
    categories[ev1::OutcomeCategory_Name(o.category())].Add(o);
    total.Add(o);
  }
  for (const auto& [category, sums] : categories) {
    v1::OutcomeSums* out = by_category.Add();
    out->set_category(category);
    sums.To(*out);
  }
  return total;
}

// Everything the computations need, parsed once.
struct World {
  explicit World(const Mirror& m)
      : fields(m.live().fields),
        regions(m.live().regions),
        complexes(m.live().complexes),
        councils(m.live().councils),
        organizations(m.live().organizations),
        memberships(m.live().memberships),
        figures(m.live().figures),
        activities(m.live().activities),
        registrations(m.live().registrations),
        outcomes(m.live().outcomes) {}

  std::string RegionLabel(const std::string& name) const {
    auto it = regions.find(name);
    return it == regions.end() ? name : it->second.short_name();
  }

  // Memberships recorded per council, by the organization's kind.
  std::map<std::string, v1::MemberCounts> Registered() const {
    std::map<std::string, v1::MemberCounts> out;
    for (const auto& [name, m] : memberships) {
      auto org = organizations.find(m.organization());
      CountMember(out[CouncilOf(name)], org == organizations.end()
                                            ? rv1::ORGANIZATION_KIND_UNSPECIFIED
                                            : org->second.kind());
    }
    return out;
  }

  const std::map<std::string, rv1::Field>& fields;
  const std::map<std::string, rv1::Region>& regions;
  const std::map<std::string, rv1::IndustrialComplex>& complexes;
  const std::map<std::string, rv1::Council>& councils;
  const std::map<std::string, rv1::Organization>& organizations;
  const std::map<std::string, rv1::Membership>& memberships;
  const std::map<std::string, rv1::ReportedFigure>& figures;
  const std::map<std::string, ev1::Activity>& activities;
  const std::map<std::string, ev1::Registration>& registrations;
  const std::map<std::string, ev1::Outcome>& outcomes;
};

}  // namespace

int64_t SaturatedSum(absl::int128 sum) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if (sum > kMax) return kMax;
  if (sum < kMin) return kMin;
  return static_cast<int64_t>(sum);
}

bool Mirror::Apply(const changes::v1::ChangeRecord& record) {
  const bool deletion = record.kind() == changes::v1::DELETED;
  auto it = entries_.find(record.resource_name());
  if (it != entries_.end()) {
    const Entry& held = it->second;
    // The store writes a deletion with the revision of the last state (a delete takes no
    // new revision), so a deletion at the held revision of a live resource is newer.
    const bool newer = record.revision() > held.revision ||
                       (record.revision() == held.revision && deletion && !held.deleted);
    if (!newer) return false;
  }
  Entry& entry = entries_[record.resource_name()];
  entry.revision = record.revision();
  entry.deleted = deletion;
  entry.collection = record.collection();
  entry.state = record.state();
  Index(record.resource_name(), entry);
  return true;
}

namespace {
template <typename T>
void Reindex(std::map<std::string, T>& live, const std::string& name,
             const Mirror::Entry& entry) {
  T message;
  if (entry.deleted || !entry.state.UnpackTo(&message)) {
    live.erase(name);
  } else {
    live[name] = std::move(message);
  }
}
}  // namespace

void Mirror::Index(const std::string& name, const Entry& entry) {
  const std::string& c = entry.collection;
  if (c == "fields") Reindex(live_.fields, name, entry);
  else if (c == "regions") Reindex(live_.regions, name, entry);
  else if (c == "complexes") Reindex(live_.complexes, name, entry);
  else if (c == "councils") Reindex(live_.councils, name, entry);
  else if (c == "organizations") Reindex(live_.organizations, name, entry);
  else if (c == "memberships") Reindex(live_.memberships, name, entry);
  else if (c == "reportedFigures") Reindex(live_.figures, name, entry);
  else if (c == "activities") Reindex(live_.activities, name, entry);
  else if (c == "registrations") Reindex(live_.registrations, name, entry);
  else if (c == "outcomes") Reindex(live_.outcomes, name, entry);
}

void Mirror::Set(const std::string& name, const std::string& collection, int64_t revision,
                 const google::protobuf::Message& state) {
  Entry& entry = entries_[name];
  if (entry.revision > revision) return;
  entry.revision = revision;
  entry.deleted = false;
  entry.collection = collection;
  entry.state.PackFrom(state);
  Index(name, entry);
}

namespace {

// The fields of Aggregates that depend on the registry alone; `activities` is the count
// reported_vs_counted's "networking_activities" is set against.
void CountRegistry(const World& w, int64_t activities, v1::Aggregates& a) {
  Tally by_field, by_session, by_region;
  std::map<std::string, v1::MembersOf> members_by_field;
  const std::map<std::string, v1::MemberCounts> registered = w.Registered();
  int64_t councils = 0;
  for (const auto& [name, c] : w.councils) {
    // A soft-deleted council is kept (what names it still resolves) but counts no more.
    if (c.has_delete_time()) continue;
    ++councils;
    v1::MembersOf* members = a.add_members_by_council();
    members->set_key(name);
    members->set_label(c.display_name());
    AddMembers(*members->mutable_reported(), c.reported_members());
    auto reg = registered.find(name);
    if (reg != registered.end()) *members->mutable_registered() = reg->second;
    for (const std::string& field : FieldChain(w.fields, c.field())) {
      by_field.Add(field, Label(w.fields, field));
      v1::MembersOf& f = members_by_field[field];
      f.set_key(field);
      f.set_label(Label(w.fields, field));
      AddMembers(*f.mutable_reported(), members->reported());
      AddMembers(*f.mutable_registered(), members->registered());
    }
    if (c.forum_session() > 0) {
      by_session.Add(absl::StrCat(c.forum_session()), absl::StrCat(c.forum_session(), "세션"));
    }
    for (const std::string& region : c.regions()) by_region.Add(region, w.RegionLabel(region));
  }
  a.set_councils(councils);
  by_field.To(a.mutable_councils_by_field());
  by_session.To(a.mutable_councils_by_forum_session());
  by_region.To(a.mutable_councils_by_region());
  for (auto& [field, m] : members_by_field) *a.add_members_by_field() = std::move(m);

  // The program's own figures beside the counts here.
  int64_t top_fields = 0;
  for (const auto& [name, f] : w.fields) top_fields += f.parent().empty();
  const std::map<std::string, int64_t> counted = {
      {"councils", a.councils()},
      {"fields", top_fields},
      {"participating_organizations",
       static_cast<int64_t>(std::count_if(
           w.organizations.begin(), w.organizations.end(),
           [](const auto& entry) { return !entry.second.has_delete_time(); }))},
      {kActivitiesMetric, activities},
  };
  for (const auto& [name, figure] : w.figures) {
    v1::ReportedVsCounted* r = a.add_reported_vs_counted();
    r->set_metric(figure.metric());
    r->set_reported(figure.value());
    r->set_reported_approximate(figure.approximate());
    auto it = counted.find(figure.metric());
    r->set_counted(it == counted.end() ? 0 : it->second);
  }
}

}  // namespace

v1::Aggregates ComputeAggregates(const Mirror& mirror) {
  const World w(mirror);
  v1::Aggregates a;
  CountRegistry(w, static_cast<int64_t>(w.activities.size()), a);

  Tally by_kind, by_council, by_month;
  for (const auto& [name, activity] : w.activities) {
    by_kind.Add(ev1::ActivityKind_Name(activity.kind()), "");
    for (const std::string& council : activity.councils()) {
      auto c = w.councils.find(council);
      by_council.Add(council, c == w.councils.end() ? council : c->second.display_name());
    }
    by_month.Add(MonthOf(activity), "");
  }
  a.set_activities(static_cast<int64_t>(w.activities.size()));
  by_kind.To(a.mutable_activities_by_kind());
  by_council.To(a.mutable_activities_by_council());
  by_month.To(a.mutable_activities_by_month());

  const OutcomeTotals total = SumOutcomes(
      w.outcomes, [](const ev1::Outcome&) { return true; }, *a.mutable_outcomes_by_category());
  total.To(*a.mutable_outcomes_total());
  a.mutable_outcomes_total()->set_category("ALL");

  int64_t registrations = 0;
  for (const auto& [name, r] : w.registrations) registrations += r.state() != ev1::CANCELLED;
  a.set_registrations(registrations);
  return a;
}

absl::StatusOr<v1::CouncilScorecard> ComputeScorecard(const Mirror& mirror,
                                                     const std::string& council) {
  const World w(mirror);
  auto it = w.councils.find(council);
  if (it == w.councils.end()) {
    return WithReason(absl::NotFoundError(absl::StrCat(council, " is not a known council")),
                      "RESOURCE_NOT_FOUND");
  }
  const rv1::Council& c = it->second;
  v1::CouncilScorecard card;
  card.set_council(council);
  card.set_display_name(c.display_name());
  card.set_field(c.field());
  for (const std::string& region : c.regions()) card.add_regions(region);
  AddMembers(*card.mutable_reported_members(), c.reported_members());
  const auto registered = w.Registered();
  if (auto r = registered.find(council); r != registered.end()) {
    *card.mutable_registered_members() = r->second;
  }
  Tally by_kind;
  std::set<std::string> activities;
  for (const auto& [name, a] : w.activities) {
    if (std::find(a.councils().begin(), a.councils().end(), council) == a.councils().end()) {
      continue;
    }
    activities.insert(name);
    by_kind.Add(ev1::ActivityKind_Name(a.kind()), "");
  }
  card.set_activities(static_cast<int64_t>(activities.size()));
  by_kind.To(card.mutable_activities_by_kind());
  int64_t registrations = 0;
  for (const auto& [name, r] : w.registrations) {
    std::string activity = name.substr(0, name.find("/registrations/"));
    registrations += activities.count(activity) > 0 && r.state() != ev1::CANCELLED;
  }
  card.set_registrations(registrations);
  const OutcomeTotals total = SumOutcomes(
      w.outcomes, [&](const ev1::Outcome& o) { return o.council() == council; },
      *card.mutable_outcomes_by_category());
  v1::OutcomeSums sums;
  total.To(sums);
  card.set_outcomes(sums.outcomes());
  card.set_total_budget_krw(sums.total_budget_krw());
  card.set_national_share_krw(sums.national_share_krw());
  card.set_deal_amount_krw(sums.deal_amount_krw());
  return card;
}

v1::Network ComputeNetwork(const Mirror& mirror, int top_complexes) {
  const World w(mirror);
  v1::Network network;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> links;
  Tally complexes, regions;
  for (const auto& [name, c] : w.councils) {
    if (c.has_delete_time()) continue;  // the network of live councils
    std::vector<std::string> rs(c.regions().begin(), c.regions().end());
    std::sort(rs.begin(), rs.end());
    for (size_t i = 0; i < rs.size(); ++i) {
      regions.Add(rs[i], w.RegionLabel(rs[i]));
      for (size_t j = i + 1; j < rs.size(); ++j) links[{rs[i], rs[j]}].push_back(name);
    }
    for (const std::string& complex : c.complexes()) {
      auto it = w.complexes.find(complex);
      complexes.Add(complex, it == w.complexes.end() ? complex : it->second.display_name());
    }
  }
  for (const auto& [pair, councils] : links) {
    v1::RegionLink* link = network.add_links();
    link->set_region_a(pair.first);
    link->set_region_b(pair.second);
    for (const std::string& c : councils) link->add_councils(c);
  }
  auto ranked = [](const Tally& tally, int limit,
                   google::protobuf::RepeatedPtrField<v1::Count>* out) {
    std::vector<std::pair<std::string, std::pair<int64_t, std::string>>> items(
        tally.counts().begin(), tally.counts().end());
    std::stable_sort(items.begin(), items.end(), [](const auto& x, const auto& y) {
      return x.second.first > y.second.first;
    });
    for (const auto& [key, entry] : items) {
      if (limit >= 0 && out->size() >= limit) break;
      v1::Count* c = out->Add();
      c->set_key(key);
      c->set_label(entry.second);
      c->set_value(entry.first);
    }
  };
  ranked(complexes, top_complexes > 0 ? top_complexes : 10, network.mutable_hub_complexes());
  ranked(regions, -1, network.mutable_hub_regions());
  return network;
}

// ------------------------------------------------------------------ Aggregator

namespace {

bool IsEventCollection(const std::string& c) {
  return c == "activities" || c == "registrations" || c == "outcomes";
}

}  // namespace

void Aggregator::Reset(Mirror mirror) {
  mirror_ = std::move(mirror);
  events_ = EventCounts();
  Moved moved;
  const Mirror::Live& live = mirror_.live();
  for (const auto& [name, a] : live.activities) Contribute(a, +1, moved);
  for (const auto& [name, r] : live.registrations) Contribute(r, +1, moved);
  for (const auto& [name, o] : live.outcomes) Contribute(o, +1, moved);
  RecountRegistryPart();
  built_ = false;
}

void Aggregator::RecountRegistryPart() {
  registry_part_.Clear();
  CountRegistry(World(mirror_), events_.activities, registry_part_);
}

void Aggregator::Contribute(const events::v1::Activity& a, int sign,
                            Moved& moved) {
  auto add = [&](int64_t& value, const std::string& path) {
    value += sign;
    moved[path] += sign;
  };
  add(events_.activities, "activities");
  const std::string kind = ev1::ActivityKind_Name(a.kind());
  add(events_.by_kind[kind], absl::StrCat("activities_by_kind[", kind, "]"));
  for (const std::string& council : a.councils()) {
    add(events_.by_council[council], absl::StrCat("activities_by_council[", council, "]"));
  }
  const std::string month = MonthOf(a);
  add(events_.by_month[month], absl::StrCat("activities_by_month[", month, "]"));
}

void Aggregator::Contribute(const events::v1::Registration& r, int sign,
                            Moved& moved) {
  if (r.state() == ev1::CANCELLED) return;
  events_.registrations += sign;
  moved["registrations"] += sign;
}

void Aggregator::Contribute(const events::v1::Outcome& o, int sign,
                            Moved& moved) {
  const std::string category = ev1::OutcomeCategory_Name(o.category());
  auto add = [&](Sums& sums, const std::string& prefix) {
    // In 128 bits: sign * INT64_MIN, or a sum of large amounts, overflows int64.
    const absl::int128 total = absl::int128(sign) * o.total_budget_krw();
    const absl::int128 national = absl::int128(sign) * o.national_share_krw();
    const absl::int128 deal = absl::int128(sign) * o.deal_amount_krw();
    sums.outcomes += sign;
    sums.total_budget_krw += total;
    sums.national_share_krw += national;
    sums.deal_amount_krw += deal;
    moved[prefix + ".outcomes"] += sign;
    moved[prefix + ".total_budget_krw"] += total;
    moved[prefix + ".national_share_krw"] += national;
    moved[prefix + ".deal_amount_krw"] += deal;
  };
  add(events_.by_category[category], absl::StrCat("outcomes_by_category[", category, "]"));
  add(events_.total, "outcomes_total");
}

template <typename T>
bool Aggregator::ApplyEvent(const std::map<std::string, T>& live,
                            const changes::v1::ChangeRecord& record,
                            Moved& moved) {
  std::optional<T> old;
  if (auto it = live.find(record.resource_name()); it != live.end()) old = it->second;
  if (!mirror_.Apply(record)) return false;
  if (old.has_value()) Contribute(*old, -1, moved);
  if (auto it = live.find(record.resource_name()); it != live.end()) {
    Contribute(it->second, +1, moved);
  }
  return true;
}

bool Aggregator::Apply(const changes::v1::ChangeRecord& record, v1::AggregatesUpdate* update) {
  const std::string& collection = record.collection();
  if (!IsEventCollection(collection)) {
    // Registry changes are rare and the registry small: recount its part and compare the
    // whole (a council's new name also relabels its activity count).
    v1::Aggregates before;
    if (update != nullptr) before = aggregates();
    if (!mirror_.Apply(record)) return false;
    RecountRegistryPart();
    built_ = false;
    if (update != nullptr) DiffAggregates(before, aggregates(), update);
    return true;
  }
  Moved moved;
  const Mirror::Live& live = mirror_.live();
  bool changed = collection == "activities"      ? ApplyEvent(live.activities, record, moved)
                 : collection == "registrations" ? ApplyEvent(live.registrations, record, moved)
                                                 : ApplyEvent(live.outcomes, record, moved);
  if (!changed) return false;
  built_ = false;
  // reported_vs_counted follows the number of activities.
  const bool activities_moved = moved["activities"] != 0;
  for (v1::ReportedVsCounted& r : *registry_part_.mutable_reported_vs_counted()) {
    if (r.metric() != kActivitiesMetric || !activities_moved) continue;
    r.set_counted(events_.activities);
    moved[absl::StrCat("reported_vs_counted[", r.metric(), "].counted")] = 1;
  }
  if (update == nullptr) return true;
  // An outcome category that appears or disappears changes all its values (as
  // DiffAggregates would say), also those that stay zero.
  for (const auto& [category, sums] : events_.by_category) {
    const std::string entry = absl::StrCat("outcomes_by_category[", category, "]");
    auto it = moved.find(entry + ".outcomes");
    if (it == moved.end() || it->second == 0) continue;
    const bool before = sums.outcomes - it->second != 0;
    const bool now = sums.outcomes != 0;
    if (before == now) continue;
    for (const char* value : {".outcomes", ".total_budget_krw", ".national_share_krw",
                              ".deal_amount_krw"}) {
      if (moved[entry + value] == 0) moved[entry + value] = 1;
    }
  }
  std::set<std::string> removed;
  for (const auto& [path, net] : moved) {
    if (net == 0) continue;
    update->add_changed(path);
    absl::StatusOr<std::pair<int64_t, bool>> value = EventValue(path);
    if (!value.ok()) continue;
    const std::string entry = EntryOfPath(path);
    if (!value->second) {
      // The entry is gone (its count reached zero), as a recount would not list it.
      removed.insert(entry);
      continue;
    }
    v1::AggregateValue* v = update->add_values();
    v->set_path(path);
    v->set_value(value->first);
    if (absl::StartsWith(path, "activities_by_council[")) {
      const std::string council = path.substr(22, path.size() - 23);
      auto c = live.councils.find(council);
      v->set_label(c == live.councils.end() ? council : c->second.display_name());
    } else if (!entry.empty() && !absl::StartsWith(path, "outcomes_by_category[") &&
               !absl::StartsWith(path, "reported_vs_counted[")) {
      v->set_label(entry.substr(entry.find('[') + 1, entry.size() - entry.find('[') - 2));
    }
  }
  for (const std::string& entry : removed) update->add_removed(entry);
  return true;
}

absl::StatusOr<std::pair<int64_t, bool>> Aggregator::EventValue(const std::string& path) const {
  absl::StatusOr<AggregatePath> p = ParseAggregatePath(path);
  if (!p.ok()) return p.status();
  auto in = [&](const std::map<std::string, int64_t>& m) -> std::pair<int64_t, bool> {
    auto it = m.find(p->key);
    int64_t v = it == m.end() ? 0 : it->second;
    return {v, v != 0};
  };
  auto sum = [&](const Sums& s, const std::string& name) -> int64_t {
    if (name == "outcomes") return s.outcomes;
    if (name == "total_budget_krw") return SaturatedSum(s.total_budget_krw);
    if (name == "national_share_krw") return SaturatedSum(s.national_share_krw);
    return SaturatedSum(s.deal_amount_krw);
  };
  if (p->list == "activities") return std::make_pair(events_.activities, true);
  if (p->list == "registrations") return std::make_pair(events_.registrations, true);
  if (p->list == "activities_by_kind") return in(events_.by_kind);
  if (p->list == "activities_by_council") return in(events_.by_council);
  if (p->list == "activities_by_month") return in(events_.by_month);
  if (p->list == "outcomes_total" && p->rest.size() == 1) {
    return std::make_pair(sum(events_.total, p->rest[0]), true);
  }
  if (p->list == "outcomes_by_category" && p->rest.size() == 1) {
    auto it = events_.by_category.find(p->key);
    if (it == events_.by_category.end() || it->second.outcomes == 0) {
      return std::make_pair(int64_t{0}, false);
    }
    return std::make_pair(sum(it->second, p->rest[0]), true);
  }
  if (p->list == "reported_vs_counted") return std::make_pair(events_.activities, true);
  return absl::NotFoundError(path);
}

const v1::Aggregates& Aggregator::aggregates() {
  if (built_) return built_aggregates_;
  v1::Aggregates& a = built_aggregates_;
  a = registry_part_;
  a.set_activities(events_.activities);
  auto counts = [](const std::map<std::string, int64_t>& m, auto* out, auto label) {
    for (const auto& [key, value] : m) {
      if (value == 0) continue;
      v1::Count* c = out->Add();
      c->set_key(key);
      c->set_label(label(key));
      c->set_value(value);
    }
  };
  auto same = [](const std::string& key) { return key; };
  const auto& councils = mirror_.live().councils;
  counts(events_.by_kind, a.mutable_activities_by_kind(), same);
  counts(events_.by_council, a.mutable_activities_by_council(), [&](const std::string& key) {
    auto c = councils.find(key);
    return c == councils.end() ? key : c->second.display_name();
  });
  counts(events_.by_month, a.mutable_activities_by_month(), same);
  auto to = [](const std::string& category, const Sums& s, v1::OutcomeSums* out) {
    out->set_category(category);
    out->set_outcomes(s.outcomes);
    out->set_total_budget_krw(SaturatedSum(s.total_budget_krw));
    out->set_national_share_krw(SaturatedSum(s.national_share_krw));
    out->set_deal_amount_krw(SaturatedSum(s.deal_amount_krw));
  };
  for (const auto& [category, sums] : events_.by_category) {
    if (sums.outcomes != 0) to(category, sums, a.add_outcomes_by_category());
  }
  to("ALL", events_.total, a.mutable_outcomes_total());
  a.set_registrations(events_.registrations);
  built_ = true;
  return a;
}

}  // namespace sanhak::analytics
