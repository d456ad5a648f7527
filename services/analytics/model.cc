#include "services/analytics/model.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "sanhak/events/v1/events.pb.h"
#include "sanhak/registry/v1/registry.pb.h"

namespace sanhak::analytics {
namespace {

namespace rv1 = ::sanhak::registry::v1;
namespace ev1 = ::sanhak::events::v1;

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

void AddMembers(v1::MemberCounts& to, const rv1::MemberComposition& m) {
  to.set_total(to.total() + m.total());
  to.set_companies(to.companies() + m.companies());
  to.set_universities(to.universities() + m.universities());
  to.set_research_institutes(to.research_institutes() + m.research_institutes());
  to.set_support_agencies(to.support_agencies() + m.support_agencies());
  to.set_others(to.others() + m.others());
}

void AddMembers(v1::MemberCounts& to, const v1::MemberCounts& m) {
  rv1::MemberComposition as_composition;
  as_composition.set_total(static_cast<int32_t>(m.total()));
  as_composition.set_companies(static_cast<int32_t>(m.companies()));
  as_composition.set_universities(static_cast<int32_t>(m.universities()));
  as_composition.set_research_institutes(static_cast<int32_t>(m.research_institutes()));
  as_composition.set_support_agencies(static_cast<int32_t>(m.support_agencies()));
  as_composition.set_others(static_cast<int32_t>(m.others()));
  AddMembers(to, as_composition);
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
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(a.time_zone().empty() ? "Asia/Seoul" : a.time_zone(), &zone)) {
    zone = absl::UTCTimeZone();
  }
  return absl::FormatTime("%Y-%m", absl::FromUnixSeconds(a.start_time().seconds()), zone);
}

void AddOutcome(v1::OutcomeSums& sums, const ev1::Outcome& o) {
  sums.set_outcomes(sums.outcomes() + 1);
  sums.set_total_budget_krw(sums.total_budget_krw() + o.total_budget_krw());
  sums.set_national_share_krw(sums.national_share_krw() + o.national_share_krw());
  sums.set_deal_amount_krw(sums.deal_amount_krw() + o.deal_amount_krw());
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

void Flatten(const std::string& prefix, const v1::MemberCounts& m,
             std::map<std::string, int64_t>& out) {
  out[prefix + ".total"] = m.total();
  out[prefix + ".companies"] = m.companies();
  out[prefix + ".universities"] = m.universities();
  out[prefix + ".research_institutes"] = m.research_institutes();
  out[prefix + ".support_agencies"] = m.support_agencies();
  out[prefix + ".others"] = m.others();
}

void Flatten(const std::string& prefix, const v1::OutcomeSums& s,
             std::map<std::string, int64_t>& out) {
  out[prefix + ".outcomes"] = s.outcomes();
  out[prefix + ".total_budget_krw"] = s.total_budget_krw();
  out[prefix + ".national_share_krw"] = s.national_share_krw();
  out[prefix + ".deal_amount_krw"] = s.deal_amount_krw();
}

std::map<std::string, int64_t> Flatten(const v1::Aggregates& a) {
  std::map<std::string, int64_t> out;
  auto counts = [&](const char* name, const auto& list) {
    for (const v1::Count& c : list) out[absl::StrCat(name, "[", c.key(), "]")] = c.value();
  };
  out["councils"] = a.councils();
  counts("councils_by_field", a.councils_by_field());
  counts("councils_by_forum_session", a.councils_by_forum_session());
  counts("councils_by_region", a.councils_by_region());
  for (const auto& m : a.members_by_council()) {
    Flatten(absl::StrCat("members_by_council[", m.key(), "].reported"), m.reported(), out);
    Flatten(absl::StrCat("members_by_council[", m.key(), "].registered"), m.registered(), out);
  }
  for (const auto& m : a.members_by_field()) {
    Flatten(absl::StrCat("members_by_field[", m.key(), "].reported"), m.reported(), out);
    Flatten(absl::StrCat("members_by_field[", m.key(), "].registered"), m.registered(), out);
  }
  out["activities"] = a.activities();
  counts("activities_by_kind", a.activities_by_kind());
  counts("activities_by_council", a.activities_by_council());
  counts("activities_by_month", a.activities_by_month());
  for (const auto& s : a.outcomes_by_category()) {
    Flatten(absl::StrCat("outcomes_by_category[", s.category(), "]"), s, out);
  }
  Flatten("outcomes_total", a.outcomes_total(), out);
  out["registrations"] = a.registrations();
  for (const auto& r : a.reported_vs_counted()) {
    out[absl::StrCat("reported_vs_counted[", r.metric(), "].reported")] = r.reported();
    out[absl::StrCat("reported_vs_counted[", r.metric(), "].counted")] = r.counted();
  }
  return out;
}

}  // namespace

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

v1::Aggregates ComputeAggregates(const Mirror& mirror) {
  const World w(mirror);
  v1::Aggregates a;
  a.set_councils(static_cast<int64_t>(w.councils.size()));
  Tally by_field, by_session, by_region;
  std::map<std::string, v1::MembersOf> members_by_field;
  const std::map<std::string, v1::MemberCounts> registered = w.Registered();
  for (const auto& [name, c] : w.councils) {
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
  by_field.To(a.mutable_councils_by_field());
  by_session.To(a.mutable_councils_by_forum_session());
  by_region.To(a.mutable_councils_by_region());
  for (auto& [field, m] : members_by_field) *a.add_members_by_field() = std::move(m);

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

  std::map<std::string, v1::OutcomeSums> by_category;
  for (const auto& [name, o] : w.outcomes) {
    std::string category = ev1::OutcomeCategory_Name(o.category());
    v1::OutcomeSums& sums = by_category[category];
    sums.set_category(category);
    AddOutcome(sums, o);
    AddOutcome(*a.mutable_outcomes_total(), o);
  }
  for (auto& [category, sums] : by_category) *a.add_outcomes_by_category() = std::move(sums);
  a.mutable_outcomes_total()->set_category("ALL");

  int64_t registrations = 0;
  for (const auto& [name, r] : w.registrations) registrations += r.state() != ev1::CANCELLED;
  a.set_registrations(registrations);

  // The program's own figures beside the counts here.
  int64_t top_fields = 0;
  for (const auto& [name, f] : w.fields) top_fields += f.parent().empty();
  const std::map<std::string, int64_t> counted = {
      {"councils", a.councils()},
      {"fields", top_fields},
      {"participating_organizations", static_cast<int64_t>(w.organizations.size())},
      {"networking_activities", a.activities()},
  };
  for (const auto& [name, figure] : w.figures) {
    v1::ReportedVsCounted* r = a.add_reported_vs_counted();
    r->set_metric(figure.metric());
    r->set_reported(figure.value());
    r->set_reported_approximate(figure.approximate());
    auto it = counted.find(figure.metric());
    r->set_counted(it == counted.end() ? 0 : it->second);
  }
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
  std::map<std::string, v1::OutcomeSums> by_category;
  v1::OutcomeSums total;
  for (const auto& [name, o] : w.outcomes) {
    if (o.council() != council) continue;
    std::string category = ev1::OutcomeCategory_Name(o.category());
    by_category[category].set_category(category);
    AddOutcome(by_category[category], o);
    AddOutcome(total, o);
  }
  for (auto& [category, sums] : by_category) *card.add_outcomes_by_category() = sums;
  card.set_outcomes(total.outcomes());
  card.set_total_budget_krw(total.total_budget_krw());
  card.set_national_share_krw(total.national_share_krw());
  card.set_deal_amount_krw(total.deal_amount_krw());
  return card;
}

v1::Network ComputeNetwork(const Mirror& mirror, int top_complexes) {
  const World w(mirror);
  v1::Network network;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> links;
  Tally complexes, regions;
  for (const auto& [name, c] : w.councils) {
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

std::vector<std::string> ChangedPaths(const v1::Aggregates& before,
                                      const v1::Aggregates& after) {
  std::map<std::string, int64_t> a = Flatten(before), b = Flatten(after);
  std::vector<std::string> changed;
  for (const auto& [path, value] : b) {
    auto it = a.find(path);
    if (it == a.end() ? value != 0 : it->second != value) changed.push_back(path);
  }
  for (const auto& [path, value] : a) {
    if (b.count(path) == 0 && value != 0) changed.push_back(path);
  }
  std::sort(changed.begin(), changed.end());
  return changed;
}

}  // namespace sanhak::analytics
