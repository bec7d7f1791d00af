# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, run with production dependencies only, as non-root.

FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY src ./src
RUN npm run build

FROM node:20.20.2-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20.20.2-bookworm-slim
# STORE=mongodb: a container started without MONGODB_URI exits 1 naming it, instead of running on
# the embedded store (STORE=memory asks for that by name). ADMIN_KEY_FILE: mount the operator's key
# there (a Secret made with `node dist/src/cli/main.js admin-key generate`), or leave the directory
# writable for one instance to mint it.
ENV NODE_ENV=production \
    PORT=8080 \
    STORE=mongodb \
    ADMIN_KEY_FILE=/var/lib/warpflow/admin-key
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
RUN mkdir -p /var/lib/warpflow && chown node:node /var/lib/warpflow
USER node
EXPOSE 8080
# Readiness: 200 only while the store answers (and Cognito keys are loaded, when configured).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as PID 1 receives SIGTERM directly: drain, flush last_used_at, exit 0.
CMD ["node", "dist/src/main.js"]
