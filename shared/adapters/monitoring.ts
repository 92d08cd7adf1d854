/**
 * The `Metrics` port over `@google-cloud/monitoring` (MetricServiceClient). REST fallback, like the
 * GKE adapter: a local endpoint (`http://127.0.0.1:PORT`) with a fixed token, or the production API
 * with Application Default Credentials. The client is loaded on first use, so a function that
 * never reads or writes a metric does not pay for it at cold start.
 */
import { OAuth2Client } from 'google-auth-library';
import type { MetricSeries, Metrics, PointToWrite, SeriesQuery } from '../ports/metrics';
import { MetricsUnavailableError } from '../ports/metrics';
import { errorMessage } from '../runtime/errors';

type MonitoringModule = typeof import('@google-cloud/monitoring');
type MetricServiceClient = InstanceType<MonitoringModule['MetricServiceClient']>;
type ClientOptions = NonNullable<ConstructorParameters<MonitoringModule['MetricServiceClient']>[0]>;

export interface MonitoringOptions {
  project: string;
  /** Override (local cloud); unset: the production API. */
  endpoint?: string | undefined;
  accessToken?: string | undefined;
}

const MAX_POINTS_PER_CALL = 200;

export function createMonitoringMetrics(options: MonitoringOptions): Metrics {
  let client: Promise<MetricServiceClient> | undefined;
  const getClient = () => {
    // The v3 client's own module, not the package's index, which also evaluates the generated
    // static protos (protos.js, 4.4 MB) the REST client never uses (the same class).
    client ??= import('@google-cloud/monitoring/build/src/v3/metric_service_client.js').then((m) => {
      const u = options.endpoint ? new URL(options.endpoint) : undefined;
      const authClient = options.accessToken
        ? (new OAuth2Client({
            credentials: { access_token: options.accessToken },
            transporterOptions: { validateStatus: () => true },
          }) as unknown as ClientOptions['authClient'])
        : undefined;
      return new m.MetricServiceClient({
        fallback: true,
        ...(u
          ? {
              protocol: u.protocol.replace(/:$/, ''),
              apiEndpoint: u.hostname,
              port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
            }
          : {}),
        ...(authClient ? { authClient } : {}),
      });
    });
    return client;
  };
  const name = `projects/${options.project}`;

  return {
    async readSeries(query: SeriesQuery): Promise<MetricSeries[]> {
      try {
        const c = await getClient();
        const [series] = await c.listTimeSeries({
          name,
          filter: query.filter,
          interval: { startTime: timestamp(query.startTime), endTime: timestamp(query.endTime) },
          ...(query.alignment
            ? {
                aggregation: {
                  alignmentPeriod: { seconds: query.alignment.periodSeconds },
                  perSeriesAligner: query.alignment.perSeriesAligner as never,
                  ...(query.alignment.crossSeriesReducer
                    ? { crossSeriesReducer: query.alignment.crossSeriesReducer as never }
                    : {}),
                  ...(query.alignment.groupByFields ? { groupByFields: query.alignment.groupByFields } : {}),
                },
              }
            : {}),
          view: 'FULL',
        });
        return series.map((s) => ({
          metricType: s.metric?.type ?? '',
          metricLabels: { ...(s.metric?.labels ?? {}) },
          resourceType: s.resource?.type ?? '',
          resourceLabels: { ...(s.resource?.labels ?? {}) },
          points: (s.points ?? []).map((p) => ({
            time: toIso(p.interval?.endTime),
            value: numberOf(p.value),
          })),
        }));
      } catch (err) {
        throw new MetricsUnavailableError(
          'MONITORING_UNAVAILABLE',
          `reading ${query.filter}: ${errorMessage(err)}`,
          {
            cause: err,
          },
        );
      }
    },

    async writePoints(points: readonly PointToWrite[]): Promise<void> {
      if (points.length === 0) return;
      const c = await getClient();
      for (let i = 0; i < points.length; i += MAX_POINTS_PER_CALL) {
        const chunk = points.slice(i, i + MAX_POINTS_PER_CALL);
        try {
          await c.createTimeSeries({
            name,
            timeSeries: chunk.map((p) => ({
              metric: { type: p.metricType, labels: p.metricLabels },
              resource: { type: p.resource.type, labels: p.resource.labels },
              metricKind: p.kind ?? 'GAUGE',
              valueType: 'DOUBLE',
              points: [
                {
                  interval: {
                    endTime: timestamp(p.time),
                    ...(p.kind === 'CUMULATIVE' && p.startTime ? { startTime: timestamp(p.startTime) } : {}),
                  },
                  value: { doubleValue: p.value },
                },
              ],
            })),
          });
        } catch (err) {
          throw new MetricsUnavailableError(
            'MONITORING_UNAVAILABLE',
            `writing ${chunk.length} point(s): ${errorMessage(err)}`,
            {
              cause: err,
            },
          );
        }
      }
    },
  };
}

function timestamp(iso: string): { seconds: number; nanos: number } {
  const ms = Date.parse(iso);
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

function toIso(t: { seconds?: unknown; nanos?: unknown } | null | undefined): string {
  const seconds = Number(t?.seconds ?? 0);
  const nanos = Number(t?.nanos ?? 0);
  return new Date(seconds * 1000 + Math.floor(nanos / 1_000_000)).toISOString();
}

function numberOf(
  v: { doubleValue?: unknown; int64Value?: unknown; boolValue?: unknown } | null | undefined,
): number {
  if (!v) return 0;
  if (v.doubleValue !== undefined && v.doubleValue !== null) return Number(v.doubleValue);
  if (v.int64Value !== undefined && v.int64Value !== null) return Number(v.int64Value);
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue ? 1 : 0;
  return 0;
}
