#!/usr/bin/env bash
# The PostgreSQL server one ctest run shares (the ctest fixture `sanhak_postgres`, see
# tests/CMakeLists.txt): `start DIR` runs initdb into DIR and starts postgres on a free
# loopback port, written to DIR/port; `stop DIR` ends it. Each test process then creates
# databases of its own there (tests/support/postgres_server.h: FreshPostgresDatabase), so
# a run pays one initdb, not one per test. Run as root, the server runs as nobody
# (postgres refuses root). Durability is relaxed as in PostgresServer (fsync off; a
# server crash loses nothing, a machine crash would, and none is played).
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?directory}
bindir=${SANHAK_PG_BINDIR:-/usr/lib/postgresql/15/bin}

# As root: as nobody (who must be able to search "/": scripts/test.sh sees to it).
as_server() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
  else
    "$@"
  fi
}

case "$cmd" in
  start)
    if [ -f "$dir/data/postmaster.pid" ]; then "$0" stop "$dir" || true; fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown nobody "$dir"; fi
    as_server "$bindir/initdb" -D "$dir/data" -U sanhak --auth=trust -E UTF8 --locale=C \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # A port outside the kernel's ephemeral range; taken ones fail the start, so try others.
    for _ in $(seq 1 20); do
      port=$((20000 + RANDOM % 10000))
      if as_server "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
          -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off \
              -c full_page_writes=off -c max_connections=400 -c shared_buffers=64MB" \
          start >/dev/null; then
        echo "$port" >"$dir/port"
        echo "postgres-fixture: PostgreSQL on 127.0.0.1:$port ($dir)"
        exit 0
      fi
    done
    echo "postgres-fixture: postgres did not start; its log:" >&2
    cat "$dir/postgres.log" >&2 || true
    exit 1
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_server "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
