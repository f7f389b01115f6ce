# syntax=docker/dockerfile:1
#
# One image for every Skiff service; the command picks the service:
#   docker run IMAGE skiff-gateway --redis-url redis://redis:6379
# The Helm chart (deploy/helm/skiff) sets each Deployment's command the same way. Build from the
# repository root: docker build -t skiff:0.1.0 .

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: compile every workspace package, then install the production dependencies apart ----
FROM ${NODE_IMAGE} AS build
# The commands the image must provide (bin entries of the workspace packages); the build fails if
# one is missing, and the chart tests check this list against the packages and the chart.
ARG SKIFF_COMMANDS="skiff skiff-watcher skiff-translator skiff-gateway skiffctl"
ENV CI=true NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund && npm run build

# The runtime tree: the root manifests, and for each workspace package its package.json, its built
# dist/ and its bin/ launchers. `npm ci --omit=dev` against the same lockfile then installs only the
# production dependencies and links the workspace packages and their bins into node_modules.
RUN set -eu; \
    mkdir -p /out; \
    cp package.json package-lock.json .npmrc /out/; \
    for pkg in libs/* apps/*; do \
      if [ ! -f "$pkg/package.json" ]; then continue; fi; \
      mkdir -p "/out/$pkg"; \
      cp "$pkg/package.json" "/out/$pkg/"; \
      if [ -d "$pkg/dist" ]; then cp -R "$pkg/dist" "/out/$pkg/"; fi; \
      if [ -d "$pkg/bin" ]; then cp -R "$pkg/bin" "/out/$pkg/"; fi; \
    done; \
    find /out -name '*.tsbuildinfo' -delete; \
    cd /out && npm ci --omit=dev --no-audit --no-fund; \
    for cmd in $SKIFF_COMMANDS; do \
      if [ ! -x "/out/node_modules/.bin/$cmd" ]; then echo "command $cmd is not installed by any workspace package" >&2; exit 1; fi; \
    done

# ---- runtime: Node, the production tree, a non-root user ----
FROM ${NODE_IMAGE}
# 65532 is the conventional "nonroot" id of distroless images; the chart runs the pods as this user.
RUN groupadd --system --gid 65532 skiff \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin skiff
# jemalloc as every service's allocator, returning freed pages to the system from a background
# thread within about a second. Under glibc's allocator the gateway's C heap (HTTP/2 sessions and
# streams) kept 20 to 50 MiB more after every reconnect storm of 10,000 streams; under jemalloc its
# resident size after each storm is back within 8% of where it started (docs/BENCHMARKS.md, gateway
# section). Debian installs the library under the architecture's directory; the link gives it one path.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2" /usr/local/lib/libjemalloc.so.2 \
 && LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 node -e \
      "process.exit(require('fs').readFileSync('/proc/self/maps', 'utf8').includes('/libjemalloc.so.2') ? 0 : 1)"
ENV NODE_ENV=production \
    LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
    MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0 \
    PATH=/app/node_modules/.bin:$PATH
WORKDIR /app
# Owned by root and not writable by the service user: the services write nothing to the image.
COPY --from=build /out /app
USER 65532:65532
# 15010 ADS (plaintext gRPC), 15012 ADS over TLS, 15014 metrics, health and debug.
EXPOSE 15010 15012 15014
# The Node image's entrypoint runs its arguments as a command when they name one on PATH, so the
# command chooses the service; "skiff" is the all-in-one process with an in-memory store.
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["skiff"]
