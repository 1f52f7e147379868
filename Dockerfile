# One image for both processes:
#   controller: node /app/packages/controller/dist/main.js
#   speaker:    node /app/packages/speaker/dist/main.js   (needs NET_RAW, see deploy/ironlb.yaml)
# Build: docker build -t ironlb:0.1.0 .
# The runtime stage holds only what runs: compiled code without tests, type declarations or source
# maps, production dependencies, the addon; no compiler, no dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /src
# node-gyp needs a C toolchain and python for the layer2 AF_PACKET addon.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY test/package.json test/tsconfig.json ./test/
RUN npm ci --no-audit --no-fund
# The official image keeps Node's headers under /usr/local/include/node: no header download.
RUN npm_config_nodedir=/usr/local node packages/layer2/scripts/build-native.mjs \
 && npx tsc -b packages/controller packages/speaker \
 && find packages/*/dist \( -name '*.test.*' -o -name '*.d.ts' -o -name '*.map' \) -delete
# Production dependencies only, for the runtime stage, without what only compilers and editors
# read (type declarations, source maps: half of @kubernetes/client-node's size).
RUN rm -rf node_modules && npm ci --omit=dev --no-audit --no-fund \
      -w @ironlb/core -w @ironlb/memberlist -w @ironlb/layer2 -w @ironlb/k8s -w @ironlb/controller -w @ironlb/speaker \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete \
 && rm -rf node_modules/@types

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/packages/core/package.json ./packages/core/
COPY --from=build /src/packages/core/dist ./packages/core/dist
COPY --from=build /src/packages/memberlist/package.json ./packages/memberlist/
COPY --from=build /src/packages/memberlist/dist ./packages/memberlist/dist
COPY --from=build /src/packages/layer2/package.json ./packages/layer2/
COPY --from=build /src/packages/layer2/dist ./packages/layer2/dist
COPY --from=build /src/packages/layer2/build/ironlb_packet.node ./packages/layer2/build/
COPY --from=build /src/packages/k8s/package.json ./packages/k8s/
COPY --from=build /src/packages/k8s/dist ./packages/k8s/dist
COPY --from=build /src/packages/controller/package.json ./packages/controller/
COPY --from=build /src/packages/controller/dist ./packages/controller/dist
COPY --from=build /src/packages/speaker/package.json ./packages/speaker/
COPY --from=build /src/packages/speaker/dist ./packages/speaker/dist
# Non-root by default; the speaker's manifest runs it as uid 0 with only CAP_NET_RAW.
USER 65534:65534
ENTRYPOINT ["node"]
CMD ["/app/packages/controller/dist/main.js"]
