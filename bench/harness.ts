/**
 * A small benchmark harness. Benchmarks print figures; they never assert on time. A figure with a
 * natural baseline carries the baseline measured in the same run and the ratio value / baseline,
 * so machine speed cancels out of the number worth reading.
 */

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The same quantity for the reference, measured in the same run, in the same unit. */
  baseline?: number;
  /** value / baseline. */
  ratio?: number;
  /** What the figure should reach, as the issue states it (`<= 1.3x`, `>= 20x faster`). */
  goal?: string;
}

export interface Stats {
  name: string;
  iterations: number;
  medianMs: number;
  p95Ms: number;
  minMs: number;
}

export interface MeasureOptions {
  iterations: number;
  warmup: number;
}

/** What run.ts hands to each benchmark module. */
export interface BenchContext {
  quick: boolean;
  /** Progress and notes: stderr, so `--json` keeps stdout a JSON array. */
  log(message: string): void;
}

/** A benchmark module's default export. */
export type Bench = (ctx: BenchContext) => Promise<Figure[]>;

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Times `fn` sequentially: `warmup` untimed calls, then `iterations` timed ones. */
export async function measure(
  name: string,
  fn: () => unknown,
  { iterations, warmup }: MeasureOptions,
): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) samples.push(await timeOnce(fn));
  return statsOf(name, samples);
}

async function timeOnce(fn: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function statsOf(name: string, samples: readonly number[]): Stats {
  return {
    name,
    iterations: samples.length,
    medianMs: median(samples),
    p95Ms: percentile(samples, 95),
    minMs: Math.min(...samples),
  };
}

/**
 * Times a subject and its baseline alternately (subject, baseline, subject, ...), so a burst of
 * load from a neighbour on a shared machine hits both rather than skewing the ratio.
 */
export async function measurePair(
  subject: { name: string; fn: () => unknown },
  baseline: { name: string; fn: () => unknown },
  { iterations, warmup }: MeasureOptions,
): Promise<{ subject: Stats; baseline: Stats }> {
  for (let i = 0; i < warmup; i++) {
    await subject.fn();
    await baseline.fn();
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < iterations; i++) {
    a.push(await timeOnce(subject.fn));
    b.push(await timeOnce(baseline.fn));
  }
  return { subject: statsOf(subject.name, a), baseline: statsOf(baseline.name, b) };
}

/** A figure compared with its baseline (ratio = value / baseline), and the goal it is held to. */
export function figure(name: string, value: number, unit: string, baseline?: number, goal?: string): Figure {
  const g = goal === undefined ? {} : { goal };
  if (baseline === undefined) return { name, value, unit, ...g };
  return { name, value, unit, baseline, ratio: baseline === 0 ? Number.NaN : value / baseline, ...g };
}

/** Median and p95 of `subject`, each against the same statistic of `baseline`. */
export function timeFigures(name: string, subject: Stats, baseline?: Stats, goal?: string): Figure[] {
  return [
    figure(`${name} (median)`, subject.medianMs, 'ms', baseline?.medianMs, goal),
    figure(`${name} (p95)`, subject.p95Ms, 'ms', baseline?.p95Ms),
  ];
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 1 : abs >= 1 ? 2 : 4;
  return n.toFixed(digits);
}

function formatRatio(r: number | undefined): string {
  if (r === undefined) return '';
  if (!Number.isFinite(r)) return String(r);
  return `${r >= 100 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toPrecision(2)}x`;
}

/** An aligned text table: name left-aligned, numbers right-aligned; a goal column when any has one. */
export function formatTable(figures: readonly Figure[]): string {
  const goals = figures.some((f) => f.goal !== undefined);
  const header = ['name', 'value', 'unit', 'baseline', 'ratio', ...(goals ? ['goal'] : [])];
  const rows = figures.map((f) => [
    f.name,
    formatNumber(f.value),
    f.unit,
    f.baseline === undefined ? '' : formatNumber(f.baseline),
    formatRatio(f.ratio),
    ...(goals ? [f.goal ?? ''] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 || i === 2 || i === 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** `--json` output: the figures and nothing else (NaN and Infinity become null). */
export function formatJson(figures: readonly Figure[]): string {
  return JSON.stringify(figures, (_key, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? null : v,
  );
}

export const MiB = 1024 * 1024;
