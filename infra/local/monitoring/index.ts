/**
 * Local wire-level Cloud Monitoring v3 (REST): MetricService (timeSeries, metricDescriptors),
 * AlertPolicyService and NotificationChannelService for the official `@google-cloud/monitoring`
 * clients in REST fallback mode (see `client.ts`); a Managed-Prometheus-style scraper; and an
 * alert evaluator that publishes schema-1.2 incidents. Differences from the real service are in
 * README.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { statusOfHttp } from '../common/google-errors';
import { type LocalServer, readBody, sendJson, startLocalServer } from '../common/server';
import { type Aggregation, aggregate, type ResultSeries } from './aggregate';
import { Alerts, type Incident, type Publish, type SentNotification } from './alerts';
import { invalidArgument, MonitoringApiError } from './errors';
import { parseFilter } from './filter';
import { listTimeSeries, parseListRequest, runQuery } from './query';
import { type ScrapeResult, Scraper, type TargetSource } from './scraper';
import { MetricStore, parseSeriesWrite } from './store';
import {
  type Aligner,
  isRecord,
  type MetricKind,
  numericValue,
  type Reducer,
  type TypedValue,
  type ValueType,
} from './types';

export type { Aggregation, ResultSeries } from './aggregate';
export type { Alerts, Incident, Publish, SentNotification } from './alerts';
export { MonitoringApiError } from './errors';
export { type PromFamily, type PromSample, parsePrometheusText } from './promtext';
export {
  DEFAULT_SCRAPE_INTERVAL_MS,
  type PodFetcher,
  type PodLike,
  type PodMonitoringLike,
  type ScrapeResult,
  type ScrapeTarget,
  scrapeTargetsFromPodMonitorings,
} from './scraper';
export type { MetricStore, Series } from './store';
export type { Aligner, MetricKind, Point, Reducer, TypedValue, ValueType } from './types';

/** Structurally the repository's Clock (only `nowMs` is used). */
export interface MonitoringClock {
  nowMs(): number;
}

export interface MonitoringServerOptions {
  port?: number;
  host?: string;
  project?: string;
  location?: string;
  cluster?: string;
  clock?: MonitoringClock;
  /** Scrape targets (re-read on every scrape pass). */
  targets?: TargetSource;
  /** Overrides every target's scrape interval (GMP's default is 60 s). */
  scrapeIntervalMs?: number;
  /** How often the scraper looks for due targets; 0 = only on `scrape()`. Default 1000. */
  scrapePollMs?: number;
  /** How often alert policies are evaluated; 0 = only on `evaluateAlerts()`. Default 5000. */
  evaluationIntervalMs?: number;
  publish?: Publish;
  projectNumber?: number;
}

export interface WritePointInput {
  project?: string;
  metricType: string;
  metricLabels?: Record<string, string>;
  resourceType?: string;
  resourceLabels?: Record<string, string>;
  metricKind?: MetricKind;
  /** Inferred from `value` when omitted (a number is DOUBLE). */
  valueType?: ValueType;
  value: number | boolean | TypedValue;
  endMs?: number;
  /** Required for CUMULATIVE/DELTA. */
  startMs?: number;
}

export interface QueryInput {
  project?: string;
  filter: string;
  startMs?: number;
  endMs?: number;
  aggregation?: Aggregation;
}

export interface LatestValueInput {
  project?: string;
  metricType: string;
  resourceType?: string;
  resourceLabels?: Record<string, string>;
  metricLabels?: Record<string, string>;
  /** Default: ALIGN_NEXT_OLDER for GAUGE metrics, ALIGN_RATE for CUMULATIVE/DELTA. */
  aligner?: Aligner;
  /** Across the matching series; default REDUCE_SUM. */
  reducer?: Reducer;
  /** Alignment window ending now; default 60. */
  windowSec?: number;
}

export interface MonitoringServer extends LocalServer {
  readonly project: string;
  readonly store: MetricStore;
  readonly alerts: Alerts;
  writePoint(input: WritePointInput): void;
  query(input: QueryInput): ResultSeries[];
  latestValue(input: LatestValueInput): number | undefined;
  /** Scrapes every target now, whatever its interval. */
  scrape(): Promise<ScrapeResult[]>;
  /** Scrapes the targets whose interval has passed (what the timer does). */
  scrapeDue(): Promise<ScrapeResult[]>;
  evaluateAlerts(): Promise<void>;
  incidents(): Incident[];
  notifications(): SentNotification[];
  setPublisher(publish: Publish | undefined): void;
}

export async function startMonitoringServer(opts: MonitoringServerOptions = {}): Promise<MonitoringServer> {
  const clock = opts.clock ?? { nowMs: () => Date.now() };
  const nowMs = () => clock.nowMs();
  const project = opts.project ?? 'local-project';
  const store = new MetricStore({ nowMs });
  const alerts = new Alerts({
    store,
    nowMs,
    ...(opts.publish ? { publish: opts.publish } : {}),
    ...(opts.projectNumber === undefined ? {} : { projectNumber: opts.projectNumber }),
  });
  const scraper = new Scraper({
    store,
    project,
    location: opts.location ?? 'us-central1',
    cluster: opts.cluster ?? 'inference',
    targets: opts.targets ?? (() => []),
    nowMs,
    ...(opts.scrapeIntervalMs === undefined ? {} : { intervalOverrideMs: opts.scrapeIntervalMs }),
  });

  const server = await startLocalServer((req, res) => handle(store, alerts, req, res), {
    ...(opts.port === undefined ? {} : { port: opts.port }),
    ...(opts.host === undefined ? {} : { host: opts.host }),
    name: 'monitoring',
    injectedError: (res, status) =>
      sendJson(res, status, {
        error: { code: status, message: 'injected fault', status: statusOfHttp(status) },
      }),
  });

  const scrapePollMs = opts.scrapePollMs ?? 1000;
  if (scrapePollMs > 0 && opts.targets) scraper.start(scrapePollMs);
  const evalMs = opts.evaluationIntervalMs ?? 5000;
  let evalTimer: NodeJS.Timeout | undefined;
  if (evalMs > 0) {
    evalTimer = setInterval(() => void alerts.evaluate().catch(() => undefined), evalMs);
    evalTimer.unref();
  }

  const query = (q: QueryInput): ResultSeries[] => {
    const endMs = q.endMs ?? nowMs();
    return runQuery(
      store,
      q.project ?? project,
      q.filter,
      q.startMs ?? endMs - 3600_000,
      endMs,
      q.aggregation ?? {},
    );
  };

  return {
    ...server,
    project,
    store,
    alerts,
    close: async () => {
      scraper.stop();
      if (evalTimer) clearInterval(evalTimer);
      await server.close();
    },
    writePoint: (w) => {
      const value: TypedValue =
        typeof w.value === 'number'
          ? w.valueType === 'INT64'
            ? { int64Value: String(Math.round(w.value)) }
            : { doubleValue: w.value }
          : typeof w.value === 'boolean'
            ? { boolValue: w.value }
            : w.value;
      store.write(
        w.project ?? project,
        [
          {
            metric: { type: w.metricType, labels: w.metricLabels ?? {} },
            resource: {
              type: w.resourceType ?? 'global',
              labels: w.resourceLabels ?? { project_id: project },
            },
            metricKind: w.metricKind ?? 'GAUGE',
            ...(w.valueType ? { valueType: w.valueType } : {}),
            points: [
              {
                ...(w.startMs === undefined ? {} : { startMs: w.startMs }),
                endMs: w.endMs ?? nowMs(),
                value,
              },
            ],
          },
        ],
        { anyType: true },
      );
    },
    query,
    latestValue: (q) => {
      const p = q.project ?? project;
      const parts = [`metric.type = ${quote(q.metricType)}`];
      if (q.resourceType) parts.push(`resource.type = ${quote(q.resourceType)}`);
      for (const [k, v] of Object.entries(q.resourceLabels ?? {}))
        parts.push(`resource.labels.${k} = ${quote(v)}`);
      for (const [k, v] of Object.entries(q.metricLabels ?? {}))
        parts.push(`metric.labels.${k} = ${quote(v)}`);
      const kind = store.descriptor(p, q.metricType)?.metricKind ?? 'GAUGE';
      const aligner = q.aligner ?? (kind === 'GAUGE' ? 'ALIGN_NEXT_OLDER' : 'ALIGN_RATE');
      const windowMs = (q.windowSec ?? 60) * 1000;
      const end = nowMs();
      const series = store.select(p, parseFilter(parts.join(' AND ')));
      const result = aggregate(
        series,
        {
          alignmentPeriodMs: windowMs,
          perSeriesAligner: aligner,
          crossSeriesReducer: q.reducer ?? 'REDUCE_SUM',
        },
        end - windowMs,
        end,
      );
      const point = result[0]?.points[0];
      return point ? numericValue(point.value) : undefined;
    },
    scrape: () => scraper.tick(true),
    scrapeDue: () => scraper.tick(false),
    evaluateAlerts: () => alerts.evaluate(),
    incidents: () => alerts.incidents(),
    notifications: () => [...alerts.sent],
    setPublisher: (publish) => {
      alerts.publish = publish;
    },
  };
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

async function handle(
  store: MetricStore,
  alerts: Alerts,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://local');
    const result = route(
      store,
      alerts,
      req.method ?? 'GET',
      decodeURIComponent(url.pathname),
      url.searchParams,
      body,
    );
    sendJson(res, 200, result);
  } catch (err) {
    if (err instanceof MonitoringApiError) {
      sendJson(res, err.httpStatus, err.toJSON());
      return;
    }
    throw err;
  }
}

function json(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidArgument('Invalid JSON payload received.');
  }
}

function page<T>(items: T[], q: URLSearchParams, key: string, withTotal = true): Record<string, unknown> {
  const size = Number(q.get('pageSize') ?? 0) || items.length || 1;
  const offset = q.get('pageToken')
    ? Number(Buffer.from(q.get('pageToken') ?? '', 'base64url').toString())
    : 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw invalidArgument('Field pageToken had an invalid value: The page token is not valid.');
  const slice = items.slice(offset, offset + size);
  const next =
    offset + size < items.length ? Buffer.from(String(offset + size)).toString('base64url') : undefined;
  return {
    [key]: slice,
    ...(next ? { nextPageToken: next } : {}),
    ...(withTotal ? { totalSize: items.length } : {}),
  };
}

function mask(q: URLSearchParams): string[] {
  return (q.get('updateMask') ?? '').split(',').filter((s) => s.trim() !== '');
}

function noFilter(q: URLSearchParams, what: string): void {
  if (q.get('filter')) throw invalidArgument(`The local server does not support filters on ${what}.`);
}

/** Maps one REST call. Paths follow the `google.api.http` rules of the v3 services. */
function route(
  store: MetricStore,
  alerts: Alerts,
  method: string,
  path: string,
  q: URLSearchParams,
  body: Buffer,
): unknown {
  const m = /^\/v3\/projects\/([^/]+)\/([A-Za-z]+)(?:\/(.+))?$/.exec(path);
  if (!m)
    throw new MonitoringApiError('NOT_FOUND', `The requested URL ${path} was not found on this server.`);
  const [, project, collection, rest] = m as unknown as [string, string, string, string | undefined];
  const unsupported = () =>
    new MonitoringApiError(
      'UNIMPLEMENTED',
      `The local Monitoring server does not implement ${method} ${path}.`,
    );
  switch (collection) {
    case 'timeSeries': {
      if (rest) throw unsupported();
      if (method === 'GET') return listTimeSeries(store, project, parseListRequest(q));
      if (method === 'POST') {
        const b = json(body);
        const raw = isRecord(b) && Array.isArray(b.timeSeries) ? b.timeSeries : [];
        if (raw.length === 0)
          throw invalidArgument(
            'Field timeSeries had an invalid value: At least one TimeSeries must be given.',
          );
        store.write(project, raw.map(parseSeriesWrite));
        return {};
      }
      throw unsupported();
    }
    case 'metricDescriptors': {
      if (!rest) {
        if (method === 'GET')
          return page(
            store.listDescriptors(project, parseFilter(q.get('filter') ?? '')),
            q,
            'metricDescriptors',
          );
        if (method === 'POST') return store.createDescriptor(project, json(body));
        throw unsupported();
      }
      if (method === 'GET') return store.getDescriptor(project, rest);
      if (method === 'DELETE') {
        store.deleteDescriptor(project, rest);
        return {};
      }
      throw unsupported();
    }
    case 'alertPolicies': {
      if (!rest) {
        if (method === 'GET') {
          noFilter(q, 'alert policies');
          return page(alerts.listPolicies(project), q, 'alertPolicies');
        }
        if (method === 'POST') return alerts.createPolicy(project, json(body));
        throw unsupported();
      }
      const name = `projects/${project}/alertPolicies/${rest}`;
      if (method === 'GET') return alerts.getPolicy(name);
      if (method === 'PATCH') return alerts.updatePolicy(name, json(body), mask(q));
      if (method === 'DELETE') {
        alerts.deletePolicy(name);
        return {};
      }
      throw unsupported();
    }
    case 'notificationChannels': {
      if (!rest) {
        if (method === 'GET') {
          noFilter(q, 'notification channels');
          return page(alerts.listChannels(project), q, 'notificationChannels');
        }
        if (method === 'POST') return alerts.createChannel(project, json(body));
        throw unsupported();
      }
      const name = `projects/${project}/notificationChannels/${rest}`;
      if (method === 'GET') return alerts.getChannel(name);
      if (method === 'PATCH') return alerts.updateChannel(name, json(body), mask(q));
      if (method === 'DELETE') {
        if (q.get('force') !== 'true') alerts.deleteChannel(name);
        else alerts.deleteChannel(name, true);
        return {};
      }
      throw unsupported();
    }
    default:
      throw unsupported();
  }
}

export { localMonitoringClients } from './client';
export { pubsubPublisher } from './publisher';
