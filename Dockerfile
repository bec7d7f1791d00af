# Multi-stage: build with dev dependencies, run with production dependencies only, as non-root.
# No `# syntax=` line: it makes BuildKit pull a frontend image, so an offline build fails; nothing
# here needs it. Build and run it for real: `npm run test:image` (docs/deploy.md).
# npm can exit 0 after failing (npm/cli#7881, "Exit handler never called!"): each install step
# checks the tree it was asked for (`npm ls` exits 1 on a missing or invalid package) and a
# package it must have, so a broken install fails its own step.

FROM node:26.12.1-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm ls --all >/dev/null && test -x node_modules/.bin/tsc
COPY tsconfig.json tsconfig.build.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY src ./src
RUN npm run build && test -f dist/src/main.js

FROM node:26.12.1-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm ls --omit=dev >/dev/null && test -d node_modules/@grpc/grpc-js

FROM node:26.12.1-trixie-slim
# STORE=mongodb: a container started without MONGODB_URI exits 1 naming it, instead of running on
# the embedded store (STORE=memory asks for that by name). ADMIN_KEY_FILE: mount the operator's key
# there (a Secret made with `node dist/src/cli/main.js admin-key generate`; Kubernetes points
# ADMIN_KEY_FILE at the Secret's mount), or leave /var/lib/warpflow writable for one instance to mint it.
ENV NODE_ENV=production \
    PORT=8080 \
    STORE=mongodb \
    ADMIN_KEY_FILE=/var/lib/warpflow/admin-key
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY deploy/container/healthcheck.js ./healthcheck.js
# The one writable folder the service uses (the minted admin key file, mode 0600). With a read-only
# root filesystem mount a volume here (Kubernetes: an emptyDir), or point ADMIN_KEY_FILE at a Secret.
RUN mkdir -p /var/lib/warpflow && chown 1000:1000 /var/lib/warpflow && chmod 0700 /var/lib/warpflow
VOLUME ["/var/lib/warpflow"]
# Numeric, so Kubernetes' runAsNonRoot can verify it (a user name cannot be checked): node is 1000.
USER 1000:1000
EXPOSE 8080
# Readiness (/readyz: 200 only while the store answers and an admin key is stored): on OPS_PORT when
# set (plain HTTP), otherwise on PORT, over https when TLS_CERT_FILE is set. See healthcheck.js.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "healthcheck.js"]
# node as PID 1 receives SIGTERM directly: drain, flush last_used_at, exit 0.
# 16 MB semi-spaces (Node 20's default young generation; Node 22+ size it larger, measured +40 MiB
# RSS under the stream floods of test/hardening/stream-memory.test.ts on Node 26): memory stays
# within the Kubernetes limits derived in docs/deploy.md. npm start and the tests use the same flag.
CMD ["node", "--max-semi-space-size=16", "dist/src/main.js"]
