/**
 * The wire shapes of `google.monitoring.v3` (JSON mapping of the protos) and the enum tables the
 * REST fallback sends as numbers (`$alt=json;enum-encoding=int`) or names.
 */
import { invalidField } from './errors';

export const METRIC_KINDS = { METRIC_KIND_UNSPECIFIED: 0, GAUGE: 1, DELTA: 2, CUMULATIVE: 3 } as const;
export const VALUE_TYPES = {
  VALUE_TYPE_UNSPECIFIED: 0,
  BOOL: 1,
  INT64: 2,
  DOUBLE: 3,
  STRING: 4,
  DISTRIBUTION: 5,
  MONEY: 6,
} as const;
export const LABEL_VALUE_TYPES = { STRING: 0, BOOL: 1, INT64: 2 } as const;
export const ALIGNERS = {
  ALIGN_NONE: 0,
  ALIGN_DELTA: 1,
  ALIGN_RATE: 2,
  ALIGN_INTERPOLATE: 3,
  ALIGN_NEXT_OLDER: 4,
  ALIGN_MIN: 10,
  ALIGN_MAX: 11,
  ALIGN_MEAN: 12,
  ALIGN_COUNT: 13,
  ALIGN_SUM: 14,
  ALIGN_STDDEV: 15,
  ALIGN_COUNT_TRUE: 16,
  ALIGN_COUNT_FALSE: 24,
  ALIGN_FRACTION_TRUE: 17,
  ALIGN_PERCENTILE_99: 18,
  ALIGN_PERCENTILE_95: 19,
  ALIGN_PERCENTILE_50: 20,
  ALIGN_PERCENTILE_05: 21,
  ALIGN_PERCENT_CHANGE: 23,
} as const;
export const REDUCERS = {
  REDUCE_NONE: 0,
  REDUCE_MEAN: 1,
  REDUCE_MIN: 2,
  REDUCE_MAX: 3,
  REDUCE_SUM: 4,
  REDUCE_STDDEV: 5,
  REDUCE_COUNT: 6,
  REDUCE_COUNT_TRUE: 7,
  REDUCE_COUNT_FALSE: 15,
  REDUCE_FRACTION_TRUE: 8,
  REDUCE_PERCENTILE_99: 9,
  REDUCE_PERCENTILE_95: 10,
  REDUCE_PERCENTILE_50: 11,
  REDUCE_PERCENTILE_05: 12,
} as const;
export const VIEWS = { FULL: 0, HEADERS: 1 } as const;
export const COMPARISONS = {
  COMPARISON_UNSPECIFIED: 0,
  COMPARISON_GT: 1,
  COMPARISON_GE: 2,
  COMPARISON_LT: 3,
  COMPARISON_LE: 4,
  COMPARISON_EQ: 5,
  COMPARISON_NE: 6,
} as const;
export const COMBINERS = { COMBINE_UNSPECIFIED: 0, AND: 1, OR: 2, AND_WITH_MATCHING_RESOURCE: 3 } as const;
export const MISSING_DATA = {
  EVALUATION_MISSING_DATA_UNSPECIFIED: 0,
  EVALUATION_MISSING_DATA_INACTIVE: 1,
  EVALUATION_MISSING_DATA_ACTIVE: 2,
  EVALUATION_MISSING_DATA_NO_OP: 3,
} as const;
export const NOTIFICATION_PROMPTS = { NOTIFICATION_PROMPT_UNSPECIFIED: 0, OPENED: 1, CLOSED: 3 } as const;
export const SEVERITIES = { SEVERITY_UNSPECIFIED: 0, CRITICAL: 1, ERROR: 2, WARNING: 3 } as const;

export type MetricKind = keyof typeof METRIC_KINDS;
export type ValueType = keyof typeof VALUE_TYPES;
export type Aligner = keyof typeof ALIGNERS;
export type Reducer = keyof typeof REDUCERS;
export type Comparison = keyof typeof COMPARISONS;

/**
 * An enum field as the client sent it (name or number) turned into its name; `undefined` when
 * absent. Unknown values are a 400 naming the field, as the real API does.
 */
export function enumName<T extends Record<string, number>>(
  table: T,
  value: unknown,
  field: string,
): (keyof T & string) | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) {
    const n = Number(value);
    const name = Object.keys(table).find((k) => table[k] === n);
    if (name !== undefined) return name;
  } else if (typeof value === 'string' && Object.hasOwn(table, value)) {
    return value;
  }
  throw invalidField(field, `Invalid value for enum field.`, String(value));
}

export interface Metric {
  type: string;
  labels: Record<string, string>;
}

export interface MonitoredResource {
  type: string;
  labels: Record<string, string>;
}

export interface Distribution {
  count: string;
  mean: number;
  sumOfSquaredDeviation?: number;
  bucketOptions?: { explicitBuckets: { bounds: number[] } };
  bucketCounts?: string[];
}

export type TypedValue =
  | { boolValue: boolean }
  | { int64Value: string }
  | { doubleValue: number }
  | { stringValue: string }
  | { distributionValue: Distribution };

export interface Point {
  /** Epoch milliseconds. */
  startMs?: number;
  endMs: number;
  value: TypedValue;
}

export interface LabelDescriptor {
  key: string;
  valueType?: string;
  description?: string;
}

export interface MetricDescriptor {
  name: string;
  type: string;
  labels: LabelDescriptor[];
  metricKind: MetricKind;
  valueType: ValueType;
  unit?: string;
  description?: string;
  displayName?: string;
  monitoredResourceTypes?: string[];
}

/** The numeric reading of a value (a distribution reads as its mean; a bool as 0/1). */
export function numericValue(v: TypedValue): number {
  if ('doubleValue' in v) return v.doubleValue;
  if ('int64Value' in v) return Number(v.int64Value);
  if ('boolValue' in v) return v.boolValue ? 1 : 0;
  if ('distributionValue' in v) return v.distributionValue.mean;
  return Number.NaN;
}

export function valueTypeOf(v: TypedValue): ValueType {
  if ('doubleValue' in v) return 'DOUBLE';
  if ('int64Value' in v) return 'INT64';
  if ('boolValue' in v) return 'BOOL';
  if ('distributionValue' in v) return 'DISTRIBUTION';
  return 'STRING';
}

/** A number in the requested value type: INT64 goes on the wire as a decimal string. */
export function typedValue(valueType: ValueType, n: number): TypedValue {
  if (valueType === 'INT64') return { int64Value: String(Math.round(n)) };
  if (valueType === 'BOOL') return { boolValue: n !== 0 };
  return { doubleValue: n };
}

/** RFC 3339 -> epoch ms (nanoseconds beyond the millisecond are dropped). */
export function parseTimestamp(value: unknown, field: string): number {
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  } else if (value && typeof value === 'object' && 'seconds' in value) {
    const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
    return Number(seconds ?? 0) * 1000 + Math.floor(Number(nanos ?? 0) / 1e6);
  }
  throw invalidField(field, 'Invalid timestamp.', String(value));
}

export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

/** `"60s"`, `"1.5s"` (or `{seconds,nanos}`) -> milliseconds. */
export function parseDuration(value: unknown, field: string): number {
  if (typeof value === 'string') {
    const m = /^(-?\d+(?:\.\d+)?)s$/.exec(value.trim());
    if (m?.[1]) return Math.round(Number(m[1]) * 1000);
  } else if (value && typeof value === 'object' && 'seconds' in value) {
    const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
    return Number(seconds ?? 0) * 1000 + Math.floor(Number(nanos ?? 0) / 1e6);
  }
  throw invalidField(field, 'Invalid duration.', String(value));
}

export function formatDuration(ms: number): string {
  return `${ms / 1000}s`;
}

/** A stable identity for a label map (keys sorted). */
export function labelsKey(labels: Record<string, string>): string {
  return JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const [k, val] of Object.entries(v)) out[k] = String(val);
  return out;
}
