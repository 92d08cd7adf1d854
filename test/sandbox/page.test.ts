import { describe, expect, it } from 'vitest';
import type { StatusReport } from '../../cli/status-data';
import { renderContent, renderPage } from '../../scripts/sandbox/page';

const REPORT: StatusReport = {
  models: [{ name: 'add', versions: [{ version: 1, state: 'READY' }] }],
  nodePools: [
    {
      name: 'triton-l4-spot',
      nodeCount: 0,
      autoscaling: { enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 4 },
    },
  ],
  deployments: [{ name: 'triton-l4-spot', namespace: 'triton', replicas: 0 }],
  hpas: [{ name: 'triton-l4-spot', namespace: 'triton', minReplicas: 1, maxReplicas: 4 }],
  networkPolicies: [{ name: 'triton-l4-spot', namespace: 'triton' }],
  decisions: [
    {
      time: '2026-12-01T22:00:05Z',
      function: 'applySchedules',
      target: 'triton-l4-spot',
      action: 'scale-down',
      reason: '<script>alert(1)</script> window',
    },
  ],
  savings: { gpuHours: 8, dollars: 1.5 },
};

describe('the status page', () => {
  it('shows what status --json says, a person would read it, and escapes what it shows', () => {
    // Act
    const html = renderPage(
      renderContent(
        REPORT,
        [
          {
            time: '2026-12-01T21:59:00Z',
            nodes: { 'triton-l4-spot': 2 },
            replicas: { 'triton/triton-l4-spot': 2 },
          },
          {
            time: '2026-12-01T22:01:00Z',
            nodes: { 'triton-l4-spot': 0 },
            replicas: { 'triton/triton-l4-spot': 0 },
          },
        ],
        '2026-12-01T22:01:00Z',
      ),
      3000,
    );

    // Assess
    expect(html).toContain('<td>add</td><td>1</td><td>READY</td>');
    expect(html).toContain('<td>triton-l4-spot</td><td>0</td><td>0-4</td>');
    expect(html).toContain('<span id="gpu-hours">8</span> GPU-hours, <span id="dollars">$1.50</span>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; window');
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('aria-label="triton/triton-l4-spot over time"');
    expect(html).toContain('points="0.0,2.0 320.0,46.0"');
    expect(html).toContain("fetch('/?fragment=1'");
  });

  it('says what to do when there is nothing yet', () => {
    // Act
    const html = renderContent(
      { ...REPORT, models: [], nodePools: [], deployments: [], hpas: [], networkPolicies: [], decisions: [] },
      [],
      'now',
    );

    // Assess
    expect(html).toContain('No model yet: upload one (inferctl upload model.onnx --model NAME).');
    expect(html).toContain('No decision yet.');
  });
});
