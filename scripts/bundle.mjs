#!/usr/bin/env node
// Bundles each process into one ESM file with esbuild (after `tsc -b`):
//   packages/speaker/bundle/main.mjs (+ ironlb_packet.node beside it)
//   packages/controller/bundle/main.mjs
// Why: Node resolves and compiles every module file at start. @kubernetes/client-node alone is
// ~900 files; loading it file by file took 1.0–2.0 s and ~125 MB RSS on a busy 2-core machine,
// one file takes 0.2–0.3 s and ~73 MB (measured with the speaker). Start time is failover time
// when every speaker restarts at once, and the speaker runs on every node. The image ships only
// these files (no node_modules), and the lab and cluster tests run exactly them.
import { copyFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** One bundle per process entry point. */
const targets = [
  { entry: 'packages/speaker/dist/main.js', out: 'packages/speaker/bundle/main.mjs', addon: true },
  { entry: 'packages/controller/dist/main.js', out: 'packages/controller/bundle/main.mjs', addon: false },
];

for (const t of targets) {
  const outfile = join(root, t.out);
  await build({
    entryPoints: [join(root, t.entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // CommonJS dependencies call require(); an ESM file has none unless we make one.
    banner: { js: "import { createRequire as __ironlbCreateRequire } from 'node:module'; const require = __ironlbCreateRequire(import.meta.url);" },
    // The addon is loaded at run time from beside the bundle (see layer2's afpacket.ts).
    external: ['*.node'],
    // Whitespace and comments go; identifiers stay (stack traces and logs keep their names). A
    // single non-ASCII character in a comment makes V8 hold the whole source as UTF-16: ~11 MB
    // of RSS for a 5.5 MB bundle.
    minifyWhitespace: true,
    minifySyntax: true,
    charset: 'ascii',
    legalComments: 'linked',
    logLevel: 'warning',
  });
  if (t.addon) {
    // Copy, then rename over the old file: a running speaker has the old one mapped, and writing
    // into it in place (copyFile truncates) kills that process with SIGBUS.
    const target = join(dirname(outfile), 'ironlb_packet.node');
    copyFileSync(join(root, 'packages/layer2/build/ironlb_packet.node'), `${target}.${process.pid}.tmp`);
    renameSync(`${target}.${process.pid}.tmp`, target);
  }
  console.log(`bundle: ${t.out}`);
}
