/**
 * Managed Service for Prometheus, collection side: scrape targets on their interval and store
 * each sample as `prometheus.googleapis.com/<name>/<kind>` on a `prometheus_target` resource,
 * as GMP's managed collectors do. Targets come from an injected function, so this folder knows
 * nothing of the Kubernetes server; `scrapeTargetsFromPodMonitorings` resolves PodMonitoring
 * objects against plain Pod JSON for whoever wires the two together.
 */
import { MonitoringApiError } from './errors';
import { type PromFamily, parsePrometheusText } from './promtext';
import { type MetricStore, type SeriesWrite, seriesKey } from './store';
import type { Point } from './types';

export interface ScrapeTarget {
  namespace: string;
  job: string;
  instance: string;
  /** Extra metric labels (PodMonitoring `targetLabels`). */
  labels?: Record<string, string>;
  intervalMs?: number;
  /** Prometheus text exposition. */
  fetch(): Promise<string>;
}

export type TargetSource = () => ScrapeTarget[] | Promise<ScrapeTarget[]>;

/** GMP's default scrape interval for a PodMonitoring endpoint without one. */
export const DEFAULT_SCRAPE_INTERVAL_MS = 60_000;

export interface ScraperOptions {
  store: MetricStore;
  project: string;
  location: string;
  cluster: string;
  targets: TargetSource;
  nowMs: () => number;
  /** Overrides every target's interval (tests, sandbox). */
  intervalOverrideMs?: number;
}

export interface ScrapeResult {
  target: string;
  ok: boolean;
  samples: number;
  error?: string;
}

const RESOURCE_LABELS = ['project_id', 'location', 'cluster', 'namespace', 'job', 'instance'];

export class Scraper {
  readonly #o: ScraperOptions;
  readonly #lastScrape = new Map<string, number>();
  /** Start time and last value of each cumulative series, to set start times and spot resets. */
  readonly #cumulative = new Map<string, { startMs: number; base: number[]; last: number[] }>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  lastResults: ScrapeResult[] = [];

  constructor(opts: ScraperOptions) {
    this.#o = opts;
  }

  /** Scrapes the targets that are due (all of them with `force`). */
  async tick(force = false): Promise<ScrapeResult[]> {
    const run = this.#running.then(() => this.#tick(force));
    this.#running = run.catch(() => undefined);
    return run;
  }

  async #tick(force: boolean): Promise<ScrapeResult[]> {
    const targets = await this.#o.targets();
    const now = this.#o.nowMs();
    const results: ScrapeResult[] = [];
    for (const t of targets) {
      const id = `${t.namespace}/${t.job}/${t.instance}`;
      const interval = this.#o.intervalOverrideMs ?? t.intervalMs ?? DEFAULT_SCRAPE_INTERVAL_MS;
      const last = this.#lastScrape.get(id);
      if (!force && last !== undefined && now - last < interval) continue;
      this.#lastScrape.set(id, now);
      results.push(await this.#scrape(t, id, now));
    }
    this.lastResults = results;
    return results;
  }

  async #scrape(t: ScrapeTarget, id: string, now: number): Promise<ScrapeResult> {
    let families: PromFamily[];
    try {
      families = parsePrometheusText(await t.fetch());
    } catch (err) {
      return { target: id, ok: false, samples: 0, error: err instanceof Error ? err.message : String(err) };
    }
    const resource = {
      type: 'prometheus_target',
      labels: {
        project_id: this.#o.project,
        location: this.#o.location,
        cluster: this.#o.cluster,
        namespace: t.namespace,
        job: t.job,
        instance: t.instance,
      },
    };
    const writes = families.flatMap((f) => this.#convert(f, resource, t.labels ?? {}, now));
    const errors: string[] = [];
    for (let i = 0; i < writes.length; i += 200) {
      try {
        this.#o.store.write(this.#o.project, writes.slice(i, i + 200), { anyType: true });
      } catch (err) {
        if (!(err instanceof MonitoringApiError)) throw err;
        errors.push(err.message);
      }
    }
    return {
      target: id,
      ok: errors.length === 0,
      samples: writes.length,
      ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    };
  }

  #convert(
    f: PromFamily,
    resource: SeriesWrite['resource'],
    extra: Record<string, string>,
    now: number,
  ): SeriesWrite[] {
    const prefix = 'prometheus.googleapis.com/';
    const out: SeriesWrite[] = [];
    const labelsOf = (l: Record<string, string>, drop: string[] = []) => {
      const m: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...l, ...extra })) {
        if (drop.includes(k)) continue;
        m[RESOURCE_LABELS.includes(k) ? `exported_${k}` : k] = v;
      }
      return m;
    };
    const gauge = (type: string, labels: Record<string, string>, value: number, ts?: number) => {
      if (!Number.isFinite(value)) return;
      out.push({
        metric: { type: prefix + type, labels },
        resource,
        metricKind: 'GAUGE',
        valueType: 'DOUBLE',
        points: [{ endMs: ts ?? now, value: { doubleValue: value } }],
      });
    };
    const cumulative = (type: string, labels: Record<string, string>, value: number, ts?: number) => {
      if (!Number.isFinite(value)) return;
      const endMs = ts ?? now;
      const adjusted = this.#resetAdjusted(prefix + type, labels, resource, [value], endMs);
      if (!adjusted) return;
      out.push({
        metric: { type: prefix + type, labels },
        resource,
        metricKind: 'CUMULATIVE',
        valueType: 'DOUBLE',
        points: [{ startMs: adjusted.startMs, endMs, value: { doubleValue: adjusted.values[0] ?? 0 } }],
      });
    };
    switch (f.type) {
      case 'gauge':
        for (const s of f.samples) gauge(`${f.name}/gauge`, labelsOf(s.labels), s.value, s.timestampMs);
        break;
      case 'counter':
        for (const s of f.samples)
          cumulative(`${f.name}/counter`, labelsOf(s.labels), s.value, s.timestampMs);
        break;
      case 'untyped':
        for (const s of f.samples) {
          gauge(`${f.name}/unknown`, labelsOf(s.labels), s.value, s.timestampMs);
          cumulative(`${f.name}/unknown:counter`, labelsOf(s.labels), s.value, s.timestampMs);
        }
        break;
      case 'summary':
        for (const s of f.samples) {
          if (s.name === `${f.name}_sum`)
            cumulative(`${f.name}_sum/summary`, labelsOf(s.labels), s.value, s.timestampMs);
          else if (s.name === `${f.name}_count`) {
            cumulative(`${f.name}_count/summary`, labelsOf(s.labels), s.value, s.timestampMs);
          } else gauge(`${f.name}/summary`, labelsOf(s.labels), s.value, s.timestampMs);
        }
        break;
      case 'histogram':
        out.push(...this.#histograms(f, resource, labelsOf, now));
        break;
    }
    return out;
  }

  /** A histogram's `_bucket`/`_sum`/`_count` samples become one DISTRIBUTION point per label set. */
  #histograms(
    f: PromFamily,
    resource: SeriesWrite['resource'],
    labelsOf: (l: Record<string, string>, drop?: string[]) => Record<string, string>,
    now: number,
  ): SeriesWrite[] {
    const groups = new Map<
      string,
      { labels: Record<string, string>; buckets: [number, number][]; sum: number; count: number; ts?: number }
    >();
    for (const s of f.samples) {
      const labels = labelsOf(s.labels, ['le']);
      const key = JSON.stringify(Object.entries(labels).sort());
      const g = groups.get(key) ?? { labels, buckets: [], sum: 0, count: 0 };
      if (s.timestampMs !== undefined) g.ts = s.timestampMs;
      if (s.name === `${f.name}_bucket`) {
        const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
        g.buckets.push([le, s.value]);
      } else if (s.name === `${f.name}_sum`) g.sum = s.value;
      else if (s.name === `${f.name}_count`) g.count = s.value;
      groups.set(key, g);
    }
    const type = `prometheus.googleapis.com/${f.name}/histogram`;
    const out: SeriesWrite[] = [];
    for (const g of groups.values()) {
      const sorted = g.buckets.sort((a, b) => a[0] - b[0]);
      const bounds = sorted.filter(([le]) => Number.isFinite(le)).map(([le]) => le);
      const counts: number[] = [];
      let prev = 0;
      for (const [le, cum] of sorted) {
        if (!Number.isFinite(le)) continue;
        counts.push(Math.max(0, cum - prev));
        prev = cum;
      }
      counts.push(Math.max(0, g.count - prev));
      const endMs = g.ts ?? now;
      const adjusted = this.#resetAdjusted(type, g.labels, resource, [g.count, g.sum, ...counts], endMs);
      if (!adjusted) continue;
      const [count = 0, sum = 0, ...bucketCounts] = adjusted.values;
      const point: Point = {
        startMs: adjusted.startMs,
        endMs,
        value: {
          distributionValue: {
            count: String(count),
            mean: count > 0 ? sum / count : 0,
            bucketOptions: { explicitBuckets: { bounds } },
            bucketCounts: bucketCounts.map(String),
          },
        },
      };
      out.push({
        metric: { type, labels: g.labels },
        resource,
        metricKind: 'CUMULATIVE',
        valueType: 'DISTRIBUTION',
        points: [point],
      });
    }
    return out;
  }

  /**
   * GMP's reset handling for cumulative samples: the first sample of a series is not written but
   * kept as its reset point (start time and baseline); later samples are written as the increase
   * over the baseline since that start time. A value going down is a reset: the new start is just
   * before it and the baseline zero.
   */
  #resetAdjusted(
    type: string,
    labels: Record<string, string>,
    resource: SeriesWrite['resource'],
    values: number[],
    endMs: number,
  ): { startMs: number; values: number[] } | undefined {
    const key = seriesKey({ type, labels }, resource);
    const known = this.#cumulative.get(key);
    if (!known) {
      this.#cumulative.set(key, { startMs: endMs, base: values, last: values });
      return undefined;
    }
    if ((values[0] ?? 0) < (known.last[0] ?? 0) || values.length !== known.base.length) {
      known.startMs = endMs - 1;
      known.base = values.map(() => 0);
    }
    known.last = values;
    if (endMs <= known.startMs) return undefined;
    return { startMs: known.startMs, values: values.map((v, i) => Math.max(0, v - (known.base[i] ?? 0))) };
  }

  start(pollMs: number): void {
    this.stop();
    this.#timer = setInterval(() => void this.tick().catch(() => undefined), pollMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

// ---- PodMonitoring resolution ----

export interface PodMonitoringLike {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    selector?: {
      matchLabels?: Record<string, string>;
      matchExpressions?: { key: string; operator: string; values?: string[] }[];
    };
    endpoints?: { port?: string | number; path?: string; interval?: string; scheme?: string }[];
    targetLabels?: { fromPod?: { from: string; to?: string }[]; metadata?: string[] };
  };
}

export interface PodLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    nodeName?: string;
    containers?: { name?: string; ports?: { name?: string; containerPort?: number }[] }[];
  };
  status?: { phase?: string; podIP?: string; conditions?: { type?: string; status?: string }[] };
}

/** Fetches `path` from `pod` on the resolved numeric `port`. */
export type PodFetcher = (pod: PodLike, port: number, path: string) => Promise<string>;

/** Prometheus durations as PodMonitoring takes them: `30s`, `1m`, `1m30s`, `500ms`. */
export function parsePromDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * (units[m[2] as string] ?? 0);
    consumed += m[0].length;
  }
  return consumed === s.length && consumed > 0 ? total : undefined;
}

function selects(
  sel: NonNullable<PodMonitoringLike['spec']>['selector'],
  labels: Record<string, string>,
): boolean {
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel?.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key] as string);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function isRunningAndReady(pod: PodLike): boolean {
  return (
    pod.status?.phase === 'Running' &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

function resolvePort(pod: PodLike, port: string | number): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === port && p.containerPort) return p.containerPort;
  }
  return undefined;
}

/**
 * The scrape targets GMP derives from `monitoring.googleapis.com/v1` PodMonitorings: every
 * Running and Ready pod in the PodMonitoring's namespace matching its selector, once per
 * endpoint; job = the PodMonitoring's name, instance = `<pod>:<port>` (the port as written).
 */
export function scrapeTargetsFromPodMonitorings(
  podMonitorings: readonly PodMonitoringLike[],
  pods: readonly PodLike[],
  fetchFor: PodFetcher,
): ScrapeTarget[] {
  const targets: ScrapeTarget[] = [];
  for (const pm of podMonitorings) {
    const namespace = pm.metadata?.namespace ?? 'default';
    const job = pm.metadata?.name ?? '';
    if (!pm.spec?.selector) continue;
    for (const pod of pods) {
      const podName = pod.metadata?.name ?? '';
      if ((pod.metadata?.namespace ?? 'default') !== namespace) continue;
      if (!selects(pm.spec.selector, pod.metadata?.labels ?? {}) || !isRunningAndReady(pod)) continue;
      const labels: Record<string, string> = {};
      for (const { from, to } of pm.spec.targetLabels?.fromPod ?? []) {
        const v = pod.metadata?.labels?.[from];
        if (v !== undefined) labels[to ?? from] = v;
      }
      for (const ep of pm.spec.endpoints ?? []) {
        if (ep.port === undefined) continue;
        const port = resolvePort(pod, ep.port);
        if (port === undefined) continue;
        const path = ep.path ?? '/metrics';
        const intervalMs = parsePromDuration(ep.interval ?? '') ?? DEFAULT_SCRAPE_INTERVAL_MS;
        targets.push({
          namespace,
          job,
          instance: `${podName}:${ep.port}`,
          ...(Object.keys(labels).length > 0 ? { labels } : {}),
          intervalMs,
          fetch: () => fetchFor(pod, port, path),
        });
      }
    }
  }
  return targets;
}
