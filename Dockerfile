# syntax=docker/dockerfile:1
# JT/T 808 hazmat gateway: TCP gateway + REST API in one process ("jt808 serve").
#   build:  docker build -t jt808 .
#   run:    docker compose up   (TimescaleDB + Redis + gateway, see compose.yaml)
# Three stages: compile with dev dependencies, install production dependencies alone, and a
# runtime image holding only those two results, running as the unprivileged "node" user.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- 1. compile TypeScript -> dist/ (needs dev dependencies: typescript, type packages) ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- 2. production dependencies only ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- 3. runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    JT808_DATA_DIR=/data \
    JT808_TCP_PORT=7611 \
    JT808_HTTP_PORT=8080
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root bin ./bin
# the operator console's sources: bundled in memory at the first request for /
COPY --chown=root:root console ./console
# The embedded database (used only when DATABASE_URL is unset) lives in /data, owned by "node".
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 7611 7612 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.JT808_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Application code is root-owned and read-only for "node"; migrations run at start.
# A 64 MB young generation: at tens of thousands of reports/s, positions waiting for their
# commit outlive the default one's scavenges and get promoted (bench/RESULTS.md, 2026-11-21).
CMD ["node", "--max-semi-space-size=64", "dist/src/cli/main.js", "serve"]
