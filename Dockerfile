# syntax=docker/dockerfile:1
# One image for both processes:
#   web:    docker run -p 3000:3000 --env-file .env IMAGE                      (node dist/bin/web.js)
#   worker: docker run --env-file .env -e WORKER_METRICS_PORT=9100 IMAGE node dist/bin/worker.js
#   tools:  docker run --rm --env-file .env IMAGE npm run configure-number -- +14155550100
# The Node.js major here is the one in .nvmrc and package.json's engines, which CI tests on.

# Build: all dependencies (TypeScript is a dev dependency), then compile src/ to dist/, without the sandbox
# (src/sandbox/, src/bin/dev.ts: .dockerignore keeps it out of the context, tsconfig.build.json out of the build).
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies and the compiled code only, run as the unprivileged node user.
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY scripts/run-tool.mjs scripts/require-build.cjs ./scripts/
USER node
EXPOSE 3000
# GET /healthz on PORT (web) or WORKER_METRICS_PORT (worker); node, since the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["node", "dist/bin/healthcheck.js"]
# node itself is PID 1, so SIGTERM reaches the bridge's graceful shutdown (not swallowed by npm).
CMD ["node", "dist/bin/web.js"]
