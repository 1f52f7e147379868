# One image for both processes:
#   controller: node /app/controller/main.mjs
#   speaker:    node /app/speaker/main.mjs   (needs NET_RAW, see deploy/ironlb.yaml)
# Build: docker build -t ironlb:0.1.0 .
# Each process is one esbuild bundle (scripts/bundle.mjs: it starts in a fraction of the time a
# tree of ~1000 module files takes), so the runtime stage holds two files and the AF_PACKET addon:
# no node_modules, no compiler, no tests, no type declarations.
FROM node:20-bookworm-slim AS build
WORKDIR /src
# node-gyp needs a C toolchain and python for the layer2 AF_PACKET addon.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY test/package.json test/tsconfig.json ./test/
COPY scripts/bundle.mjs ./scripts/
RUN npm ci --no-audit --no-fund
# The official image keeps Node's headers under /usr/local/include/node: no header download.
RUN npm_config_nodedir=/usr/local node packages/layer2/scripts/build-native.mjs \
 && npx tsc -b packages/controller/tsconfig.build.json packages/speaker/tsconfig.build.json \
 && node scripts/bundle.mjs

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/packages/controller/bundle/main.mjs ./controller/
COPY --from=build /src/packages/speaker/bundle/main.mjs /src/packages/speaker/bundle/ironlb_packet.node ./speaker/
# Non-root by default; the speaker's manifest runs it as uid 0 with only CAP_NET_RAW.
USER 65534:65534
ENTRYPOINT ["node"]
CMD ["/app/controller/main.mjs"]
