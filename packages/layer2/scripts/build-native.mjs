#!/usr/bin/env node
// Builds the AF_PACKET addon (native/packet.c) with node-gyp against the Node headers installed
// under /usr/include/node, so node-gyp never downloads headers, and copies the result to
// packages/layer2/build/ironlb_packet.node where src/afpacket.ts loads it.
//
// binding.gyp lives in native/ rather than the package root on purpose: a root binding.gyp
// makes npm run an implicit `node-gyp rebuild` on install, which would try to fetch headers.
// Exits non-zero with one clear line on failure; node-gyp's own output goes to stderr only
// when it fails, so a green build stays quiet.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(pkgDir, 'native');
const outDir = join(pkgDir, 'build');
const nodeDir = process.env.npm_config_nodedir ?? '/usr';
const gypCandidates = [process.env.NODE_GYP, '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js', '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'].filter(
  (p) => typeof p === 'string' && p.length > 0,
);

function fail(line, detail) {
  if (detail) process.stderr.write(detail);
  process.stderr.write(`build-native: ${line}\n`);
  process.exit(1);
}

const gyp = gypCandidates.find((p) => existsSync(p));
if (gyp === undefined) fail(`node-gyp not found (tried ${gypCandidates.join(', ')}; set NODE_GYP)`);
if (!existsSync(join(nodeDir, 'include', 'node', 'node_api.h'))) {
  fail(`Node headers not found under ${nodeDir}/include/node (set npm_config_nodedir)`);
}

const res = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodeDir}`], {
  cwd: nativeDir,
  encoding: 'utf8',
  env: { ...process.env, npm_config_nodedir: nodeDir },
  timeout: 300_000,
});
if (res.error) fail(`could not run node-gyp: ${res.error.message}`);
if (res.status !== 0) {
  fail(`node-gyp rebuild failed with status ${String(res.status)} (gcc, make and python3 are required)`, `${res.stdout ?? ''}${res.stderr ?? ''}`);
}
const built = join(nativeDir, 'build', 'Release', 'ironlb_packet.node');
if (!existsSync(built)) fail(`node-gyp succeeded but ${built} is missing`);
mkdirSync(outDir, { recursive: true });
// Copy, then rename over the old file: a running speaker has the old one mapped, and writing
// into it in place (copyFile truncates) kills that process with SIGBUS.
const target = join(outDir, 'ironlb_packet.node');
copyFileSync(built, `${target}.${process.pid}.tmp`);
renameSync(`${target}.${process.pid}.tmp`, target);
process.stdout.write(`build-native: built ${join(outDir, 'ironlb_packet.node')}\n`);
