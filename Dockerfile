# warren's one container image: warren-api, warren-worker, warren-fleet and
# warrenctl, built on Debian 12 with CMake and run on Debian 12 slim with only
# the runtime libraries, as a non-root user. docker-compose.yml runs one
# service per container from it; the same image runs on Kubernetes (README,
# "Containers"). Configuration comes from WARREN_* environment variables.
#
#   docker build -t warren .
#   docker run --rm warren warren-worker --help

# ---- build stage ----------------------------------------------------------
FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      librabbitmq-dev libpq-dev libesmtp-dev libjansson-dev libcurl4-openssl-dev \
      libyaml-dev libmicrohttpd-dev libssl-dev uuid-dev check libsubunit-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Only the four programs: the tests and benchmarks need the local stack.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build -j"$(nproc)" --target warren-api warren-worker warren-fleet warrenctl \
 && strip --strip-debug build/bin/*

# ---- runtime stage ---------------------------------------------------------
FROM debian:12-slim AS runtime
# The shared libraries the programs link (ldd) and curl for health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librabbitmq4 libpq5 libesmtp6 libjansson4 libcurl4 libyaml-0-2 libmicrohttpd12 \
      libssl3 libuuid1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 warren \
 && useradd --system --uid 10001 --gid warren --home-dir /opt/warren --shell /usr/sbin/nologin warren
COPY --from=build /src/build/bin/ /usr/local/bin/
# The relative paths of config/keys.c's defaults resolve from /opt/warren:
# topology/topology.yaml, config/api-keys.yaml (the demo keys: mount your
# own over it), data/catalog.csv (sample catalog for warrenctl).
WORKDIR /opt/warren
COPY --chown=root:root topology/topology.yaml topology/
COPY --chown=root:root config/api-keys.yaml config/
COPY --chown=root:root data/catalog.csv data/
RUN mkdir -p run && chown warren:warren run
USER warren:warren
ENV WARREN_API_ADDRESS=0.0.0.0 \
    WARREN_WORKER_METRICS_ADDRESS=0.0.0.0
EXPOSE 8080 9100
CMD ["warren-api"]
