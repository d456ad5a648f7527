#!/usr/bin/env bash
# Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ (committed; run
# again after changing it): a few small valid and invalid inputs each, named for what
# they hold. Needs protoc (protobuf-compiler) and openssl. The fuzz pass of
# scripts/test.sh only reads these; what a run adds goes to build-fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus
protos=protos

# request TARGET PROTO SERVICE_PROTO METHOD NAME TEXT: one request seed, the method's
# index in the service (the order of its `rpc` lines, as the target's table) as its first
# byte, then the request (text format) encoded by protoc.
request() {
  local target=$1 proto=$2 method=$3 name=$4 text=$5
  local package type index
  package=$(sed -n 's/^package \(.*\);/\1/p' "$protos/$proto")
  index=$(grep -E '^\s+rpc ' "$protos/$proto" | grep -n "rpc $method(" | cut -d: -f1)
  type=$(grep -E "^\s+rpc $method\(" "$protos/$proto" | sed 's/.*(\(.*\)) returns.*/\1/')
  mkdir -p "$out/$target"
  {
    printf "\\$(printf '%03o' $((index - 1)))"
    printf '%s\n' "$text" | protoc -I "$protos" --encode="$package.$type" "$proto"
  } >"$out/$target/$name"
}

rm -rf "$out"
R=registry_requests_fuzzer
RP=sanhak/registry/v1/registry.proto
request $R $RP CreateCouncil create-council-valid '
council { display_name: "퍼징 협의체" field: "fields/future-mobility"
  complexes: "complexes/changwon" complexes: "complexes/gumi"
  host_organization: "organizations/kicox" launch_date { year: 2025 month: 1 } }
council_id: "fuzz-council" request_id: "r-1" validate_only: true'
request $R $RP CreateCouncil create-council-bad-id-and-name '
council { display_name: "a\x00b\u202e" field: "fields/nope" complexes: "complexes/changwon" }
council_id: "Bad_Id"'
request $R $RP UpdateCouncil update-council-display-name '
council { name: "councils/special-purpose-ships" display_name: "특수선 협의체" }
update_mask { paths: "display_name" } validate_only: true'
request $R $RP UpdateCouncil update-council-bad-mask '
council { name: "councils/special-purpose-ships" etag: "999" }
update_mask { paths: "etag" paths: "nope" }'
request $R $RP DeleteCouncil delete-council-referenced 'name: "councils/special-purpose-ships"'
request $R $RP UndeleteCouncil undelete-council-live 'name: "councils/aerospace" etag: "1"'
request $R $RP CreateComplex create-complex-valid '
complex { display_name: "퍼징산단" region: "regions/gyeongnam" kind: GENERAL aliases: "퍼징" }
complex_id: "fuzz-complex"'
request $R $RP CreateOrganization create-organization-valid '
organization { display_name: "퍼징기업" kind: COMPANY home_complex: "complexes/changwon" }
organization_id: "fuzz-org" validate_only: true'
request $R $RP CreateMembership create-membership-valid '
parent: "councils/aerospace" membership { organization: "organizations/kicox" role: MEMBER
  join_date { year: 2025 month: 2 day: 30 } }'
request $R $RP UpdateMembership update-membership-role '
membership { name: "councils/petrochemical-core-materials/memberships/l-company" role: HOST }
update_mask { paths: "role" }'
request $R $RP DeleteOrganization delete-organization-kicox 'name: "organizations/kicox"'
request $R $RP ListCouncils list-councils-query '
page_size: 3 field: "fields/future-mobility" query: "모빌리티" show_deleted: true'
request $R $RP ListCouncils list-councils-bad-token 'page_size: -1 page_token: "Mg"'
request $R $RP ListOrganizations list-organizations-council 'council: "councils/aerospace" kind: COMPANY'
request $R $RP ListMemberships list-memberships 'parent: "councils/petrochemical-core-materials" role: HOST'
request $R $RP GetCouncil get-council 'name: "councils/aerospace"'
request $R $RP GetReportedFigure get-figure-bad-name 'name: "reportedFigures/../x"'

E=events_requests_fuzzer
EP=sanhak/events/v1/events.proto
request $E $EP CreateActivity create-activity-valid '
activity { kind: SEMINAR title: "조선 기술 세미나" councils: "councils/special-purpose-ships"
  start_time { seconds: 1760000000 } end_time { seconds: 1760003600 } time_zone: "Asia/Seoul"
  place { venue: "부산" city: "부산" country: "KR" } }
activity_id: "fuzz-seminar" request_id: "r-1" validate_only: true'
request $E $EP CreateActivity create-activity-bad-zone-and-refs '
activity { kind: FORUM title: "x" councils: "councils/deleted-for-fuzzing" councils: "councils/missing"
  start_time { seconds: -9223372036854775808 } time_zone: "../../../../etc/localtime"
  timetable { id: "a" start_time { seconds: 1760000000 nanos: -1 } } }'
request $E $EP CreateActivity create-activity-forum-agenda '
activity { kind: FORUM title: "포럼" councils: "councils/aerospace"
  start_time { seconds: 1760000000 } end_time { seconds: 1760010000 } time_zone: "Asia/Seoul"
  sessions { number: 1 title: "s" fields: "fields/future-mobility" councils: "councils/aerospace" }
  timetable { id: "open" start_time { seconds: 1760000000 } end_time { seconds: 1760000600 }
    title: "개회" kind: OPENING leads: KICOX session_number: 1 }
  press_open_until_slot: "open" organizer: "organizations/kicox" }'
request $E $EP UpdateActivity update-activity-title '
activity { name: "activities/development-forum-2025" title: "발전포럼" }
update_mask { paths: "title" } validate_only: true'
request $E $EP DeleteActivity delete-activity 'name: "activities/busan-international-boat-show" etag: "1"'
request $E $EP CreateRegistration create-registration-person '
parent: "activities/development-forum-2025"
registration { person { display_name: "홍길동" affiliation: "KICOX" contact: "a@b.kr" } state: REGISTERED }
registration_id: "fuzz-reg"'
request $E $EP CreateRegistration create-registration-organization '
parent: "activities/development-forum-2025"
registration { organization: "organizations/kicox" state: CHECKED_IN check_in_time { seconds: 1753840000 } }'
request $E $EP UpdateRegistration update-registration-missing '
registration { name: "activities/development-forum-2025/registrations/none" state: CANCELLED }
update_mask { paths: "state" }'
request $E $EP CreateOutcome create-outcome-valid '
outcome { council: "councils/special-purpose-ships" category: EXPORT_DEAL title: "수출 계약"
  start_date { year: 2025 month: 8 } total_budget_krw: 1000000000 national_share_krw: 500000000
  deal_amount_krw: 200000000 counts { metric: "deals" value: 3 }
  activity: "activities/korea-asean-maritime-week-2025" }
outcome_id: "fuzz-outcome" validate_only: true'
request $E $EP CreateOutcome create-outcome-huge-amounts '
outcome { council: "councils/special-purpose-ships" category: NATIONAL_PROJECT_SELECTED title: "x"
  total_budget_krw: 9223372036854775807 national_share_krw: 9223372036854775807
  start_date { year: 2025 month: 2147483647 } }'
request $E $EP UpdateOutcome update-outcome-amount '
outcome { name: "outcomes/ncc-carbon-neutral-national-project" national_share_krw: 40000000000 }
update_mask { paths: "national_share_krw" }'
request $E $EP ListActivities list-activities-window '
page_size: 2 council: "councils/aerospace" kind: FORUM start_time { seconds: 1750000000 }
end_time { seconds: 1760000000 } query: "포럼"'
request $E $EP ListOutcomes list-outcomes-bad-token 'category: EXPORT_DEAL page_token: "!!"'
request $E $EP ListRegistrations list-registrations 'parent: "activities/development-forum-2025" state: REGISTERED'
request $E $EP GetOutcome get-outcome 'name: "outcomes/ax-joint-tasks-selected"'

# Data files: the seed files' first records, and broken ones.
mkdir -p "$out/registry_import_fuzzer" "$out/events_import_fuzzer"
cat >"$out/registry_import_fuzzer/new-complex-organization-council" <<'TEXT'
complexes { name: "complexes/fuzz" display_name: "퍼징산단" region: "regions/gyeongnam" kind: GENERAL }
organizations { name: "organizations/fuzz" display_name: "퍼징기업" kind: COMPANY home_complex: "complexes/fuzz" }
councils { name: "councils/fuzz" display_name: "퍼징 협의체" field: "fields/future-mobility"
  complexes: "complexes/fuzz" host_organization: "organizations/fuzz" }
memberships { name: "councils/fuzz/memberships/fuzz" organization: "organizations/fuzz" role: HOST }
reported_figures { name: "reportedFigures/fuzz" metric: "fuzz" value: 7 as_of { year: 2025 month: 7 day: 30 } }
TEXT
cat >"$out/registry_import_fuzzer/changed-seed-council" <<'TEXT'
fields { name: "fields/future-mobility" display_name: "미래모빌리티" english_name: "Future mobility" }
councils { name: "councils/aerospace" display_name: "항공우주" field: "fields/future-mobility" complexes: "complexes/changwon" }
TEXT
cat >"$out/registry_import_fuzzer/dangling-and-bad-names" <<'TEXT'
councils { name: "councils/Bad Name" field: "fields/none" complexes: "complexes/none" }
memberships { name: "councils/none/memberships/x" organization: "organizations/none" }
TEXT
printf 'fields { name: "fields/x" display_name: "\\377" ' >"$out/registry_import_fuzzer/syntax-error"
cat >"$out/events_import_fuzzer/new-activity-outcome" <<'TEXT'
activities { name: "activities/fuzz" kind: SEMINAR title: "세미나" councils: "councils/aerospace"
  start_time { seconds: 1760000000 } end_time { seconds: 1760003600 } time_zone: "Asia/Seoul" }
registrations { name: "activities/fuzz/registrations/fuzz" organization: "organizations/kicox" state: REGISTERED }
outcomes { name: "outcomes/fuzz" council: "councils/aerospace" category: MOU_SIGNED title: "MOU"
  activity: "activities/fuzz" start_date { year: 2025 month: 9 day: 1 } }
TEXT
cat >"$out/events_import_fuzzer/changed-seed-activity" <<'TEXT'
activities { name: "activities/busan-international-boat-show" kind: EXHIBITION title: "보트쇼"
  councils: "councils/special-purpose-ships" start_time { seconds: 1750000000 } date_only: true
  time_zone: "Asia/Seoul" }
TEXT
cat >"$out/events_import_fuzzer/deleted-and-missing-refs" <<'TEXT'
activities { name: "activities/x" kind: FORUM title: "x" councils: "councils/deleted-for-fuzzing"
  organizer: "organizations/missing" time_zone: "Not/AZone" }
outcomes { name: "outcomes/x" council: "councils/missing" total_budget_krw: -1 }
TEXT
printf 'activities { name: "activities/x" kind: NOPE }' >"$out/events_import_fuzzer/unknown-enum"

# Page tokens: "<fingerprint>\n<token>", signed with fuzz::kPageTokenKey
# (fuzz/fuzz_support.h) as common/page_token.cc signs them: '2', the first 16 bytes of
# HMAC-SHA256("sanhak page token 2\n<len>:<fingerprint><len>:<name>"), the name; web-safe
# base64 without padding.
key=sanhak-fuzz-page-token-key-0123456789
token() {
  local fingerprint=$1 name=$2
  {
    printf '2'
    printf 'sanhak page token 2\n%d:%s%d:%s' "${#fingerprint}" "$fingerprint" "${#name}" "$name" |
      openssl dgst -sha256 -mac HMAC -macopt "key:$key" -binary | head -c 16
    printf '%s' "$name"
  } | base64 -w0 | tr '+/' '-_' | tr -d '='
}
P=$out/page_token_fuzzer
mkdir -p "$P"
printf '%s\n%s' "councils|field=" "$(token "councils|field=" councils/aerospace)" >"$P/valid"
printf '%s\n%s' "other" "$(token "councils|field=" councils/aerospace)" >"$P/other-fingerprint"
printf '%s\n%s' "" "$(token "" "")" >"$P/valid-empty-name"
printf 'f\nMg' >"$P/too-short"
printf 'f\n%s' "$(head -c 600 /dev/zero | tr '\0' 'A')" >"$P/too-long"
printf 'f\n!!!!' >"$P/not-base64"

# Resume tokens: web-safe base64 of "w1|<epoch>|<useq>" (services/analytics/analytics.cc).
T=$out/resume_token_fuzzer
mkdir -p "$T"
b64() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
b64 'w1|epoch-abc|42' >"$T/valid"
b64 'w1|epoch-abc|-1' >"$T/negative"
b64 'w1|epoch-abc|99999999999999999999' >"$T/overflow"
b64 'w2|e|1' >"$T/other-version"
b64 'w1|a|b|3' >"$T/extra-part"
printf 'not base64!' >"$T/not-base64"

# Aggregate updates: one path a line; '-' removes an entry.
A=$out/aggregate_path_fuzzer
mkdir -p "$A"
printf 'activities\nactivities_by_kind[SEMINAR]\nmembers_by_council[councils/aerospace].registered.companies\noutcomes_total.deal_amount_krw\n-activities_by_month[2025-07]' >"$A/valid"
printf 'reported_vs_counted[councils].reported_approximate\napplied_sequences[events]\ncomputed_time.seconds' >"$A/bool-map-timestamp"
printf 'activities_by_kind[SEMINAR\nmembers_by_council[x]registered\nnope.x\n-councils\n-activities_by_kind[X].value' >"$A/malformed"
printf 'outcomes_by_category[EXPORT_DEAL].category\nmembers_by_council[a].registered\n[].x' >"$A/names-no-int"

find "$out" -type f | sort | while read -r f; do printf '%6d %s\n' "$(stat -c %s "$f")" "$f"; done
