# syntax=docker/dockerfile:1
# The sanhak registry image: the registry service, built from this repository.
#   docker build -f deploy/images/registry.Dockerfile -t sanhak/registry:dev .
# (from the repository root; registry.Dockerfile.dockerignore beside this file trims the
# context). Two stages: Debian bookworm with the README's packages builds the one
# target; bookworm-slim runs it with only the shared libraries it links, as uid 10001.

FROM debian:bookworm AS build
WORKDIR /src
# The same packages the README installs, by the same script (a layer of its own, so a
# source change does not reinstall them).
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt ./
COPY protos protos
COPY common common
COPY services services
COPY tests tests
COPY bench bench
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null \
 && cmake --build build --target sanhak_registry_server -j"$(nproc)" \
 && strip build/services/registry/sanhak_registry_server

FROM debian:bookworm-slim
# Runtime libraries of the build's -dev packages (gRPC 1.51, protobuf 3.21, Abseil,
# hiredis, SQLite, libpq for PostgreSQL, cpp-httplib for /metrics), time zones for IANA
# names, CA certificates.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libhiredis0.14 \
      libsqlite3-0 libpq5 libcpp-httplib0.11 tzdata ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed, non-root uid/gid (the manifests' runAsUser/runAsGroup/fsGroup: 10001).
RUN groupadd --gid 10001 sanhak \
 && useradd --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin sanhak \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/sanhak
COPY --from=build /src/build/services/registry/sanhak_registry_server /usr/local/bin/sanhak_registry_server
COPY data/registry.textproto /opt/sanhak/data/registry.textproto
ENV SANHAK_LISTEN=0.0.0.0:50051 \
    SANHAK_METRICS_LISTEN=0.0.0.0:9451 \
    SANHAK_REGISTRY_DB=/var/lib/sanhak/registry.db \
    SANHAK_REGISTRY_IMPORT=/opt/sanhak/data/registry.textproto
WORKDIR /var/lib/sanhak
USER 10001:10001
EXPOSE 50051
# Prometheus metrics (GET /metrics).
EXPOSE 9451
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sanhak_registry_server"]
