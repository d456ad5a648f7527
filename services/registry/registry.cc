#include "services/registry/registry.h"

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crud.h"
#include "common/resource_names.h"
#include "common/status.h"
#include "common/validation.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/field_mask_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace sanhak::registry {
namespace {

using crud::CheckNames;
using crud::ClearMeta;
using crud::Commit;
using crud::CreateOnce;
using crud::Decode;
using crud::DeleteResource;
using crud::DeterministicBytes;
using crud::ForEach;
using crud::GetByName;
using crud::GetResource;
using crud::ImportAll;
using crud::IndexKey;
using crud::kMaxNameChars;
using crud::kMaxTextChars;
using crud::kSearchSeparator;
using crud::ListResources;
using crud::AppendWith;
using crud::EnumFilter;
using crud::ListSpec;
using crud::ParentFilter;
using crud::NamesOf;
using crud::NameFilter;
using crud::NoDependents;
using crud::NotFound;
using crud::Path;
using crud::Plain;
using crud::Prepared;
using crud::Reference;
using crud::RefusedWhileLiveReferenced;
using crud::RefusedWhileReferenced;
using crud::SearchText;
using crud::SetMeta;
using crud::UpdateResource;
using crud::NewName;
using store::IndexEntry;
using store::ReadView;
using store::Resource;
using store::WriteTransaction;

// The collections of the registry's kinds, as their protos name them (google.api.resource;
// common/resource_kind.h), read on first use.
const std::string& Fields() { return crud::CollectionOf<v1::Field>(); }
const std::string& Regions() { return crud::CollectionOf<v1::Region>(); }
const std::string& Complexes() { return crud::CollectionOf<v1::IndustrialComplex>(); }
const std::string& Councils() { return crud::CollectionOf<v1::Council>(); }
const std::string& Organizations() { return crud::CollectionOf<v1::Organization>(); }
const std::string& Memberships() { return crud::CollectionOf<v1::Membership>(); }
const std::string& Figures() { return crud::CollectionOf<v1::ReportedFigure>(); }

// Bounds of what a caller sends (each stated in registry.proto). With 200-character names
// and 8,000-character texts (4 bytes a character at most) the largest resource is a
// council: display name 803 B + description and outcome summary 2 x 32,003 B + 100
// complexes and their derived regions 2 x 100 x 75 B + field, host, dates, counts < 1 KB,
// under 82 KB; a complex with 50 aliases is under 42 KB: far inside one 4 MiB gRPC
// message, so any page of a List holds at least one.
constexpr int kMaxCouncilComplexes = 100;
constexpr int kMaxComplexAliases = 50;
// Members reported by kind: the largest council has a few hundred.
constexpr int32_t kMaxReportedMembers = 10'000'000;
// A reported figure (a count or an amount in KRW): as an outcome's amount at most.
constexpr int64_t kMaxFigureValue = 1'000'000'000'000'000;

// ------------------------------------------------------------------ fields, regions

absl::StatusOr<Prepared<v1::Field>> PrepareField(ReadView& view, v1::Field field,
                                                 absl::string_view prefix) {
  FieldViolations v;
  absl::StatusOr<std::string> id = ParseName(field.name(), Fields(), Path(prefix, "name"));
  if (!id.ok()) return id.status();
  ValidateText(field.display_name(), Path(prefix, "display_name"), true, kMaxNameChars, v);
  ValidateText(field.english_name(), Path(prefix, "english_name"), false, kMaxNameChars, v);
  Prepared<v1::Field> out;
  if (!field.parent().empty()) {
    if (field.parent() == field.name()) {
      v.Add(Path(prefix, "parent"), "a field cannot be its own parent");
    } else {
      auto parent = Reference(view, field.parent(), Fields(), Path(prefix, "parent"), v);
      if (!parent.ok()) return parent.status();
    }
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  out.search = SearchText({field.display_name(), field.english_name()});
  out.message = std::move(field);
  return out;
}

absl::StatusOr<Prepared<v1::Region>> PrepareRegion(v1::Region region,
                                                   absl::string_view prefix) {
  FieldViolations v;
  absl::StatusOr<std::string> id = ParseName(region.name(), Regions(), Path(prefix, "name"));
  if (!id.ok()) return id.status();
  ValidateText(region.display_name(), Path(prefix, "display_name"), true, kMaxNameChars, v);
  ValidateText(region.short_name(), Path(prefix, "short_name"), true, kMaxNameChars, v);
  ValidateText(region.english_name(), Path(prefix, "english_name"), false, kMaxNameChars, v);
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  Prepared<v1::Region> out;
  out.search = SearchText({region.display_name(), region.short_name(), region.english_name()});
  out.message = std::move(region);
  return out;
}

absl::StatusOr<Prepared<v1::ReportedFigure>> PrepareFigure(v1::ReportedFigure figure,
                                                           absl::string_view prefix) {
  FieldViolations v;
  absl::StatusOr<std::string> id = ParseName(figure.name(), Figures(), Path(prefix, "name"));
  if (!id.ok()) return id.status();
  ValidateText(figure.metric(), Path(prefix, "metric"), true, kMaxNameChars, v);
  ValidateNonNegative(figure.value(), kMaxFigureValue, Path(prefix, "value"), v);
  ValidateDate(figure.as_of(), Path(prefix, "as_of"), v);
  ValidateText(figure.source(), Path(prefix, "source"), false, kMaxTextChars, v,
               TextForm::kMultiline);
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  Prepared<v1::ReportedFigure> out;
  out.search = SearchText({figure.metric(), figure.source()});
  out.message = std::move(figure);
  return out;
}

// ------------------------------------------------------------------ complexes

absl::StatusOr<Prepared<v1::IndustrialComplex>> PrepareComplex(ReadView& view,
                                                               v1::IndustrialComplex c,
                                                               absl::string_view prefix) {
  FieldViolations v;
  ValidateText(c.display_name(), Path(prefix, "display_name"), true, kMaxNameChars, v);
  ValidateText(c.english_name(), Path(prefix, "english_name"), false, kMaxNameChars, v);
  auto region = Reference(view, c.region(), Regions(), Path(prefix, "region"), v);
  if (!region.ok()) return region.status();
  if (c.kind() == v1::COMPLEX_KIND_UNSPECIFIED || !v1::ComplexKind_IsValid(c.kind())) {
    v.Add(Path(prefix, "kind"), "must be NATIONAL, GENERAL, URBAN_HIGH_TECH or AGRO_INDUSTRIAL");
  }
  ValidateListSize(c.aliases_size(), kMaxComplexAliases, Path(prefix, "aliases"), v);
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < c.aliases_size() && i < kMaxComplexAliases; ++i) {
    std::string field = absl::StrCat(Path(prefix, "aliases"), "[", i, "]");
    ValidateText(c.aliases(i), field, true, kMaxNameChars, v);
    if (!seen.insert(c.aliases(i)).second) v.Add(field, "is listed twice");
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  Prepared<v1::IndustrialComplex> out;
  out.search = SearchText({c.display_name(), c.english_name()}, c.aliases());
  c.clear_council_count();
  ClearMeta(c);
  out.message = std::move(c);
  return out;
}

absl::StatusOr<v1::IndustrialComplex> ComplexOut(ReadView& view, const Resource& resource) {
  absl::StatusOr<v1::IndustrialComplex> c = Decode<v1::IndustrialComplex>(resource);
  if (!c.ok()) return c;
  // A soft-deleted council keeps naming its complexes but no longer takes part.
  absl::StatusOr<int64_t> councils =
      crud::CountLive<v1::Council>(view, Councils(),
                                   {IndexKey<v1::Council>("complexes"), resource.name});
  if (!councils.ok()) return councils.status();
  c->set_council_count(static_cast<int32_t>(*councils));
  SetMeta(resource, *c);
  return c;
}

// ------------------------------------------------------------------ organizations

absl::StatusOr<Prepared<v1::Organization>> PrepareOrganization(ReadView& view,
                                                               v1::Organization org,
                                                               absl::string_view prefix) {
  FieldViolations v;
  ValidateText(org.display_name(), Path(prefix, "display_name"), true, kMaxNameChars, v);
  ValidateText(org.english_name(), Path(prefix, "english_name"), false, kMaxNameChars, v);
  ValidateText(org.description(), Path(prefix, "description"), false, kMaxTextChars, v,
               TextForm::kMultiline);
  if (org.kind() == v1::ORGANIZATION_KIND_UNSPECIFIED ||
      !v1::OrganizationKind_IsValid(org.kind())) {
    v.Add(Path(prefix, "kind"),
          "must be COMPANY, UNIVERSITY, RESEARCH_INSTITUTE, SUPPORT_AGENCY or GOVERNMENT");
  }
  Prepared<v1::Organization> out;
  if (!org.home_complex().empty()) {
    auto home = Reference(view, org.home_complex(), Complexes(), Path(prefix, "home_complex"), v);
    if (!home.ok()) return home.status();
    if (home->has_value()) {
      absl::StatusOr<v1::IndustrialComplex> complex = Decode<v1::IndustrialComplex>(**home);
      if (!complex.ok()) return complex.status();
      // Found through the home complex; "complex" itself is declared on home_complex.
      out.index.push_back({"region", complex->region()});
    }
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  // Councils the organization belongs to, so organizations can be listed by council.
  absl::Status status = ForEach(view, Memberships(), {{IndexKey<v1::Membership>("organization"), org.name()}},
                                [&](const Resource& m) {
                                  std::vector<std::string> parts = absl::StrSplit(m.name, '/');
                                  out.index.push_back({"council", absl::StrCat(parts[0], "/", parts[1])});
                                  return absl::OkStatus();
                                });
  if (!status.ok()) return status;
  out.search = SearchText({org.display_name(), org.english_name(), org.description()});
  ClearMeta(org);
  out.message = std::move(org);
  return out;
}

absl::StatusOr<v1::Organization> OrganizationOut(ReadView&, const Resource& resource) {
  absl::StatusOr<v1::Organization> org = Decode<v1::Organization>(resource);
  if (org.ok()) SetMeta(resource, *org);
  return org;
}

absl::Status ReindexOrganization(WriteTransaction& tx, const std::string& name) {
  absl::StatusOr<std::optional<Resource>> found = tx.Get(name);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return absl::OkStatus();
  absl::StatusOr<v1::Organization> org = Decode<v1::Organization>(**found);
  if (!org.ok()) return org.status();
  auto prepared = PrepareOrganization(tx, *org, name);
  if (!prepared.ok()) return prepared.status();
  return tx.Reindex(name, crud::IndexOf(*prepared), prepared->search);
}

// ------------------------------------------------------------------ councils

absl::StatusOr<Prepared<v1::Council>> PrepareCouncil(ReadView& view, v1::Council c,
                                                     absl::string_view prefix) {
  FieldViolations v;
  Prepared<v1::Council> out;
  std::vector<std::string> search_parts;
  ValidateText(c.display_name(), Path(prefix, "display_name"), true, kMaxNameChars, v);
  ValidateText(c.description(), Path(prefix, "description"), false, kMaxTextChars, v,
               TextForm::kMultiline);
  ValidateText(c.outcome_summary(), Path(prefix, "outcome_summary"), false, kMaxTextChars, v,
               TextForm::kMultiline);
  // Bounded before the complexes are looked up, one read each.
  if (c.complexes_size() > kMaxCouncilComplexes) {
    ValidateListSize(c.complexes_size(), kMaxCouncilComplexes, Path(prefix, "complexes"), v);
    return v.ToStatus();
  }
  search_parts = {c.display_name(), c.description(), c.outcome_summary()};

  // The field's ancestors too ("field" itself is declared on the field): a council of a
  // sub-field is found by its parent field. At most 8 levels.
  auto field = Reference(view, c.field(), Fields(), Path(prefix, "field"), v);
  if (!field.ok()) return field.status();
  int depth = 0;
  for (std::optional<Resource> f = *field; f.has_value(); ++depth) {
    absl::StatusOr<v1::Field> decoded = Decode<v1::Field>(*f);
    if (!decoded.ok()) return decoded.status();
    if (depth > 0) out.index.push_back({IndexKey<v1::Council>("field"), decoded->name()});
    search_parts.push_back(decoded->display_name());
    search_parts.push_back(decoded->english_name());
    if (decoded->parent().empty() || depth >= 8) break;
    absl::StatusOr<std::optional<Resource>> parent = view.Get(decoded->parent());
    if (!parent.ok()) return parent.status();
    f = *parent;
  }

  if (c.forum_session() < 0 || c.forum_session() > 4) {
    v.Add(Path(prefix, "forum_session"), "must be 1-4, or 0 for none");
  }

  c.clear_regions();
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < c.complexes_size(); ++i) {
    std::string path = absl::StrCat(Path(prefix, "complexes"), "[", i, "]");
    if (!seen.insert(c.complexes(i)).second) {
      v.Add(path, absl::StrCat(c.complexes(i), " is listed twice"));
      continue;
    }
    auto complex_resource = Reference(view, c.complexes(i), Complexes(), path, v);
    if (!complex_resource.ok()) return complex_resource.status();
    if (!complex_resource->has_value()) continue;
    absl::StatusOr<v1::IndustrialComplex> complex =
        Decode<v1::IndustrialComplex>(**complex_resource);
    if (!complex.ok()) return complex.status();
    search_parts.push_back(complex->display_name());
    for (const std::string& alias : complex->aliases()) search_parts.push_back(alias);
    if (std::find(c.regions().begin(), c.regions().end(), complex->region()) ==
        c.regions().end()) {
      c.add_regions(complex->region());
      absl::StatusOr<std::optional<Resource>> region = view.Get(complex->region());
      if (!region.ok()) return region.status();
      if (region->has_value()) {
        absl::StatusOr<v1::Region> r = Decode<v1::Region>(**region);
        if (!r.ok()) return r.status();
        search_parts.push_back(r->display_name());
        search_parts.push_back(r->short_name());
      }
    }
  }
  if (c.complexes_size() < 2) {
    v.Add(Path(prefix, "complexes"), "a council spans at least two industrial complexes");
  } else if (v.empty() && c.regions_size() < 2) {
    v.Add(Path(prefix, "complexes"), "the complexes must lie in at least two regions");
  }

  if (!c.host_organization().empty()) {
    auto host = Reference(view, c.host_organization(), Organizations(),
                          Path(prefix, "host_organization"), v);
    if (!host.ok()) return host.status();
    if (host->has_value()) {
      absl::StatusOr<v1::Organization> org = Decode<v1::Organization>(**host);
      if (!org.ok()) return org.status();
      search_parts.push_back(org->display_name());
    }
  }

  ValidateDate(c.launch_date(), Path(prefix, "launch_date"), v);
  const v1::MemberComposition& m = c.reported_members();
  std::string mp = Path(prefix, "reported_members");
  for (auto [count, name] : {std::pair{m.total(), "total"}, {m.companies(), "companies"},
                             {m.universities(), "universities"},
                             {m.research_institutes(), "research_institutes"},
                             {m.support_agencies(), "support_agencies"},
                             {m.others(), "others"}}) {
    ValidateNonNegative(count, kMaxReportedMembers, Path(mp, name), v);
  }
  int64_t parts = int64_t{m.companies()} + m.universities() + m.research_institutes() +
                  m.support_agencies() + m.others();
  if (parts > 0 && parts != m.total()) {
    v.Add(Path(mp, "total"), absl::StrCat("is ", m.total(), " but the kinds add up to ", parts));
  }
  ValidateDate(m.as_of(), Path(mp, "as_of"), v);

  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  c.clear_membership_count();
  ClearMeta(c);
  out.search.clear();
  for (const std::string& part : search_parts) {
    absl::StrAppend(&out.search, NormalizeSearchText(part), std::string(1, kSearchSeparator));
  }
  out.message = std::move(c);
  return out;
}

absl::StatusOr<v1::Council> CouncilOut(ReadView& view, const Resource& resource) {
  absl::StatusOr<v1::Council> c = Decode<v1::Council>(resource);
  if (!c.ok()) return c;
  absl::StatusOr<int64_t> members = view.Count(Memberships(), {{"parent", resource.name}});
  if (!members.ok()) return members.status();
  c->set_membership_count(static_cast<int32_t>(*members));
  SetMeta(resource, *c);
  return c;
}

// Recomputes what a council derives from others (regions, index, search text) after one
// of them changed. The council's revision moves only when its visible data changed.
absl::Status RefreshCouncil(WriteTransaction& tx, const std::string& name) {
  absl::StatusOr<std::optional<Resource>> found = tx.Get(name);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return absl::OkStatus();
  absl::StatusOr<v1::Council> council = Decode<v1::Council>(**found);
  if (!council.ok()) return council.status();
  auto prepared = PrepareCouncil(tx, *council, name);
  if (!prepared.ok()) {
    // The change made the council invalid (e.g. its complexes now share one region); the
    // caller's change is refused.
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
                          "the change would make ", name, " invalid: ",
                          prepared.status().message())),
                      "DEPENDENT_WOULD_BE_INVALID");
  }
  if (DeterministicBytes(prepared->message) != (*found)->data) {
    return Commit(tx, Councils(), *prepared).status();
  }
  return tx.Reindex(name, crud::IndexOf(*prepared), prepared->search);
}

// ------------------------------------------------------------------ memberships

struct MembershipName {
  std::string council;       // councils/{c}
  std::string organization;  // organizations/{o}
};

absl::StatusOr<MembershipName> ParseMembershipName(absl::string_view name,
                                                   absl::string_view field) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() != 4 || parts[0] != Councils() || parts[2] != Memberships() ||
      !IsValidId(parts[1]) || !IsValidId(parts[3])) {
    return InvalidField(std::string(field),
                        absl::StrCat("must look like councils/{council}/memberships/"
                                     "{organization}, got \"", name, "\""));
  }
  return MembershipName{absl::StrCat(Councils(), "/", parts[1]),
                        absl::StrCat(Organizations(), "/", parts[3])};
}

absl::StatusOr<Prepared<v1::Membership>> PrepareMembership(ReadView& view, v1::Membership m,
                                                           absl::string_view prefix) {
  absl::StatusOr<MembershipName> parsed = ParseMembershipName(m.name(), Path(prefix, "name"));
  if (!parsed.ok()) return parsed.status();
  FieldViolations v;
  auto council = Reference(view, parsed->council, Councils(), Path(prefix, "name"), v);
  if (!council.ok()) return council.status();
  if (m.organization().empty()) m.set_organization(parsed->organization);
  if (m.organization() != parsed->organization) {
    v.Add(Path(prefix, "organization"),
          absl::StrCat("must be ", parsed->organization, ", the organization the name names"));
  } else {
    auto org = Reference(view, m.organization(), Organizations(), Path(prefix, "organization"), v);
    if (!org.ok()) return org.status();
  }
  if (m.role() == v1::MEMBERSHIP_ROLE_UNSPECIFIED || !v1::MembershipRole_IsValid(m.role())) {
    v.Add(Path(prefix, "role"), "must be HOST, LEADING_COMPANY or MEMBER");
  }
  ValidateDate(m.join_date(), Path(prefix, "join_date"), v);
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  Prepared<v1::Membership> out;
  out.index = {{"parent", parsed->council}};
  ClearMeta(m);
  out.message = std::move(m);
  return out;
}

absl::StatusOr<v1::Membership> MembershipOut(ReadView&, const Resource& resource) {
  absl::StatusOr<v1::Membership> m = Decode<v1::Membership>(resource);
  if (m.ok()) SetMeta(resource, *m);
  return m;
}

// ------------------------------------------------------------------ dependents

// After a complex changed: councils that name it and organizations resident there.
absl::Status AfterComplexChange(WriteTransaction& tx, const v1::IndustrialComplex* before,
                                const v1::IndustrialComplex& after) {
  if (before == nullptr ||
      google::protobuf::util::MessageDifferencer::Equals(*before, after)) {
    return absl::OkStatus();
  }
  auto councils = NamesOf(tx, Councils(), {{IndexKey<v1::Council>("complexes"), after.name()}});
  if (!councils.ok()) return councils.status();
  for (const std::string& name : *councils) {
    if (absl::Status s = RefreshCouncil(tx, name); !s.ok()) return s;
  }
  auto orgs = NamesOf(tx, Organizations(),
                      {{IndexKey<v1::Organization>("home_complex"), after.name()}});
  if (!orgs.ok()) return orgs.status();
  for (const std::string& name : *orgs) {
    if (absl::Status s = ReindexOrganization(tx, name); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// After an organization changed: councils it hosts carry its name in their search text.
absl::Status AfterOrganizationChange(WriteTransaction& tx, const v1::Organization* before,
                                     const v1::Organization& after) {
  if (before == nullptr || before->display_name() == after.display_name()) {
    return absl::OkStatus();
  }
  auto councils = NamesOf(tx, Councils(),
                          {{IndexKey<v1::Council>("host_organization"), after.name()}});
  if (!councils.ok()) return councils.status();
  for (const std::string& name : *councils) {
    if (absl::Status s = RefreshCouncil(tx, name); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Save functions: validate, store, refresh dependents. `before` is null on create.
absl::StatusOr<Resource> SaveComplex(WriteTransaction& tx, v1::IndustrialComplex c,
                                     const v1::IndustrialComplex* before,
                                     absl::string_view prefix) {
  auto prepared = PrepareComplex(tx, std::move(c), prefix);
  if (!prepared.ok()) return prepared.status();
  absl::StatusOr<Resource> saved = Commit(tx, Complexes(), *prepared);
  if (!saved.ok()) return saved;
  if (absl::Status s = AfterComplexChange(tx, before, prepared->message); !s.ok()) return s;
  return saved;
}

absl::StatusOr<Resource> SaveCouncil(WriteTransaction& tx, v1::Council c,
                                     const v1::Council*, absl::string_view prefix) {
  auto prepared = PrepareCouncil(tx, std::move(c), prefix);
  if (!prepared.ok()) return prepared.status();
  return Commit(tx, Councils(), *prepared);
}

absl::StatusOr<Resource> SaveOrganization(WriteTransaction& tx, v1::Organization org,
                                          const v1::Organization* before,
                                          absl::string_view prefix) {
  auto prepared = PrepareOrganization(tx, std::move(org), prefix);
  if (!prepared.ok()) return prepared.status();
  absl::StatusOr<Resource> saved = Commit(tx, Organizations(), *prepared);
  if (!saved.ok()) return saved;
  if (absl::Status s = AfterOrganizationChange(tx, before, prepared->message); !s.ok()) {
    return s;
  }
  return saved;
}

absl::StatusOr<Resource> SaveMembership(WriteTransaction& tx, v1::Membership m,
                                        const v1::Membership*, absl::string_view prefix) {
  auto prepared = PrepareMembership(tx, std::move(m), prefix);
  if (!prepared.ok()) return prepared.status();
  absl::StatusOr<Resource> saved = Commit(tx, Memberships(), *prepared);
  if (!saved.ok()) return saved;
  if (absl::Status s = ReindexOrganization(tx, prepared->message.organization()); !s.ok()) {
    return s;
  }
  return saved;
}

// ------------------------------------------------------------------ soft delete

// The update guard: a soft-deleted resource is read-only until undeleted.
template <typename T>
absl::Status RefuseIfDeleted(const T* before) {
  if (before == nullptr || !crud::IsDeleted(*before)) return absl::OkStatus();
  return crud::Deleted(before->name(), "it cannot be updated");
}

// ---------------------------------------------------------------------- who may write

// `{collection}/{id}` when the request names the id, else the collection alone (the
// audit trail's resource until the write knows the generated name).
std::string NameOrCollection(absl::string_view collection, absl::string_view id) {
  return id.empty() ? std::string(collection) : absl::StrCat(collection, "/", id);
}

// A council is created by an unscoped editor or admin, or by an editor whose scope
// already names it (council_id set, and `councils/{council_id}` in scope).
absl::Status CouncilCreateAllowed(const Caller& caller, absl::string_view council_id) {
  if (!crud::Scoped(caller)) return absl::OkStatus();
  if (council_id.empty()) {
    return WithReason(absl::PermissionDeniedError(absl::StrCat(
                          QuoteValue(caller.principal),
                          " is scoped to councils: a council it creates needs a council_id "
                          "in its scope")),
                      "COUNCIL_OUT_OF_SCOPE");
  }
  return crud::RequireCouncil(caller, NameOrCollection(Councils(), council_id), "council_id");
}

// The council of a membership name, `councils/{c}` of `councils/{c}/memberships/{o}`;
// the name itself when it is not one (then nothing is in scope for a scoped editor, and
// the name's own check refuses it for everyone else).
std::string MembershipCouncil(absl::string_view name) {
  absl::StatusOr<MembershipName> parsed = ParseMembershipName(name, "membership.name");
  return parsed.ok() ? parsed->council : std::string(name);
}

}  // namespace

crud::AuditedWrite Registry::Audit(const Caller& caller, absl::string_view method,
                                   absl::string_view resource, absl::string_view request_id,
                                   const std::vector<std::string>& fields, bool validate_only) {
  return crud::AuditedWrite(
      store_, &auditor_,
      Auditor::Entry(caller, method, resource, request_id, fields, validate_only));
}

absl::StatusOr<audit::v1::ListAuditEntriesResponse> Registry::ListAuditEntries(
    const Caller& caller, const audit::v1::ListAuditEntriesRequest& request) {
  return crud::ListAuditEntries<audit::v1::ListAuditEntriesResponse>(store_, caller, request);
}


// ---------------------------------------------------------------------- fields, regions

absl::StatusOr<v1::Field> Registry::GetField(const v1::GetFieldRequest& request) {
  return GetByName<v1::Field>(store_, request.name(), Fields(), Plain<v1::Field>);
}

absl::StatusOr<v1::ListFieldsResponse> Registry::ListFields(
    const v1::ListFieldsRequest& request) {
  FieldViolations v;
  ListSpec spec{Fields(), request.page_size(), request.page_token(), request.parent()};
  NameFilter(request.parent(), Fields(), IndexKey<v1::Field>("parent"), "parent",
             spec.query.all_of, v);
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  return ListResources<v1::ListFieldsResponse>(
      store_, std::move(spec), "",
      AppendWith(&v1::ListFieldsResponse::add_fields, Plain<v1::Field>));
}

absl::StatusOr<v1::Region> Registry::GetRegion(const v1::GetRegionRequest& request) {
  return GetByName<v1::Region>(store_, request.name(), Regions(), Plain<v1::Region>);
}

absl::StatusOr<v1::ListRegionsResponse> Registry::ListRegions(
    const v1::ListRegionsRequest& request) {
  return ListResources<v1::ListRegionsResponse>(
      store_, ListSpec{Regions(), request.page_size(), request.page_token(), ""}, "",
      AppendWith(&v1::ListRegionsResponse::add_regions, Plain<v1::Region>));
}

// ---------------------------------------------------------------------- complexes

absl::StatusOr<v1::IndustrialComplex> Registry::GetComplex(
    const v1::GetComplexRequest& request) {
  return complexes_.Get(request.name(), [&] {
    return GetByName<v1::IndustrialComplex>(store_, request.name(), Complexes(), ComplexOut);
  });
}

absl::StatusOr<v1::ListComplexesResponse> Registry::ListComplexes(
    const v1::ListComplexesRequest& request) {
  return complex_pages_.Get(
      crud::PageKey(request), [&]() -> absl::StatusOr<v1::ListComplexesResponse> {
    FieldViolations v;
    ListSpec spec{Complexes(), request.page_size(), request.page_token(),
                  absl::StrCat(request.region(), "|", request.kind())};
    NameFilter(request.region(), Regions(), IndexKey<v1::IndustrialComplex>("region"),
               "region", spec.query.all_of, v);
    EnumFilter(request.kind(), IndexKey<v1::IndustrialComplex>("kind"), "kind",
               spec.query.all_of, v);
    if (absl::Status s = v.ToStatus(); !s.ok()) return s;
    crud::HideDeleted<v1::IndustrialComplex>(request.show_deleted(), spec);
    return ListResources<v1::ListComplexesResponse>(
        store_, std::move(spec), request.query(),
        AppendWith(&v1::ListComplexesResponse::add_complexes, ComplexOut));
  });
}

void Registry::CreateComplex(const Caller& caller, const v1::CreateComplexRequest& request,
    crud::Done<v1::IndustrialComplex> done) {
  crud::AuditedWrite audit = Audit(caller, "CreateComplex", NameOrCollection(Complexes(), request.complex_id()), request.request_id(), crud::SetFields(request.complex()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "CreateComplex"); !s.ok()) return done(std::move(s));
  if (absl::Status s = crud::RequireUnscoped(caller, "complexes"); !s.ok()) return done(std::move(s));
  CreateOnce<v1::IndustrialComplex>(
      &audit, request, request.request_id(),
      [&request, audit](WriteTransaction& tx) -> absl::StatusOr<v1::IndustrialComplex> {
        absl::StatusOr<std::string> name =
            NewName(tx, Complexes(), request.complex_id(), "complex_id", "complex");
        if (!name.ok()) return name.status();
        audit.Named(*name);
        v1::IndustrialComplex c = request.complex();
        c.set_name(*name);
        c.clear_delete_time();  // output only
        absl::StatusOr<Resource> saved = SaveComplex(tx, std::move(c), nullptr, "complex");
        if (!saved.ok()) return saved.status();
        return ComplexOut(tx, *saved);
      },
      std::move(done));
}

void Registry::UpdateComplex(const Caller& caller, const v1::UpdateComplexRequest& request,
    crud::Done<v1::IndustrialComplex> done) {
  crud::AuditedWrite audit = Audit(caller, "UpdateComplex", request.complex().name(), "", crud::MaskedFields(request.update_mask(), crud::MutablePaths<v1::IndustrialComplex>()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "UpdateComplex"); !s.ok()) return done(std::move(s));
  if (absl::Status s = crud::RequireUnscoped(caller, "complexes"); !s.ok()) return done(std::move(s));
  UpdateResource(
      &audit, request.complex(), request.update_mask(),
      ParseName(request.complex().name(), Complexes(), "complex.name").status(),
      crud::MutablePaths<v1::IndustrialComplex>(),
      [](WriteTransaction& tx, v1::IndustrialComplex c,
         const v1::IndustrialComplex* before) -> absl::StatusOr<Resource> {
        if (absl::Status s = RefuseIfDeleted(before); !s.ok()) return s;
        return SaveComplex(tx, std::move(c), before, "complex");
      },
      ComplexOut,
      request.validate_only(),
      std::move(done));
}

void Registry::DeleteComplex(const Caller& caller, const v1::DeleteComplexRequest& request,
    crud::StatusDone done) {
  crud::AuditedWrite audit = Audit(caller, "DeleteComplex", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "DeleteComplex"); !s.ok()) return done(std::move(s));
  const std::string& name = request.name();
  // Soft delete: deleted councils and organizations keep naming it.
  crud::SoftDeleteResource<v1::IndustrialComplex>(
      &audit, name, request.etag(), ParseName(name, Complexes(), "name").status(),
      [](WriteTransaction& tx, const std::string& name) -> absl::Status {
        if (absl::Status s = RefusedWhileLiveReferenced<v1::Council>(
                tx, name, Councils(), {IndexKey<v1::Council>("complexes"), name}, "councils",
                "COMPLEX_IN_USE");
            !s.ok()) {
          return s;
        }
        return RefusedWhileLiveReferenced<v1::Organization>(
            tx, name, Organizations(), {IndexKey<v1::Organization>("home_complex"), name},
            "organizations", "COMPLEX_IN_USE");
      },
      [](WriteTransaction& tx, v1::IndustrialComplex c, const v1::IndustrialComplex* before) {
        return SaveComplex(tx, std::move(c), before, "complex");
      },
      std::move(done));
}

void Registry::UndeleteComplex(const Caller& caller, const v1::UndeleteComplexRequest& request,
    crud::Done<v1::IndustrialComplex> done) {
  crud::AuditedWrite audit = Audit(caller, "UndeleteComplex", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "UndeleteComplex"); !s.ok()) return done(std::move(s));
  const std::string& name = request.name();
  crud::UndeleteResource<v1::IndustrialComplex>(
      &audit, name, request.etag(), ParseName(name, Complexes(), "name").status(),
      [](WriteTransaction&, const v1::IndustrialComplex&) { return absl::OkStatus(); },
      [](WriteTransaction& tx, v1::IndustrialComplex c, const v1::IndustrialComplex* before) {
        return SaveComplex(tx, std::move(c), before, "complex");
      },
      ComplexOut, std::move(done));
}

// ---------------------------------------------------------------------- councils

absl::StatusOr<v1::Council> Registry::GetCouncil(const v1::GetCouncilRequest& request) {
  return councils_.Get(request.name(), [&] {
    return GetByName<v1::Council>(store_, request.name(), Councils(), CouncilOut);
  });
}

absl::StatusOr<v1::ListCouncilsResponse> Registry::ListCouncils(
    const v1::ListCouncilsRequest& request) {
  return council_pages_.Get(
      crud::PageKey(request), [&]() -> absl::StatusOr<v1::ListCouncilsResponse> {
    FieldViolations v;
    ListSpec spec{Councils(), request.page_size(), request.page_token(),
                  absl::StrCat(request.field(), "|", request.region(), "|", request.complex(),
                               "|", request.forum_session())};
    NameFilter(request.field(), Fields(), IndexKey<v1::Council>("field"), "field",
               spec.query.all_of, v);
    NameFilter(request.region(), Regions(), IndexKey<v1::Council>("regions"), "region",
               spec.query.all_of, v);
    NameFilter(request.complex(), Complexes(), IndexKey<v1::Council>("complexes"), "complex",
               spec.query.all_of, v);
    if (request.forum_session() < 0 || request.forum_session() > 4) {
      v.Add("forum_session", "must be 1-4, or 0 for any");
    } else if (request.forum_session() > 0) {
      spec.query.all_of.push_back(
          {IndexKey<v1::Council>("forum_session"), absl::StrCat(request.forum_session())});
    }
    if (absl::Status s = v.ToStatus(); !s.ok()) return s;
    crud::HideDeleted<v1::Council>(request.show_deleted(), spec);
    return ListResources<v1::ListCouncilsResponse>(
        store_, std::move(spec), request.query(),
        AppendWith(&v1::ListCouncilsResponse::add_councils, CouncilOut));
  });
}

void Registry::CreateCouncil(const Caller& caller, const v1::CreateCouncilRequest& request,
    crud::Done<v1::Council> done) {
  crud::AuditedWrite audit = Audit(caller, "CreateCouncil", NameOrCollection(Councils(), request.council_id()), request.request_id(), crud::SetFields(request.council()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "CreateCouncil"); !s.ok()) return done(std::move(s));
  if (absl::Status s = CouncilCreateAllowed(caller, request.council_id()); !s.ok()) return done(std::move(s));
  CreateOnce<v1::Council>(
      &audit, request, request.request_id(),
      [&request, audit](WriteTransaction& tx) -> absl::StatusOr<v1::Council> {
        absl::StatusOr<std::string> name =
            NewName(tx, Councils(), request.council_id(), "council_id", "council");
        if (!name.ok()) return name.status();
        audit.Named(*name);
        v1::Council c = request.council();
        c.set_name(*name);
        c.clear_delete_time();  // output only
        if (absl::Status s = crud::RefuseDeletedReferences(tx, c, "council"); !s.ok()) {
          return s;
        }
        absl::StatusOr<Resource> saved = SaveCouncil(tx, std::move(c), nullptr, "council");
        if (!saved.ok()) return saved.status();
        return CouncilOut(tx, *saved);
      },
      std::move(done));
}

void Registry::UpdateCouncil(const Caller& caller, const v1::UpdateCouncilRequest& request,
    crud::Done<v1::Council> done) {
  crud::AuditedWrite audit = Audit(caller, "UpdateCouncil", request.council().name(), "", crud::MaskedFields(request.update_mask(), crud::MutablePaths<v1::Council>()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "UpdateCouncil"); !s.ok()) return done(std::move(s));
  if (absl::Status s = crud::RequireCouncil(caller, request.council().name(), "council.name"); !s.ok()) return done(std::move(s));
  UpdateResource(
      &audit, request.council(), request.update_mask(),
      ParseName(request.council().name(), Councils(), "council.name").status(),
      crud::MutablePaths<v1::Council>(),
      [](WriteTransaction& tx, v1::Council c,
         const v1::Council* before) -> absl::StatusOr<Resource> {
        if (absl::Status s = RefuseIfDeleted(before); !s.ok()) return s;
        if (absl::Status s = crud::RefuseDeletedReferences(tx, c, "council"); !s.ok()) {
          return s;
        }
        return SaveCouncil(tx, std::move(c), before, "council");
      },
      CouncilOut,
      request.validate_only(),
      std::move(done));
}

void Registry::DeleteCouncil(const Caller& caller, const v1::DeleteCouncilRequest& request,
    crud::StatusDone done) {
  crud::AuditedWrite audit = Audit(caller, "DeleteCouncil", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "DeleteCouncil"); !s.ok()) return done(std::move(s));
  const std::string& name = request.name();
  // Soft delete: the events service's activities and outcomes keep naming it, and its
  // scorecard keeps resolving. Memberships live in this store, beside it: they are
  // refused outright (delete them first), in the delete's own transaction.
  crud::SoftDeleteResource<v1::Council>(
      &audit, name, request.etag(), ParseName(name, Councils(), "name").status(),
      [](WriteTransaction& tx, const std::string& name) {
        return RefusedWhileReferenced(tx, name, Memberships(), {"parent", name}, "memberships",
                                      "COUNCIL_HAS_MEMBERSHIPS");
      },
      [](WriteTransaction& tx, v1::Council c, const v1::Council* before) {
        return SaveCouncil(tx, std::move(c), before, "council");
      },
      std::move(done));
}

void Registry::UndeleteCouncil(const Caller& caller, const v1::UndeleteCouncilRequest& request,
    crud::Done<v1::Council> done) {
  crud::AuditedWrite audit = Audit(caller, "UndeleteCouncil", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "UndeleteCouncil"); !s.ok()) return done(std::move(s));
  const std::string& name = request.name();
  crud::UndeleteResource<v1::Council>(
      &audit, name, request.etag(), ParseName(name, Councils(), "name").status(),
      [](WriteTransaction& tx, const v1::Council& c) {
        return crud::RefuseDeletedReferences(tx, c, "council");
      },
      [](WriteTransaction& tx, v1::Council c, const v1::Council* before) {
        return SaveCouncil(tx, std::move(c), before, "council");
      },
      CouncilOut, std::move(done));
}

// ---------------------------------------------------------------------- organizations

absl::StatusOr<v1::Organization> Registry::GetOrganization(
    const v1::GetOrganizationRequest& request) {
  return organizations_.Get(request.name(), [&] {
    return GetByName<v1::Organization>(store_, request.name(), Organizations(),
                                       OrganizationOut);
  });
}

absl::StatusOr<v1::ListOrganizationsResponse> Registry::ListOrganizations(
    const v1::ListOrganizationsRequest& request) {
  return organization_pages_.Get(
      crud::PageKey(request), [&]() -> absl::StatusOr<v1::ListOrganizationsResponse> {
    FieldViolations v;
    ListSpec spec{Organizations(), request.page_size(), request.page_token(),
                  absl::StrCat(request.kind(), "|", request.complex(), "|", request.region(),
                               "|", request.council())};
    EnumFilter(request.kind(), IndexKey<v1::Organization>("kind"), "kind", spec.query.all_of, v);
    NameFilter(request.complex(), Complexes(), IndexKey<v1::Organization>("home_complex"),
               "complex", spec.query.all_of, v);
    NameFilter(request.region(), Regions(), "region", "region", spec.query.all_of, v);
    NameFilter(request.council(), Councils(), "council", "council", spec.query.all_of, v);
    if (absl::Status s = v.ToStatus(); !s.ok()) return s;
    crud::HideDeleted<v1::Organization>(request.show_deleted(), spec);
    return ListResources<v1::ListOrganizationsResponse>(
        store_, std::move(spec), request.query(),
        AppendWith(&v1::ListOrganizationsResponse::add_organizations, OrganizationOut));
  });
}

void Registry::CreateOrganization(const Caller& caller, const v1::CreateOrganizationRequest& request,
    crud::Done<v1::Organization> done) {
  crud::AuditedWrite audit = Audit(caller, "CreateOrganization", NameOrCollection(Organizations(), request.organization_id()), request.request_id(), crud::SetFields(request.organization()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "CreateOrganization"); !s.ok()) return done(std::move(s));
  if (absl::Status s = crud::RequireUnscoped(caller, "organizations"); !s.ok()) return done(std::move(s));
  CreateOnce<v1::Organization>(
      &audit, request, request.request_id(),
      [&request, audit](WriteTransaction& tx) -> absl::StatusOr<v1::Organization> {
        absl::StatusOr<std::string> name = NewName(
            tx, Organizations(), request.organization_id(), "organization_id", "org");
        if (!name.ok()) return name.status();
        audit.Named(*name);
        v1::Organization org = request.organization();
        org.set_name(*name);
        org.clear_delete_time();  // output only
        if (absl::Status s =
                crud::RefuseDeletedReferences(tx, org, "organization");
            !s.ok()) {
          return s;
        }
        absl::StatusOr<Resource> saved =
            SaveOrganization(tx, std::move(org), nullptr, "organization");
        if (!saved.ok()) return saved.status();
        return OrganizationOut(tx, *saved);
      },
      std::move(done));
}

void Registry::UpdateOrganization(const Caller& caller, const v1::UpdateOrganizationRequest& request,
    crud::Done<v1::Organization> done) {
  crud::AuditedWrite audit = Audit(caller, "UpdateOrganization", request.organization().name(), "", crud::MaskedFields(request.update_mask(), crud::MutablePaths<v1::Organization>()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "UpdateOrganization"); !s.ok()) return done(std::move(s));
  if (absl::Status s = crud::RequireUnscoped(caller, "organizations"); !s.ok()) return done(std::move(s));
  UpdateResource(
      &audit, request.organization(), request.update_mask(),
      ParseName(request.organization().name(), Organizations(), "organization.name").status(),
      crud::MutablePaths<v1::Organization>(),
      [](WriteTransaction& tx, v1::Organization org,
         const v1::Organization* before) -> absl::StatusOr<Resource> {
        if (absl::Status s = RefuseIfDeleted(before); !s.ok()) return s;
        if (absl::Status s =
                crud::RefuseDeletedReferences(tx, org, "organization");
            !s.ok()) {
          return s;
        }
        return SaveOrganization(tx, std::move(org), before, "organization");
      },
      OrganizationOut,
      request.validate_only(),
      std::move(done));
}

void Registry::DeleteOrganization(const Caller& caller, const v1::DeleteOrganizationRequest& request,
    crud::StatusDone done) {
  crud::AuditedWrite audit = Audit(caller, "DeleteOrganization", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "DeleteOrganization"); !s.ok()) return done(std::move(s));
  const std::string& name = request.name();
  // Soft delete: the events service's registrations keep naming it, and so may deleted
  // councils it hosted. Memberships are refused outright, in the same transaction.
  crud::SoftDeleteResource<v1::Organization>(
      &audit, name, request.etag(), ParseName(name, Organizations(), "name").status(),
      [](WriteTransaction& tx, const std::string& name) -> absl::Status {
        if (absl::Status s =
                RefusedWhileReferenced(tx, name, Memberships(),
                                       {IndexKey<v1::Membership>("organization"), name},
                                       "memberships", "ORGANIZATION_IN_USE");
            !s.ok()) {
          return s;
        }
        return RefusedWhileLiveReferenced<v1::Council>(
            tx, name, Councils(), {IndexKey<v1::Council>("host_organization"), name},
                                                       "councils as their host",
                                                       "ORGANIZATION_IN_USE");
      },
      [](WriteTransaction& tx, v1::Organization org, const v1::Organization* before) {
        return SaveOrganization(tx, std::move(org), before, "organization");
      },
      std::move(done));
}

void Registry::UndeleteOrganization(const Caller& caller, const v1::UndeleteOrganizationRequest& request,
    crud::Done<v1::Organization> done) {
  crud::AuditedWrite audit = Audit(caller, "UndeleteOrganization", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "UndeleteOrganization"); !s.ok()) return done(std::move(s));
  const std::string& name = request.name();
  crud::UndeleteResource<v1::Organization>(
      &audit, name, request.etag(), ParseName(name, Organizations(), "name").status(),
      [](WriteTransaction& tx, const v1::Organization& org) {
        return crud::RefuseDeletedReferences(tx, org, "organization");
      },
      [](WriteTransaction& tx, v1::Organization org, const v1::Organization* before) {
        return SaveOrganization(tx, std::move(org), before, "organization");
      },
      OrganizationOut, std::move(done));
}

// ---------------------------------------------------------------------- memberships

absl::StatusOr<v1::Membership> Registry::GetMembership(
    const v1::GetMembershipRequest& request) {
  return GetResource<v1::Membership>(store_, request.name(),
                                     ParseMembershipName(request.name(), "name").status(),
                                     MembershipOut);
}

absl::StatusOr<v1::ListMembershipsResponse> Registry::ListMemberships(
    const v1::ListMembershipsRequest& request) {
  return membership_pages_.Get(
      crud::PageKey(request), [&]() -> absl::StatusOr<v1::ListMembershipsResponse> {
    FieldViolations v;
    ListSpec spec{Memberships(), request.page_size(), request.page_token(),
                  absl::StrCat(request.parent(), "|", request.role(), "|",
                               request.organization())};
    ParentFilter(request.parent(), Councils(), spec.query.all_of, v);
    EnumFilter(request.role(), IndexKey<v1::Membership>("role"), "role", spec.query.all_of, v);
    NameFilter(request.organization(), Organizations(), IndexKey<v1::Membership>("organization"),
               "organization",
               spec.query.all_of, v);
    if (absl::Status s = v.ToStatus(); !s.ok()) return s;
    return ListResources<v1::ListMembershipsResponse>(
        store_, std::move(spec), "",
        AppendWith(&v1::ListMembershipsResponse::add_memberships, MembershipOut));
  });
}

void Registry::CreateMembership(const Caller& caller, const v1::CreateMembershipRequest& request,
    crud::Done<v1::Membership> done) {
  crud::AuditedWrite audit = Audit(caller, "CreateMembership", request.parent(), request.request_id(), crud::SetFields(request.membership()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "CreateMembership"); !s.ok()) return done(std::move(s));
  if (absl::Status s = crud::RequireCouncil(caller, request.parent(), "parent"); !s.ok()) return done(std::move(s));
  absl::StatusOr<std::string> council = ParseName(request.parent(), Councils(), "parent");
  if (!council.ok()) return done(council.status());
  absl::StatusOr<std::string> org =
      ParseName(request.membership().organization(), Organizations(), "membership.organization");
  if (!org.ok()) return done(org.status());
  CreateOnce<v1::Membership>(
      &audit, request, request.request_id(),
      [&request, audit, org = *org](WriteTransaction& tx) -> absl::StatusOr<v1::Membership> {
        absl::StatusOr<std::optional<Resource>> parent = tx.Get(request.parent());
        if (!parent.ok()) return parent.status();
        if (!parent->has_value()) return NotFound(request.parent());
        v1::Membership m = request.membership();
        if (crud::StoredDeleted<v1::Council>(**parent)) {
          return crud::Deleted(request.parent(), "parent may not name it");
        }
        if (absl::Status s = crud::RefuseDeletedReferences(tx, m, "membership"); !s.ok()) {
          return s;
        }
        m.set_name(absl::StrCat(request.parent(), "/", Memberships(), "/", org));
        audit.Named(m.name());
        absl::StatusOr<std::optional<Resource>> existing = tx.Get(m.name());
        if (!existing.ok()) return existing.status();
        if (existing->has_value()) {
          return WithReason(absl::AlreadyExistsError(absl::StrCat(
                                m.organization(), " is already a member of ", request.parent())),
                            "ALREADY_EXISTS");
        }
        absl::StatusOr<Resource> saved = SaveMembership(tx, std::move(m), nullptr, "membership");
        if (!saved.ok()) return saved.status();
        return MembershipOut(tx, *saved);
      },
      std::move(done));
}

void Registry::UpdateMembership(const Caller& caller, const v1::UpdateMembershipRequest& request,
    crud::Done<v1::Membership> done) {
  crud::AuditedWrite audit = Audit(caller, "UpdateMembership", request.membership().name(), "", crud::MaskedFields(request.update_mask(), crud::MutablePaths<v1::Membership>()), request.validate_only());
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireEditor(caller, "UpdateMembership"); !s.ok()) return done(std::move(s));
  if (absl::Status s = crud::RequireCouncil(caller, MembershipCouncil(request.membership().name()), "membership.name"); !s.ok()) return done(std::move(s));
  UpdateResource(
      &audit, request.membership(), request.update_mask(),
      ParseMembershipName(request.membership().name(), "membership.name").status(),
      crud::MutablePaths<v1::Membership>(),
      [](WriteTransaction& tx, v1::Membership m, const v1::Membership* before) {
        return SaveMembership(tx, std::move(m), before, "membership");
      },
      MembershipOut,
      request.validate_only(),
      std::move(done));
}

void Registry::DeleteMembership(const Caller& caller, const v1::DeleteMembershipRequest& request,
    crud::StatusDone done) {
  crud::AuditedWrite audit = Audit(caller, "DeleteMembership", request.name(), "", {}, false);
  done = audit.Wrap(std::move(done));
  if (absl::Status s = crud::RequireAdmin(caller, "DeleteMembership"); !s.ok()) return done(std::move(s));
  const std::string& name = request.name();
  absl::StatusOr<MembershipName> parsed = ParseMembershipName(name, "name");
  std::string organization = parsed.ok() ? parsed->organization : "";
  DeleteResource(
      &audit, name, request.etag(), parsed.status(),
      [](WriteTransaction&, const std::string&) { return absl::OkStatus(); },
      [organization](WriteTransaction& tx) { return ReindexOrganization(tx, organization); },
      std::move(done));
}

// ---------------------------------------------------------------------- figures

absl::StatusOr<v1::ReportedFigure> Registry::GetReportedFigure(
    const v1::GetReportedFigureRequest& request) {
  return GetByName<v1::ReportedFigure>(store_, request.name(), Figures(),
                                       Plain<v1::ReportedFigure>);
}

absl::StatusOr<v1::ListReportedFiguresResponse> Registry::ListReportedFigures(
    const v1::ListReportedFiguresRequest& request) {
  return ListResources<v1::ListReportedFiguresResponse>(
      store_, ListSpec{Figures(), request.page_size(), request.page_token(), ""}, "",
      AppendWith(&v1::ListReportedFiguresResponse::add_reported_figures, Plain<v1::ReportedFigure>));
}

// ---------------------------------------------------------------------- import

namespace {

}  // namespace

// Raised whenever a Prepare function above changes the index entries it adds itself
// (those no field declares), so that what is stored is reindexed at the next start.
constexpr int kDerivedIndexVersion = 1;

absl::StatusOr<crud::IndexUpdate> Registry::UpdateIndexes() {
  auto with_view = [](auto prepare) {
    return [prepare](WriteTransaction& tx, auto message, const std::string& name) {
      return prepare(tx, std::move(message), name);
    };
  };
  auto plain = [](auto prepare) {
    return [prepare](WriteTransaction&, auto message, const std::string& name) {
      return prepare(std::move(message), name);
    };
  };
  crud::IndexUpdate update;
  // Memberships before organizations: an organization's councils are read from the
  // memberships' entries.
  absl::Status s = crud::UpdateIndex<v1::Field>(store_, Fields(), kDerivedIndexVersion,
                                                with_view(PrepareField), update);
  if (s.ok()) {
    s = crud::UpdateIndex<v1::IndustrialComplex>(store_, Complexes(), kDerivedIndexVersion,
                                                 with_view(PrepareComplex), update);
  }
  if (s.ok()) {
    s = crud::UpdateIndex<v1::Membership>(store_, Memberships(), kDerivedIndexVersion,
                                          with_view(PrepareMembership), update);
  }
  if (s.ok()) {
    s = crud::UpdateIndex<v1::Organization>(store_, Organizations(), kDerivedIndexVersion,
                                            with_view(PrepareOrganization), update);
  }
  if (s.ok()) {
    s = crud::UpdateIndex<v1::Council>(store_, Councils(), kDerivedIndexVersion,
                                       with_view(PrepareCouncil), update);
  }
  if (s.ok()) {
    s = crud::UpdateIndex<v1::ReportedFigure>(store_, Figures(), kDerivedIndexVersion,
                                              plain(PrepareFigure), update);
  }
  if (!s.ok()) return s;
  return update;
}

absl::StatusOr<ImportSummary> Registry::Import(const v1::RegistryData& data) {
  for (absl::Status s : {CheckNames(data.complexes(), Complexes(), "complexes"),
                         CheckNames(data.councils(), Councils(), "councils"),
                         CheckNames(data.organizations(), Organizations(), "organizations")}) {
    if (!s.ok()) return s;
  }
  ImportSummary summary;
  absl::Status status = store_->Write([&](WriteTransaction& tx) -> absl::Status {
    auto plain = [](auto prepare) {
      return [prepare](WriteTransaction&, auto item, absl::string_view prefix) {
        return prepare(std::move(item), prefix);
      };
    };
    absl::Status s = ImportAll(tx, Fields(), "fields", data.fields(), PrepareField,
                               NoDependents<v1::Field>, summary);
    if (s.ok()) {
      s = ImportAll(tx, Regions(), "regions", data.regions(), plain(PrepareRegion),
                    NoDependents<v1::Region>, summary);
    }
    if (s.ok()) {
      s = ImportAll(tx, Complexes(), "complexes", data.complexes(), PrepareComplex,
                    AfterComplexChange, summary);
    }
    if (s.ok()) {
      s = ImportAll(tx, Organizations(), "organizations", data.organizations(),
                    PrepareOrganization, AfterOrganizationChange, summary);
    }
    if (s.ok()) {
      s = ImportAll(tx, Councils(), "councils", data.councils(), PrepareCouncil,
                    NoDependents<v1::Council>, summary);
    }
    if (s.ok()) {
      s = ImportAll(tx, Memberships(), "memberships", data.memberships(), PrepareMembership,
                    [](WriteTransaction& tx, const v1::Membership*, const v1::Membership& m) {
                      return ReindexOrganization(tx, m.organization());
                    },
                    summary);
    }
    if (s.ok()) {
      s = ImportAll(tx, Figures(), "reported_figures", data.reported_figures(),
                    plain(PrepareFigure), NoDependents<v1::ReportedFigure>, summary);
    }
    return s;
  });
  if (!status.ok()) return status;
  return summary;
}

}  // namespace sanhak::registry
