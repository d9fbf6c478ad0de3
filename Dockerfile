# syntax=docker/dockerfile:1
#
# Roomler Realtime, the standalone service (server.ts). Configuration comes
# only from ROOMLER__* variables (see .env.example); nothing is baked in.
#
#   docker build -t roomler-realtime .
#   docker run --rm -p 3000:3000 -e ROOMLER__JWT__SECRET=… roomler-realtime
#
# The tests run on Node 20 (the package's engines: >=20.19); the image uses
# Node 22, the LTS line still maintained. Another: --build-arg NODE_IMAGE=….
ARG NODE_IMAGE=node:22-bookworm-slim

# Build: every dependency (TypeScript included), then the JavaScript in dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json app.ts server.ts ./
COPY client/ client/
COPY lib/ lib/
COPY demo/ demo/
COPY plugins/ plugins/
COPY routes/ routes/
COPY schemas/ schemas/
RUN npm run build

# Runtime: production dependencies and the built JavaScript, nothing else.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# bufferutil and utf-8-validate are optional: where no prebuilt binary fits
# (linux/arm64) and there is no compiler, ws runs without them.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/ dist/
# The image's unprivileged user `node` (uid 1000), by number so that a runtime
# can check it is not root; the files stay root's, read-only to it.
USER 1000:1000
EXPOSE 3000
# /health answers 200 while the process runs; the port is the one it listens on.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.ROOMLER__APP__PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1 (no npm, no shell): it receives SIGTERM, closes every
# connection with 1001, records presence and exits within 8 s.
CMD ["node", "dist/server.js"]
