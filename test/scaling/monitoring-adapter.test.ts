/** The Metrics port over the official Monitoring client, against the local Monitoring server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { createMonitoringMetrics } from '../../shared/adapters/monitoring';
import { MetricsUnavailableError } from '../../shared/ports/metrics';

describe('createMonitoringMetrics', () => {
  let cloud: LocalCloud;
  beforeAll(async () => {
    cloud = await startLocalCloud({ operationPhaseMs: 0 });
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('writes custom metric points and reads them back', async () => {
    const metrics = createMonitoringMetrics({
      project: 'local-project',
      endpoint: cloud.endpoints.monitoring,
      accessToken: LOCAL_ACCESS_TOKEN,
    });
    const time = new Date(Date.now() - 1000).toISOString();
    await metrics.writePoints([
      {
        metricType: 'custom.googleapis.com/inferplane/test_gauge',
        metricLabels: { pool: 'triton-l4' },
        resource: { type: 'global', labels: { project_id: 'local-project' } },
        value: 2.5,
        time,
      },
    ]);
    const series = await metrics.readSeries({
      filter: 'metric.type = "custom.googleapis.com/inferplane/test_gauge"',
      startTime: new Date(Date.now() - 60_000).toISOString(),
      endTime: new Date().toISOString(),
    });
    expect(series).toHaveLength(1);
    expect(series[0]?.metricLabels).toEqual({ pool: 'triton-l4' });
    expect(series[0]?.points[0]?.value).toBe(2.5);
  });

  it('reports an unreachable Monitoring as MetricsUnavailableError', async () => {
    const metrics = createMonitoringMetrics({
      project: 'local-project',
      endpoint: 'http://127.0.0.1:9',
      accessToken: LOCAL_ACCESS_TOKEN,
    });
    await expect(
      metrics.readSeries({
        filter: 'metric.type = "custom.googleapis.com/x"',
        startTime: new Date(Date.now() - 60_000).toISOString(),
        endTime: new Date().toISOString(),
      }),
    ).rejects.toBeInstanceOf(MetricsUnavailableError);
  });
});
