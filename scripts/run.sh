#!/usr/bin/env bash
# Builds and runs the sanhak suite on its embedded defaults, in the foreground:
#   redis     a local redis-server (AOF on, var/redis/), the change feed's transport, on
#             127.0.0.1 only, with an ACL user per service (var/redis-acl/)
#   registry  var/registry.db, loaded (idempotently) with data/registry.textproto
#   events    var/events.db, loaded (idempotently) with data/events.textproto
#   analytics aggregates in Redis, fed by the change feed, streamed to watchers
# Ctrl-C stops every process it started, cleanly; running it again reuses the data.
# Every gRPC port serves mutual TLS with the development CA and certificates that
# scripts/dev-certs.sh makes under $SANHAK_VAR/tls on first start (and keeps after);
# sanhakctl authenticates with that directory's admin certificate (printed at start).
# The metrics endpoints are plain HTTP on loopback.
#
# Environment: SANHAK_VAR (default var), SANHAK_REGISTRY_LISTEN (127.0.0.1:50051),
# SANHAK_EVENTS_LISTEN (127.0.0.1:50052), SANHAK_ANALYTICS_LISTEN (127.0.0.1:50053),
# SANHAK_REDIS_PORT (6380); Prometheus metrics (GET /metrics) on
# SANHAK_REGISTRY_METRICS_LISTEN (127.0.0.1:9451), SANHAK_EVENTS_METRICS_LISTEN
# (127.0.0.1:9452), SANHAK_ANALYTICS_METRICS_LISTEN (127.0.0.1:9453).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh sanhak_registry_server sanhak_events_server sanhak_analytics_server sanhakctl

var="${SANHAK_VAR:-var}"
registry_listen="${SANHAK_REGISTRY_LISTEN:-127.0.0.1:50051}"
events_listen="${SANHAK_EVENTS_LISTEN:-127.0.0.1:50052}"
analytics_listen="${SANHAK_ANALYTICS_LISTEN:-127.0.0.1:50053}"
registry_metrics="${SANHAK_REGISTRY_METRICS_LISTEN:-127.0.0.1:9451}"
events_metrics="${SANHAK_EVENTS_METRICS_LISTEN:-127.0.0.1:9452}"
analytics_metrics="${SANHAK_ANALYTICS_METRICS_LISTEN:-127.0.0.1:9453}"
redis_port="${SANHAK_REDIS_PORT:-6380}"
redis="127.0.0.1:${redis_port}"
mkdir -p "$var/redis" "$var/logs"

# Mutual TLS: each service serves its own certificate and presents it when it calls
# another service; every peer is verified against the development CA.
tls="$var/tls"
bash scripts/dev-certs.sh "$tls"
# Who may call what: config/authz-policy.json (gRPC's authorization policy format; the
# development principals above and token roles), re-read when it changes.
tls_flags() {
  tls_args=(--tls_cert="$tls/$1.crt" --tls_key="$tls/$1.key" --tls_ca="$tls/ca.crt"
            --authz_policy=config/authz-policy.json)
}
ctl_tls=(--ca="$tls/ca.crt" --cert="$tls/admin.crt" --key="$tls/admin.key")

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping..."
  if [[ -n "${summary_pid:-}" ]]; then kill -TERM "$summary_pid" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "stopped"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# Waits until host:port accepts connections, or the process `pid` dies.
wait_port() {
  local address=$1 pid=$2 name=$3
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/${address%:*}/${address##*:}") 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name failed to start; see $var/logs/$name.log" >&2
      tail -5 "$var/logs/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "$name did not open $address" >&2
  exit 1
}

# Redis ACL users: the rules of deploy/base/redis-users.acl (what deploy/ runs too), the
# default user off. Each user that signs in with a password gets one of its own, made on
# first start and kept: $var/redis-acl/<user>.password (0600), which the service reads
# (--redis_password_file). Redis gets only their SHA-256 (#...) in users.acl, rewritten
# from the rules on every start. Redis traffic stays on loopback: hiredis 0.14 has no TLS.
acl_dir="$var/redis-acl"
mkdir -p "$acl_dir"
chmod 700 "$acl_dir"
(
  umask 077
  while read -r word user rules; do
    [[ "$word" == user ]] || continue
    line="user $user $rules"
    if [[ " $rules " == *" on "* && " $rules " != *" nopass "* ]]; then
      if [[ ! -s "$acl_dir/$user.password" ]]; then
        openssl rand -hex 24 >"$acl_dir/$user.password.new"
        mv "$acl_dir/$user.password.new" "$acl_dir/$user.password"
      fi
      hash=$(tr -d '\r\n' <"$acl_dir/$user.password" | sha256sum | cut -d' ' -f1)
      line="$line #$hash"
    fi
    printf '%s\n' "$line"
  done <deploy/base/redis-users.acl >"$acl_dir/users.acl.new"
  mv "$acl_dir/users.acl.new" "$acl_dir/users.acl"
)
# Absolute: redis-server reads the ACL file after changing into --dir.
redis_aclfile="$(cd "$acl_dir" && pwd)/users.acl"

redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$var/redis" \
  --aclfile "$redis_aclfile" \
  --appendonly yes --save "" --daemonize no >"$var/logs/redis.log" 2>&1 &
pids+=($!)
wait_port "$redis" "${pids[-1]}" redis
echo "redis listening on $redis"

tls_flags registry
./build/services/registry/sanhak_registry_server --listen="$registry_listen" "${tls_args[@]}" \
  --db="$var/registry.db" --import=data/registry.textproto --redis="$redis" \
  --redis_user=registry --redis_password_file="$acl_dir/registry.password" \
  --metrics_listen="$registry_metrics" --audit_log="$var/logs/registry.audit.jsonl" \
  2>>"$var/logs/registry.log" &
pids+=($!)
wait_port "$registry_listen" "${pids[-1]}" registry

tls_flags events
./build/services/events/sanhak_events_server --listen="$events_listen" "${tls_args[@]}" \
  --db="$var/events.db" --registry="$registry_listen" --import=data/events.textproto \
  --redis="$redis" --redis_user=events --redis_password_file="$acl_dir/events.password" \
  --metrics_listen="$events_metrics" --audit_log="$var/logs/events.audit.jsonl" \
  2>>"$var/logs/events.log" &
pids+=($!)
wait_port "$events_listen" "${pids[-1]}" events

tls_flags analytics
./build/services/analytics/sanhak_analytics_server --listen="$analytics_listen" "${tls_args[@]}" \
  --registry="$registry_listen" --events="$events_listen" --redis="$redis" \
  --redis_user=analytics --redis_password_file="$acl_dir/analytics.password" \
  --replica=local --metrics_listen="$analytics_metrics" 2>>"$var/logs/analytics.log" &
pids+=($!)
wait_port "$analytics_listen" "${pids[-1]}" analytics

# sanhakctl's context "local" (in $SANHAKCTL_CONFIG, else ~/.config/sanhak/config.json)
# names this suite and the development admin certificate, so sanhakctl works against it
# with no flags; it becomes the current context only when there is none yet.
tls_abs="$(cd "$tls" && pwd)"
./build/tools/sanhakctl/sanhakctl config set-context local \
  --registry_target="$registry_listen" --events_target="$events_listen" \
  --analytics_target="$analytics_listen" --ca="$tls_abs/ca.crt" \
  --cert="$tls_abs/admin.crt" --key="$tls_abs/admin.key" >/dev/null
echo "sanhak is up (logs in $var/logs/); Ctrl-C stops it"
echo "every gRPC port serves mutual TLS (CA $tls/ca.crt). sanhakctl authenticates as"
echo "the development admin (spiffe://sanhak.local/user/admin) through its context"
echo "\"local\" ($(./build/tools/sanhakctl/sanhakctl config current-context 2>/dev/null ||
  echo none) is current): sanhakctl whoami; sanhakctl config get-contexts. Or by flags:"
echo "  ${ctl_tls[*]}"
# The live summary (councils, organizations, activities, outcomes, funding), redrawn as
# changes stream in. Not in pids: its ending or failing never stops the suite.
./build/tools/sanhakctl/sanhakctl summary --watch --analytics_target="$analytics_listen" \
  "${ctl_tls[@]}" \
  2>>"$var/logs/summary.log" &
summary_pid=$!
# Runs until Ctrl-C, or until any process exits on its own.
wait -n "${pids[@]}" || true
echo "a process exited; see $var/logs/" >&2
