/**
 * `npm run bench -- NAME [args]`: runs the benchmark module test/bench/NAME.ts and prints one
 * JSON line per figure: {"bench": NAME, "metric": M, "value": N, "unit": U}.
 * Benchmarks report figures; they never pass or fail on a threshold (timed assertions flake on
 * a 2-core machine), so the process exits non-zero only when the benchmark itself crashes.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchModule, Figure } from './figure.js';

const here = dirname(fileURLToPath(import.meta.url));

function available(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !['run.ts', 'figure.ts'].includes(f) && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  if (name === undefined || !available().includes(name)) {
    console.error(`usage: npm run bench -- NAME   (NAME: ${available().join(', ')})`);
    process.exit(2);
  }
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as BenchModule;
  const emit = (f: Figure): void => {
    console.log(JSON.stringify({ bench: name, metric: f.metric, value: f.value, unit: f.unit }));
  };
  await mod.default({ emit, args, log: (msg: string) => console.error(`[${name}] ${msg}`) });
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
