/** One measured figure, printed as a JSON line by run.ts. */
export interface Figure {
  metric: string;
  value: number;
  unit: string;
}

/** What run.ts hands a benchmark: an emitter for figures, its CLI args and a stderr logger. */
export interface BenchContext {
  emit: (f: Figure) => void;
  args: string[];
  log: (msg: string) => void;
}

/** A benchmark module default-exports one async function. */
export interface BenchModule {
  default(ctx: BenchContext): Promise<void>;
}

/** The q-quantile (0..1) of samples, nearest-rank; NaN for no samples. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}
