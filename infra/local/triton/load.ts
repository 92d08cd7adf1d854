/**
 * A bounded load generator for a local Triton: `rps` inference requests per second for
 * `durationMs`, at most `concurrency` in flight (a request waits for a free slot, so a slow
 * server lowers the achieved rate rather than piling up requests), never more than `maxRequests`
 * in total, and only to loopback URLs. Inputs default to zeros shaped from the model's metadata
 * (`GET /v2/models/<m>`), with every variable dimension (the batch one included) set to 1.
 */

export interface InferInput {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}

export interface LoadOptions {
  /** A Triton base URL: a server's own, or a fleet pod's `.../pools/<pool>/pods/<pod>`. */
  url: string;
  model: string;
  version?: string;
  /** Requests per second, 0 < rps <= 1000. */
  rps: number;
  /** How long to send, 0 < durationMs <= 600000. */
  durationMs: number;
  inputs?: InferInput[];
  /** Requests in flight at most (default 16, at most 256). */
  concurrency?: number;
  /** Hard cap on requests sent (default and maximum 100000). */
  maxRequests?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface LoadResult {
  sent: number;
  succeeded: number;
  failed: number;
  /** Responses by HTTP status, plus `network` for requests that got none. */
  byStatus: Record<string, number>;
  /** The first few error messages, for humans. */
  errors: string[];
  elapsedMs: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

const LIMITS = { rps: 1000, durationMs: 600_000, concurrency: 256, maxRequests: 100_000 };

export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || /^127(\.[0-9]{1,3}){3}$/.test(host);
}

function check(name: string, value: number, max: number): void {
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    throw new RangeError(`${name} must be in (0, ${max}], got ${value}`);
  }
}

const zeroOf = (datatype: string): unknown => (datatype === 'BYTES' ? '' : datatype === 'BOOL' ? false : 0);

/** Zero inputs for a model, from its metadata. */
export async function inputsFromMetadata(
  base: string,
  model: string,
  headers: Record<string, string> = {},
): Promise<InferInput[]> {
  const res = await fetch(`${base}/v2/models/${encodeURIComponent(model)}`, { headers });
  const body = (await res.json()) as {
    error?: string;
    inputs?: Array<{ name: string; datatype: string; shape: number[] }>;
  };
  if (!res.ok) throw new Error(`model metadata for '${model}': ${res.status} ${body.error ?? ''}`.trim());
  return (body.inputs ?? []).map((t) => {
    const shape = t.shape.map((d) => (d < 0 ? 1 : d));
    const count = shape.reduce((n, d) => n * d, 1);
    return { name: t.name, datatype: t.datatype, shape, data: new Array(count).fill(zeroOf(t.datatype)) };
  });
}

export async function generateLoad(options: LoadOptions): Promise<LoadResult> {
  if (!isLoopbackUrl(options.url)) throw new Error(`refusing non-loopback URL ${options.url}`);
  check('rps', options.rps, LIMITS.rps);
  check('durationMs', options.durationMs, LIMITS.durationMs);
  const concurrency = options.concurrency ?? 16;
  check('concurrency', concurrency, LIMITS.concurrency);
  const cap = Math.min(options.maxRequests ?? LIMITS.maxRequests, LIMITS.maxRequests);
  check('maxRequests', cap, LIMITS.maxRequests);
  const headers = { 'content-type': 'application/json', ...options.headers };
  const base = options.url.replace(/\/+$/, '');
  const inputs = options.inputs ?? (await inputsFromMetadata(base, options.model, options.headers));
  const path = `${base}/v2/models/${encodeURIComponent(options.model)}${
    options.version === undefined ? '' : `/versions/${encodeURIComponent(options.version)}`
  }/infer`;
  const body = JSON.stringify({ inputs });
  const total = Math.min(cap, Math.max(1, Math.floor((options.rps * options.durationMs) / 1000)));
  const intervalMs = 1000 / options.rps;

  const result: LoadResult = {
    sent: 0,
    succeeded: 0,
    failed: 0,
    byStatus: {},
    errors: [],
    elapsedMs: 0,
    latencyMs: { p50: 0, p90: 0, p99: 0, max: 0 },
  };
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + options.durationMs;
  let inFlight = 0;
  const slotFreed: Array<() => void> = [];
  const running: Array<Promise<void>> = [];

  const one = async () => {
    const t0 = performance.now();
    try {
      const res = await fetch(path, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
      const text = await res.text();
      result.byStatus[String(res.status)] = (result.byStatus[String(res.status)] ?? 0) + 1;
      if (res.ok) result.succeeded += 1;
      else {
        result.failed += 1;
        if (result.errors.length < 5) result.errors.push(`${res.status} ${text}`);
      }
    } catch (err) {
      result.byStatus.network = (result.byStatus.network ?? 0) + 1;
      result.failed += 1;
      if (result.errors.length < 5) result.errors.push(String(err));
    } finally {
      latencies.push(performance.now() - t0);
      inFlight -= 1;
      slotFreed.shift()?.();
    }
  };

  for (let i = 0; i < total; i++) {
    const due = started + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (performance.now() >= deadline) break;
    while (inFlight >= concurrency) await new Promise<void>((r) => slotFreed.push(r));
    inFlight += 1;
    result.sent += 1;
    running.push(one());
  }
  await Promise.all(running);
  result.elapsedMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const pick = (q: number) =>
    latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  result.latencyMs = { p50: pick(0.5), p90: pick(0.9), p99: pick(0.99), max: latencies.at(-1) ?? 0 };
  return result;
}
