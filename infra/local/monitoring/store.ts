/**
 * Metric descriptors and time series per project, with the write rules of
 * `projects.timeSeries.create`: at most 200 series per request, one point per series, points in
 * order, GAUGE points with only an end time, CUMULATIVE/DELTA with a start time, kind and value
 * type matching the descriptor, descriptors auto-created for custom/workload/external metrics.
 */
import { invalidArgument, invalidField, MonitoringApiError, notFound } from './errors';
import { type FilterNode, matchesFilter } from './filter';
import {
  enumName,
  formatTimestamp,
  isRecord,
  LABEL_VALUE_TYPES,
  labelsKey,
  METRIC_KINDS,
  type Metric,
  type MetricDescriptor,
  type MetricKind,
  type MonitoredResource,
  type Point,
  parseTimestamp,
  stringMap,
  type TypedValue,
  VALUE_TYPES,
  type ValueType,
  valueTypeOf,
} from './types';

export interface Series {
  project: string;
  metric: Metric;
  resource: MonitoredResource;
  metricKind: MetricKind;
  valueType: ValueType;
  userLabels: Record<string, string>;
  /** Oldest first. */
  points: Point[];
}

/** One series of a write, before the rules are checked. */
export interface SeriesWrite {
  metric: Metric;
  resource: MonitoredResource;
  metricKind?: MetricKind;
  valueType?: ValueType;
  userLabels?: Record<string, string>;
  points: Point[];
  unit?: string;
}

export const MAX_SERIES_PER_REQUEST = 200;
/** The API refuses points older than 25 hours or more than 5 minutes in the future. */
const MAX_AGE_MS = 25 * 3600_000;
const MAX_FUTURE_MS = 5 * 60_000;
const AUTO_CREATED_PREFIXES = [
  'custom.googleapis.com/',
  'workload.googleapis.com/',
  'external.googleapis.com/',
];

export interface StoreOptions {
  nowMs: () => number;
  /** Oldest points beyond this many per series are dropped (memory bound). */
  maxPointsPerSeries?: number;
}

export class MetricStore {
  readonly #descriptors = new Map<string, Map<string, MetricDescriptor>>();
  readonly #series = new Map<string, Map<string, Series>>();
  readonly #nowMs: () => number;
  readonly #maxPoints: number;

  constructor(opts: StoreOptions) {
    this.#nowMs = opts.nowMs;
    this.#maxPoints = opts.maxPointsPerSeries ?? 20_000;
  }

  // ---- descriptors ----

  descriptor(project: string, type: string): MetricDescriptor | undefined {
    return this.#descriptors.get(project)?.get(type);
  }

  getDescriptor(project: string, type: string): MetricDescriptor {
    const d = this.descriptor(project, type);
    if (!d) throw notFound(`Could not find descriptor for metric '${type}'.`);
    return d;
  }

  listDescriptors(project: string, filter: FilterNode | undefined): MetricDescriptor[] {
    return [...(this.#descriptors.get(project)?.values() ?? [])]
      .filter((d) => matchesFilter(filter, { project, metric: { type: d.type, labels: {} } }))
      .sort((a, b) => a.type.localeCompare(b.type));
  }

  /** CreateMetricDescriptor body (the descriptor itself, JSON mapping). */
  createDescriptor(project: string, body: unknown): MetricDescriptor {
    if (!isRecord(body)) throw invalidArgument('Request body must be a MetricDescriptor.');
    const type = typeof body.type === 'string' ? body.type : '';
    if (!/^[a-z0-9.-]+\.[a-z]+\/[A-Za-z0-9_./:-]+$/.test(type)) {
      throw invalidField('metricDescriptor.type', 'The metric type must be a domain-prefixed path.', type);
    }
    const metricKind = enumName(METRIC_KINDS, body.metricKind, 'metricDescriptor.metricKind');
    const valueType = enumName(VALUE_TYPES, body.valueType, 'metricDescriptor.valueType');
    if (!metricKind || metricKind === 'METRIC_KIND_UNSPECIFIED') {
      throw invalidField(
        'metricDescriptor.metricKind',
        'The metric kind must be specified.',
        'METRIC_KIND_UNSPECIFIED',
      );
    }
    if (!valueType || valueType === 'VALUE_TYPE_UNSPECIFIED') {
      throw invalidField(
        'metricDescriptor.valueType',
        'The value type must be specified.',
        'VALUE_TYPE_UNSPECIFIED',
      );
    }
    const labels = Array.isArray(body.labels)
      ? body.labels.filter(isRecord).map((l, i) => {
          const key = typeof l.key === 'string' ? l.key : '';
          if (!/^[a-z_][a-zA-Z0-9_]{0,99}$/.test(key)) {
            throw invalidField(`metricDescriptor.labels[${i}].key`, 'Invalid label key.', key);
          }
          return {
            key,
            valueType:
              enumName(LABEL_VALUE_TYPES, l.valueType, `metricDescriptor.labels[${i}].valueType`) ?? 'STRING',
            ...(typeof l.description === 'string' && l.description ? { description: l.description } : {}),
          };
        })
      : [];
    const existing = this.descriptor(project, type);
    if (
      existing &&
      this.#hasSeries(project, type) &&
      (existing.metricKind !== metricKind || existing.valueType !== valueType)
    ) {
      throw invalidField(
        'metricDescriptor',
        `The metric kind and value type of ${type} cannot change while it has data (${existing.metricKind}, ${existing.valueType}).`,
      );
    }
    const d: MetricDescriptor = {
      name: `projects/${project}/metricDescriptors/${type}`,
      type,
      labels,
      metricKind,
      valueType,
      ...(typeof body.unit === 'string' && body.unit ? { unit: body.unit } : {}),
      description: typeof body.description === 'string' ? body.description : '',
      displayName: typeof body.displayName === 'string' ? body.displayName : '',
    };
    this.#putDescriptor(project, d);
    return d;
  }

  /** Deletes the descriptor and, as the real API does for custom metrics, its data. */
  deleteDescriptor(project: string, type: string): void {
    this.getDescriptor(project, type);
    this.#descriptors.get(project)?.delete(type);
    const series = this.#series.get(project);
    for (const [key, s] of series ?? []) if (s.metric.type === type) series?.delete(key);
  }

  #putDescriptor(project: string, d: MetricDescriptor): void {
    let m = this.#descriptors.get(project);
    if (!m) {
      m = new Map();
      this.#descriptors.set(project, m);
    }
    m.set(d.type, d);
  }

  #hasSeries(project: string, type: string): boolean {
    for (const s of this.#series.get(project)?.values() ?? []) if (s.metric.type === type) return true;
    return false;
  }

  // ---- series ----

  select(project: string, filter: FilterNode | undefined): Series[] {
    return [...(this.#series.get(project)?.values() ?? [])].filter((s) =>
      matchesFilter(filter, {
        project,
        metric: s.metric,
        resource: s.resource,
        metadata: { userLabels: s.userLabels },
      }),
    );
  }

  /**
   * Writes series with the API's rules. Valid series are written even when others fail (as the
   * real API does); the failures come back as one INVALID_ARGUMENT listing each of them.
   * `anyType` lets in-process writers (the scraper, tests) create descriptors for any type.
   */
  write(project: string, writes: SeriesWrite[], opts: { anyType?: boolean } = {}): void {
    if (writes.length > MAX_SERIES_PER_REQUEST) {
      throw invalidField(
        'timeSeries',
        `A maximum of ${MAX_SERIES_PER_REQUEST} TimeSeries can be written in a single request (got ${writes.length}).`,
      );
    }
    const failures: string[] = [];
    const seen = new Set<string>();
    writes.forEach((w, i) => {
      const key = seriesKey(w.metric, w.resource);
      if (seen.has(key)) {
        failures.push(
          `Field timeSeries[${i}] had an invalid value: Duplicate TimeSeries encountered. Only one point can be written per TimeSeries per request.: timeSeries[${i}]`,
        );
        return;
      }
      seen.add(key);
      try {
        this.#writeOne(project, w, i, opts.anyType ?? false);
      } catch (err) {
        if (!(err instanceof MonitoringApiError)) throw err;
        failures.push(`${err.message}: timeSeries[${i}]`);
      }
    });
    if (failures.length > 0) {
      throw invalidArgument(`One or more TimeSeries could not be written: ${failures.join('; ')}`);
    }
  }

  #writeOne(project: string, w: SeriesWrite, i: number, anyType: boolean): void {
    const f = `timeSeries[${i}]`;
    const type = w.metric.type;
    if (!type) throw invalidField(`${f}.metric.type`, 'The metric type must be specified.');
    if (!w.resource.type)
      throw invalidField(`${f}.resource.type`, 'The monitored resource type must be specified.');
    if (w.points.length !== 1) {
      throw invalidField(
        `${f}.points`,
        w.points.length === 0
          ? 'There must be exactly one point written per TimeSeries per request.'
          : 'Only one point can be written per TimeSeries per request.',
      );
    }
    const point = w.points[0] as Point;
    const pointValueType = valueTypeOf(point.value);
    let d = this.descriptor(project, type);
    if (!d) {
      if (!anyType && !AUTO_CREATED_PREFIXES.some((p) => type.startsWith(p))) {
        throw invalidField(`${f}.metric.type`, 'Metrics of this type cannot be written.', type);
      }
      d = {
        name: `projects/${project}/metricDescriptors/${type}`,
        type,
        labels: Object.keys(w.metric.labels).map((key) => ({ key, valueType: 'STRING' })),
        metricKind: w.metricKind && w.metricKind !== 'METRIC_KIND_UNSPECIFIED' ? w.metricKind : 'GAUGE',
        valueType: w.valueType && w.valueType !== 'VALUE_TYPE_UNSPECIFIED' ? w.valueType : pointValueType,
        ...(w.unit ? { unit: w.unit } : {}),
        description: 'Auto-created custom metric.',
        displayName: '',
      };
      this.#checkPoint(project, d, w, point, f);
      this.#putDescriptor(project, d);
    } else {
      this.#checkPoint(project, d, w, point, f);
      const known = new Set(d.labels.map((l) => l.key));
      const unknown = Object.keys(w.metric.labels).filter((k) => !known.has(k));
      if (unknown.length > 0) {
        if (d.description !== 'Auto-created custom metric.' && !anyType) {
          throw invalidField(`${f}.metric.labels`, 'Unrecognized metric label.', unknown[0]);
        }
        d.labels.push(...unknown.map((key) => ({ key, valueType: 'STRING' })));
      }
    }
    const key = seriesKey(w.metric, w.resource);
    let projectSeries = this.#series.get(project);
    if (!projectSeries) {
      projectSeries = new Map();
      this.#series.set(project, projectSeries);
    }
    let s = projectSeries.get(key);
    if (!s) {
      s = {
        project,
        metric: { type, labels: { ...w.metric.labels } },
        resource: { type: w.resource.type, labels: { ...w.resource.labels } },
        metricKind: d.metricKind,
        valueType: d.valueType,
        userLabels: { ...(w.userLabels ?? {}) },
        points: [],
      };
      projectSeries.set(key, s);
    }
    s.points.push(point);
    if (s.points.length > this.#maxPoints) s.points.splice(0, s.points.length - this.#maxPoints);
  }

  #checkPoint(project: string, d: MetricDescriptor, w: SeriesWrite, point: Point, f: string): void {
    if (w.metricKind && w.metricKind !== 'METRIC_KIND_UNSPECIFIED' && w.metricKind !== d.metricKind) {
      throw invalidField(
        `${f}.metricKind`,
        `Metric kind for metric ${d.type} must be ${d.metricKind}, but is ${w.metricKind}.`,
        w.metricKind,
      );
    }
    const declared = w.valueType && w.valueType !== 'VALUE_TYPE_UNSPECIFIED' ? w.valueType : undefined;
    const actual = valueTypeOf(point.value);
    if ((declared && declared !== d.valueType) || actual !== d.valueType) {
      throw invalidField(
        `${f}.points[0].value`,
        `Value type for metric ${d.type} must be ${d.valueType}, but is ${declared && declared !== d.valueType ? declared : actual}.`,
      );
    }
    const end = point.endMs;
    const now = this.#nowMs();
    if (end < now - MAX_AGE_MS) {
      throw invalidField(
        `${f}.points[0].interval.end_time`,
        'Data points cannot be written more than 25h in the past.',
        formatTimestamp(end),
      );
    }
    if (end > now + MAX_FUTURE_MS) {
      throw invalidField(
        `${f}.points[0].interval.end_time`,
        'Data points cannot be written more than 5m in the future.',
        formatTimestamp(end),
      );
    }
    if (d.metricKind === 'GAUGE') {
      if (point.startMs !== undefined && point.startMs !== end) {
        throw invalidField(
          `${f}.points[0].interval.start_time`,
          `The start time must be equal to the end time (${formatTimestamp(end)}) for the gauge metric '${d.type}'.`,
          formatTimestamp(point.startMs),
        );
      }
    } else if (point.startMs === undefined || point.startMs >= end) {
      throw invalidField(
        `${f}.points[0].interval.start_time`,
        `The start time must be before the end time (${formatTimestamp(end)}) for the non-gauge metric '${d.type}'.`,
        point.startMs === undefined ? '' : formatTimestamp(point.startMs),
      );
    }
    const last = this.#series.get(project)?.get(seriesKey(w.metric, w.resource))?.points.at(-1);
    if (last && end <= last.endMs) {
      throw invalidArgument(
        'Points must be written in order. One or more of the points specified had an older end time than the most recent point.',
      );
    }
    if (last && d.metricKind === 'DELTA' && point.startMs !== undefined && point.startMs < last.endMs) {
      throw invalidArgument(
        'Points must be written in order. One or more of the points specified had an older start time than the most recent point.',
      );
    }
  }
}

export function seriesKey(metric: Metric, resource: MonitoredResource): string {
  return `${metric.type}|${labelsKey(metric.labels)}|${resource.type}|${labelsKey(resource.labels)}`;
}

/** A `TimeSeries` of a CreateTimeSeries body -> a write (shape errors are 400s naming the field). */
export function parseSeriesWrite(raw: unknown, i: number): SeriesWrite {
  const f = `timeSeries[${i}]`;
  if (!isRecord(raw)) throw invalidField(f, 'A TimeSeries must be an object.');
  const metric = isRecord(raw.metric) ? raw.metric : {};
  const resource = isRecord(raw.resource) ? raw.resource : {};
  const points = Array.isArray(raw.points) ? raw.points : [];
  const metricKind = enumName(METRIC_KINDS, raw.metricKind, `${f}.metricKind`);
  const valueType = enumName(VALUE_TYPES, raw.valueType, `${f}.valueType`);
  const userLabels = isRecord(raw.metadata) ? stringMap(raw.metadata.userLabels) : {};
  return {
    metric: { type: typeof metric.type === 'string' ? metric.type : '', labels: stringMap(metric.labels) },
    resource: {
      type: typeof resource.type === 'string' ? resource.type : '',
      labels: stringMap(resource.labels),
    },
    ...(metricKind ? { metricKind } : {}),
    ...(valueType ? { valueType } : {}),
    ...(typeof raw.unit === 'string' && raw.unit ? { unit: raw.unit } : {}),
    userLabels,
    points: points.map((p, j) => parsePoint(p, `${f}.points[${j}]`)),
  };
}

function parsePoint(raw: unknown, f: string): Point {
  if (!isRecord(raw) || !isRecord(raw.interval))
    throw invalidField(`${f}.interval`, 'The interval must be specified.');
  const { startTime, endTime } = raw.interval;
  if (endTime === undefined || endTime === null || endTime === '') {
    throw invalidField(`${f}.interval.end_time`, 'The end time must be specified.');
  }
  const endMs = parseTimestamp(endTime, `${f}.interval.end_time`);
  const startMs =
    startTime === undefined || startTime === null || startTime === ''
      ? undefined
      : parseTimestamp(startTime, `${f}.interval.start_time`);
  return { ...(startMs === undefined ? {} : { startMs }), endMs, value: parseValue(raw.value, `${f}.value`) };
}

function parseValue(raw: unknown, f: string): TypedValue {
  if (!isRecord(raw)) throw invalidField(f, 'The value must be specified.');
  if (typeof raw.boolValue === 'boolean') return { boolValue: raw.boolValue };
  if (raw.int64Value !== undefined && raw.int64Value !== null) {
    const s = String(raw.int64Value);
    if (!/^-?\d+$/.test(s)) throw invalidField(`${f}.int64Value`, 'Invalid int64 value.', s);
    return { int64Value: s };
  }
  if (raw.doubleValue !== undefined && raw.doubleValue !== null) {
    const n = Number(raw.doubleValue);
    return { doubleValue: n };
  }
  if (typeof raw.stringValue === 'string') return { stringValue: raw.stringValue };
  if (isRecord(raw.distributionValue)) {
    const d = raw.distributionValue;
    const bounds =
      isRecord(d.bucketOptions) &&
      isRecord(d.bucketOptions.explicitBuckets) &&
      Array.isArray(d.bucketOptions.explicitBuckets.bounds)
        ? d.bucketOptions.explicitBuckets.bounds.map(Number)
        : undefined;
    return {
      distributionValue: {
        count: String(d.count ?? '0'),
        mean: Number(d.mean ?? 0),
        ...(d.sumOfSquaredDeviation === undefined
          ? {}
          : { sumOfSquaredDeviation: Number(d.sumOfSquaredDeviation) }),
        ...(bounds ? { bucketOptions: { explicitBuckets: { bounds } } } : {}),
        ...(Array.isArray(d.bucketCounts) ? { bucketCounts: d.bucketCounts.map(String) } : {}),
      },
    };
  }
  throw invalidField(
    f,
    'The value must have one of boolValue, int64Value, doubleValue, stringValue or distributionValue.',
  );
}
