/** `projects.timeSeries.list`: request parsing, selection, aggregation, paging, JSON rendering. */
import { type Aggregation, aggregate, type ResultSeries, validateAggregation } from './aggregate';
import { invalidArgument, invalidField } from './errors';
import { mentionsMetricType, parseFilter } from './filter';
import type { MetricStore } from './store';
import {
  ALIGNERS,
  enumName,
  formatTimestamp,
  type Point,
  parseDuration,
  parseTimestamp,
  REDUCERS,
  type TypedValue,
  VIEWS,
} from './types';

export interface ListRequest {
  filter: string;
  startMs: number;
  endMs: number;
  aggregation: Aggregation;
  view: 'FULL' | 'HEADERS';
  pageSize?: number;
  pageToken?: string;
}

/** Reads the query string the REST fallback sends (dotted camelCase, enums as names or numbers). */
export function parseListRequest(q: URLSearchParams): ListRequest {
  const filter = q.get('filter') ?? '';
  if (!filter) throw invalidField('filter', 'A filter must be specified.');
  const end = q.get('interval.endTime') ?? q.get('interval.end_time');
  if (!end) throw invalidArgument('Request was missing field interval.endTime.');
  const endMs = parseTimestamp(end, 'interval.endTime');
  const start = q.get('interval.startTime') ?? q.get('interval.start_time');
  const startMs = start ? parseTimestamp(start, 'interval.startTime') : endMs;
  if (startMs > endMs) {
    throw invalidField(
      'interval.startTime',
      `The start time must be before the end time (${end}).`,
      start ?? '',
    );
  }
  if (q.get('orderBy')) throw invalidField('orderBy', 'orderBy must be left blank.', q.get('orderBy') ?? '');
  const period = q.get('aggregation.alignmentPeriod');
  const aligner = enumName(ALIGNERS, q.get('aggregation.perSeriesAligner'), 'aggregation.perSeriesAligner');
  const reducer = enumName(
    REDUCERS,
    q.get('aggregation.crossSeriesReducer'),
    'aggregation.crossSeriesReducer',
  );
  const aggregation: Aggregation = {
    ...(period ? { alignmentPeriodMs: parseDuration(period, 'aggregation.alignmentPeriod') } : {}),
    ...(aligner ? { perSeriesAligner: aligner } : {}),
    ...(reducer ? { crossSeriesReducer: reducer } : {}),
    groupByFields: q.getAll('aggregation.groupByFields'),
  };
  validateAggregation(aggregation);
  const view = enumName(VIEWS, q.get('view'), 'view') ?? 'FULL';
  const pageSizeRaw = q.get('pageSize');
  const pageSize = pageSizeRaw ? Number(pageSizeRaw) : undefined;
  if (pageSize !== undefined && (!Number.isInteger(pageSize) || pageSize < 0)) {
    throw invalidField('pageSize', 'The page size must be a positive number.', pageSizeRaw ?? '');
  }
  const pageToken = q.get('pageToken') ?? undefined;
  return {
    filter,
    startMs,
    endMs,
    aggregation,
    view,
    ...(pageSize ? { pageSize } : {}),
    ...(pageToken ? { pageToken } : {}),
  };
}

/** Selection and aggregation, no paging: what both the REST surface and in-process callers use. */
export function runQuery(
  store: MetricStore,
  project: string,
  filter: string,
  startMs: number,
  endMs: number,
  aggregation: Aggregation,
): ResultSeries[] {
  const node = parseFilter(filter);
  if (!mentionsMetricType(node)) {
    throw invalidField('filter', 'The filter must specify a metric type (metric.type = "...").', filter);
  }
  const series = store.select(project, node);
  return aggregate(series, aggregation, startMs, endMs).sort((a, b) =>
    seriesOrder(a).localeCompare(seriesOrder(b)),
  );
}

function seriesOrder(s: ResultSeries): string {
  return JSON.stringify([s.metric.type, s.metric.labels, s.resource.type, s.resource.labels]);
}

/** The JSON response of ListTimeSeries, paged: FULL counts points, HEADERS counts series. */
export function listTimeSeries(
  store: MetricStore,
  project: string,
  req: ListRequest,
): Record<string, unknown> {
  const all = runQuery(store, project, req.filter, req.startMs, req.endMs, req.aggregation);
  let offset = 0;
  if (req.pageToken) {
    const decoded = Number(Buffer.from(req.pageToken, 'base64url').toString('utf8'));
    if (!Number.isInteger(decoded) || decoded < 0) {
      throw invalidField('pageToken', 'The page token is not valid.', req.pageToken);
    }
    offset = decoded;
  }
  const limit = Math.min(req.pageSize ?? 100_000, 100_000);
  const page: ResultSeries[] = [];
  let used = 0;
  let i = offset;
  for (; i < all.length; i++) {
    const s = all[i] as ResultSeries;
    const cost = req.view === 'HEADERS' ? 1 : s.points.length;
    if (page.length > 0 && used + cost > limit) break;
    page.push(s);
    used += cost;
  }
  const unitOf = (type: string) => store.descriptor(project, type)?.unit ?? '';
  return {
    timeSeries: page.map((s) => renderSeries(s, req.view, unitOf(s.metric.type))),
    ...(i < all.length ? { nextPageToken: Buffer.from(String(i)).toString('base64url') } : {}),
    unit: page[0] ? unitOf(page[0].metric.type) : '',
  };
}

export function renderSeries(
  s: ResultSeries,
  view: 'FULL' | 'HEADERS',
  unit: string,
): Record<string, unknown> {
  return {
    metric: s.metric,
    resource: s.resource,
    ...(Object.keys(s.userLabels).length > 0 ? { metadata: { userLabels: s.userLabels } } : {}),
    metricKind: s.metricKind,
    valueType: s.valueType,
    ...(view === 'FULL' ? { points: s.points.map(renderPoint) } : {}),
    unit,
  };
}

function renderPoint(p: Point): { interval: Record<string, string>; value: TypedValue } {
  return {
    interval: {
      ...(p.startMs === undefined ? {} : { startTime: formatTimestamp(p.startMs) }),
      endTime: formatTimestamp(p.endMs),
    },
    value: p.value,
  };
}
