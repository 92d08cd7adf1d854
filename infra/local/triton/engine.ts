/**
 * Simulated execution for the local Triton: a capacity model per model version and the
 * statistics and Prometheus metrics Triton derives from it. Each loaded version has as many
 * instances as its `instance_group` counts (default 1); a request waits in a FIFO queue while
 * every instance is busy, then computes for `computeMs` (split 5/90/5 into compute input, infer
 * and output, as Triton reports them). So queue time grows once the load exceeds
 * `instances / computeMs` requests per millisecond. Nothing is executed: outputs are zeros.
 */

export interface Durations {
  count: number;
  ns: number;
}

export interface VersionStats {
  success: Durations;
  fail: Durations;
  queue: Durations;
  computeInput: Durations;
  computeInfer: Durations;
  computeOutput: Durations;
  /** Failures by Triton's reason label (REJECTED, CANCELED, BACKEND, OTHER). */
  failures: Map<string, number>;
  inferenceCount: number;
  executionCount: number;
  lastInferenceMs: number;
  pending: number;
  batches: Map<number, { computeInput: Durations; computeInfer: Durations; computeOutput: Durations }>;
}

export interface Clock {
  /** Monotonic milliseconds (fractions allowed). */
  now(): number;
  /** Wall-clock epoch milliseconds, for `last_inference`. */
  epochMs(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  epochMs: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const zero = (): Durations => ({ count: 0, ns: 0 });

function newStats(): VersionStats {
  return {
    success: zero(),
    fail: zero(),
    queue: zero(),
    computeInput: zero(),
    computeInfer: zero(),
    computeOutput: zero(),
    failures: new Map(),
    inferenceCount: 0,
    executionCount: 0,
    lastInferenceMs: 0,
    pending: 0,
    batches: new Map(),
  };
}

class Lane {
  busy = 0;
  readonly waiting: Array<() => void> = [];
  constructor(public instances: number) {}

  acquire(): Promise<void> {
    if (this.busy < this.instances) {
      this.busy += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy -= 1;
  }
}

export interface GpuOptions {
  uuid: string;
  memoryTotalBytes?: number;
  /** Memory used with no model loaded (CUDA context, Triton itself). */
  memoryBaseBytes?: number;
  /** Memory each loaded model version takes. */
  memoryPerModelBytes?: number;
  idleWatts?: number;
  maxWatts?: number;
}

const UTILIZATION_WINDOW_MS = 1000;

export class Engine {
  readonly #stats = new Map<string, VersionStats>();
  readonly #lanes = new Map<string, Lane>();
  /** Execution intervals of the last window, for GPU utilization. */
  #intervals: Array<[start: number, end: number | undefined]> = [];

  constructor(
    readonly clock: Clock,
    readonly gpu: Required<GpuOptions>,
  ) {}

  stats(model: string, version: number): VersionStats {
    const key = `${model}\u0000${version}`;
    let s = this.#stats.get(key);
    if (!s) {
      s = newStats();
      this.#stats.set(key, s);
    }
    return s;
  }

  /** Every version with statistics, sorted. */
  entries(): Array<[model: string, version: number, stats: VersionStats]> {
    return [...this.#stats]
      .map(([k, s]) => {
        const [m, v] = k.split('\u0000');
        return [m!, Number(v), s] as [string, number, VersionStats];
      })
      .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x - y));
  }

  /** Sets how many instances a version runs (a reload may change it). */
  setInstances(model: string, version: number, instances: number): void {
    const key = `${model}\u0000${version}`;
    const lane = this.#lanes.get(key);
    if (lane) lane.instances = instances;
    else this.#lanes.set(key, new Lane(instances));
    this.stats(model, version);
  }

  recordFailure(model: string, version: number, reason: string, startedMs: number): void {
    const s = this.stats(model, version);
    s.fail.count += 1;
    s.fail.ns += Math.round((this.clock.now() - startedMs) * 1e6);
    s.failures.set(reason, (s.failures.get(reason) ?? 0) + 1);
  }

  /** Queues one request of `batch` inferences, then "computes" it for `computeMs`. */
  async execute(
    model: string,
    version: number,
    batch: number,
    computeMs: number,
    arrivedMs: number,
  ): Promise<void> {
    const key = `${model}\u0000${version}`;
    let lane = this.#lanes.get(key);
    if (!lane) {
      lane = new Lane(1);
      this.#lanes.set(key, lane);
    }
    const s = this.stats(model, version);
    s.pending += 1;
    await lane.acquire();
    s.pending -= 1;
    const started = this.clock.now();
    const interval: [number, number | undefined] = [started, undefined];
    this.#intervals.push(interval);
    try {
      await this.clock.sleep(computeMs);
    } finally {
      const ended = this.clock.now();
      interval[1] = ended;
      lane.release();
      const compute = ended - started;
      const parts = [0.05, 0.9, 0.05].map((f) => Math.round(compute * f * 1e6));
      const ns = (ms: number) => Math.round(ms * 1e6);
      s.success.count += 1;
      s.success.ns += ns(ended - arrivedMs);
      s.queue.count += 1;
      s.queue.ns += ns(started - arrivedMs);
      for (const [d, part] of [
        [s.computeInput, parts[0]!],
        [s.computeInfer, parts[1]!],
        [s.computeOutput, parts[2]!],
      ] as const) {
        d.count += 1;
        d.ns += part;
      }
      let b = s.batches.get(batch);
      if (!b) {
        b = { computeInput: zero(), computeInfer: zero(), computeOutput: zero() };
        s.batches.set(batch, b);
      }
      b.computeInput.count += 1;
      b.computeInput.ns += parts[0]!;
      b.computeInfer.count += 1;
      b.computeInfer.ns += parts[1]!;
      b.computeOutput.count += 1;
      b.computeOutput.ns += parts[2]!;
      s.inferenceCount += batch;
      s.executionCount += 1;
      s.lastInferenceMs = this.clock.epochMs();
    }
  }

  /** Fraction of the last second during which some execution ran (0..1). */
  utilization(): number {
    const now = this.clock.now();
    const from = now - UTILIZATION_WINDOW_MS;
    this.#intervals = this.#intervals.filter(([, end]) => end === undefined || end > from);
    const spans = this.#intervals
      .map(([s, e]) => [Math.max(s, from), e ?? now] as [number, number])
      .sort((a, b) => a[0] - b[0]);
    let busy = 0;
    let cursor = from;
    for (const [s, e] of spans) {
      const start = Math.max(s, cursor);
      if (e > start) {
        busy += e - start;
        cursor = e;
      }
    }
    return Math.min(1, Math.max(0, busy / UTILIZATION_WINDOW_MS));
  }

  /** Triton's metrics endpoint, in Prometheus text exposition format 0.0.4. */
  metricsText(loaded: Array<[model: string, version: number]>): string {
    const rows = new Map<string, [string, number, VersionStats]>();
    for (const [m, v] of loaded) rows.set(`${m}\u0000${v}`, [m, v, this.stats(m, v)]);
    const all = [...rows.values()].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x - y));
    const lines: string[] = [];
    const family = (
      name: string,
      help: string,
      type: 'counter' | 'gauge',
      value: (s: VersionStats) => number,
    ) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [m, v, s] of all) lines.push(`${name}{model="${esc(m)}",version="${v}"} ${value(s)}`);
    };
    const us = (d: Durations) => Math.round(d.ns / 1000);
    family(
      'nv_inference_request_success',
      'Number of successful inference requests, all batch sizes',
      'counter',
      (s) => s.success.count,
    );
    lines.push(
      '# HELP nv_inference_request_failure Number of failed inference requests, all batch sizes',
      '# TYPE nv_inference_request_failure counter',
    );
    for (const [m, v, s] of all) {
      for (const reason of ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER']) {
        lines.push(
          `nv_inference_request_failure{model="${esc(m)}",reason="${reason}",version="${v}"} ${s.failures.get(reason) ?? 0}`,
        );
      }
    }
    family(
      'nv_inference_count',
      'Number of inferences performed (does not include cached requests)',
      'counter',
      (s) => s.inferenceCount,
    );
    family(
      'nv_inference_exec_count',
      'Number of model executions performed (does not include cached requests)',
      'counter',
      (s) => s.executionCount,
    );
    family(
      'nv_inference_request_duration_us',
      'Cumulative inference request duration in microseconds (includes cached requests)',
      'counter',
      (s) => us(s.success),
    );
    family(
      'nv_inference_queue_duration_us',
      'Cumulative inference queuing duration in microseconds (includes cached requests)',
      'counter',
      (s) => us(s.queue),
    );
    family(
      'nv_inference_compute_input_duration_us',
      'Cumulative compute input duration in microseconds (does not include cached requests)',
      'counter',
      (s) => us(s.computeInput),
    );
    family(
      'nv_inference_compute_infer_duration_us',
      'Cumulative compute inference duration in microseconds (does not include cached requests)',
      'counter',
      (s) => us(s.computeInfer),
    );
    family(
      'nv_inference_compute_output_duration_us',
      'Cumulative inference compute output duration in microseconds (does not include cached requests)',
      'counter',
      (s) => us(s.computeOutput),
    );
    family(
      'nv_inference_pending_request_count',
      'Instantaneous number of pending requests awaiting execution per-model.',
      'gauge',
      (s) => s.pending,
    );
    const util = this.utilization();
    const gpu = `gpu_uuid="${esc(this.gpu.uuid)}"`;
    const used = this.gpu.memoryBaseBytes + this.gpu.memoryPerModelBytes * loaded.length;
    const watts = this.gpu.idleWatts + (this.gpu.maxWatts - this.gpu.idleWatts) * util;
    lines.push(
      '# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)',
      '# TYPE nv_gpu_utilization gauge',
      `nv_gpu_utilization{${gpu}} ${round(util)}`,
      '# HELP nv_gpu_memory_total_bytes GPU total memory, in bytes',
      '# TYPE nv_gpu_memory_total_bytes gauge',
      `nv_gpu_memory_total_bytes{${gpu}} ${this.gpu.memoryTotalBytes}`,
      '# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes',
      '# TYPE nv_gpu_memory_used_bytes gauge',
      `nv_gpu_memory_used_bytes{${gpu}} ${Math.min(used, this.gpu.memoryTotalBytes)}`,
      '# HELP nv_gpu_power_usage GPU power usage in watts',
      '# TYPE nv_gpu_power_usage gauge',
      `nv_gpu_power_usage{${gpu}} ${round(watts)}`,
    );
    return `${lines.join('\n')}\n`;
  }
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

function esc(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** An NVIDIA L4 (the default GPU class): 23034 MiB, 72 W board power. */
export function defaultGpu(uuid: string, overrides: Partial<GpuOptions> = {}): Required<GpuOptions> {
  return {
    uuid,
    memoryTotalBytes: 23034 * 1024 * 1024,
    memoryBaseBytes: 300 * 1024 * 1024,
    memoryPerModelBytes: 256 * 1024 * 1024,
    idleWatts: 16,
    maxWatts: 72,
    ...overrides,
  };
}
