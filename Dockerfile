# syntax=docker/dockerfile:1
# btoverlay agent image: `btagent` with `btctl` beside it (for the health check
# and for operators: `docker exec <task> btctl members`).
#
#   docker build -t btoverlay:0.1.0 .
#   docker run --rm -p 6000:6000 -p 6881:6881 -v btoverlay-data:/var/lib/btoverlay btoverlay:0.1.0
#
# Three stages: `build` compiles (dev dependencies, buf, tsc), `deps` installs
# production dependencies only, the runtime stage copies dist/, bin/, proto/
# (read at run time by gRPC reflection) and those node_modules onto a slim Node
# image, and runs as the unprivileged `node` user (uid 1000).

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY buf.yaml buf.gen.yaml tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY agent ./agent
COPY control ./control
COPY tools ./tools
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PATH=/app/bin:$PATH
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY proto ./proto
COPY bin ./bin
RUN ln -s /app/bin/btagent.js /app/bin/btagent \
 && ln -s /app/bin/btctl.js /app/bin/btctl \
 && mkdir -p /var/lib/btoverlay \
 && chown node:node /var/lib/btoverlay
USER node
# Torrents, their resume state and the agent's identity live here: mount a volume.
VOLUME ["/var/lib/btoverlay"]
# 6000: gRPC, legacy JSON, HTTP (/metrics, /announce, /scrape) on one port.
# 6881: BitTorrent peer wire (--peer-port).
EXPOSE 6000/tcp 6881/tcp
# SERVING only once the agent listens and gossip runs; NOT_SERVING while it stops.
# --timeout 10s: starting node and btctl alone took up to 4 s on a loaded 2-core host
# (seen in the Swarm test); at 5 s healthy tasks were killed as unhealthy.
# With mTLS on the agent set BTCTL_TLS_* in the environment (see tools/deploy/stack.tls.yml).
HEALTHCHECK --interval=10s --timeout=10s --start-period=20s --retries=3 \
  CMD ["node", "/app/bin/btctl.js", "health", "--node", "127.0.0.1:6000", "--timeout", "3s"]
# The entrypoint works out the advertise address on Swarm, then runs btagent.
ENTRYPOINT ["node", "/app/dist/tools/deploy/entrypoint.js"]
CMD ["run", "--listen", "0.0.0.0:6000", "--data-dir", "/var/lib/btoverlay"]
