/**
 * Cloud Monitoring as the scaling functions use it: read a metric's recent points (scaleOnAlert
 * confirms pressure is gone before scaling in) and write custom metrics (applySchedules reports
 * GPU-hours and dollars saved). The adapter (shared/adapters/monitoring.ts) wraps
 * `@google-cloud/monitoring`; nothing above it sees the client.
 */
import { RetryableError } from '../runtime/errors';

export interface MetricPoint {
  /** RFC 3339 end time of the point's interval. */
  time: string;
  value: number;
}

export interface MetricSeries {
  metricType: string;
  metricLabels: Record<string, string>;
  resourceType: string;
  resourceLabels: Record<string, string>;
  /** Newest first, as the API returns them. */
  points: MetricPoint[];
}

export interface SeriesQuery {
  /** A Monitoring filter, e.g. `metric.type = "..." AND resource.labels.namespace_name = "triton"`. */
  filter: string;
  /** RFC 3339; the interval read is (startTime, endTime]. */
  startTime: string;
  endTime: string;
  /** Align each series to this period (seconds) with the aligner, e.g. ALIGN_RATE, ALIGN_MEAN. */
  alignment?: {
    periodSeconds: number;
    perSeriesAligner: string;
    crossSeriesReducer?: string;
    groupByFields?: string[];
  };
}

export interface PointToWrite {
  /** e.g. `custom.googleapis.com/inferplane/gpu_hours_saved`. */
  metricType: string;
  metricLabels: Record<string, string>;
  /** Monitored resource, e.g. `{ type: 'k8s_cluster', labels: { project_id, location, cluster_name } }`. */
  resource: { type: string; labels: Record<string, string> };
  value: number;
  /** RFC 3339. */
  time: string;
  /** GAUGE (default), or CUMULATIVE with its start time. */
  kind?: 'GAUGE' | 'CUMULATIVE';
  startTime?: string;
}

export interface Metrics {
  readSeries(query: SeriesQuery): Promise<MetricSeries[]>;
  /** One `timeSeries.create` call per 200 points (the API's limit), each series once per call. */
  writePoints(points: readonly PointToWrite[]): Promise<void>;
}

/** Monitoring could not be read or written; the caller decides what is safe (keep capacity). */
export class MetricsUnavailableError extends RetryableError {
  override name = 'MetricsUnavailableError';
}
