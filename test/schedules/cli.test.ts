import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/inferctl';
import { parseDuration } from '../../cli/wake';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (s: string) => out.push(s) > 0 },
      stderr: { write: (s: string) => err.push(s) > 0 },
    },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

let policyFile: string;
beforeAll(async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-schedule-'));
  policyFile = path.join(dir, 'policy.yaml');
  await writeFile(
    policyFile,
    `apiVersion: inferplane.dev/v1
kind: ControlPlanePolicy
cluster: { project: my-proj, name: inference, repositoryBucket: acme-triton-repo, incomingBucket: acme-models-incoming }
guardrails: { maxGpusTotal: 16, maxGpusPerPool: 8, maxNodes: 16, maxDollarsPerHour: 60 }
schedules:
  - { name: nights, target: { all: true }, downtime: ["Mon-Fri 20:00-07:00 Europe/Berlin"] }
`,
  );
});

describe('inferctl schedule preview', () => {
  it('lists scale-down, warm restore and window end with the expected saving, as JSON', async () => {
    const c = io();
    const code = await main(
      [
        'schedule',
        'preview',
        '--policy',
        policyFile,
        '--from',
        '2026-12-07T00:00:00Z',
        '--to',
        '2026-12-08T12:00:00Z',
        '--json',
      ],
      c.io as never,
    );
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const { transitions, totals } = JSON.parse(c.out()) as {
      transitions: { time: string; target: string; action: string; expectedSaving?: { gpuHours: number } }[];
      totals: { gpuHours: number; usd: number };
    };
    expect(transitions.map((t) => [t.time, t.target, t.action])).toEqual([
      ['2026-12-07T19:00:00.000Z', 'triton-l4', 'scale-down'],
      ['2026-12-08T05:50:00.000Z', 'triton-l4', 'warm-restore'],
      ['2026-12-08T06:00:00.000Z', 'triton-l4', 'window-end'],
    ]);
    // One L4 node (modelDefaults.replicas.min = 1) for 10 h 50 min.
    expect(transitions[0]?.expectedSaving?.gpuHours).toBeCloseTo(10.833, 3);
    expect(totals.usd).toBeGreaterThan(0);
  });

  it('prints a table', async () => {
    const c = io();
    const code = await main(
      [
        'schedule',
        'preview',
        '--policy',
        policyFile,
        '--from',
        '2026-12-07T00:00:00Z',
        '--to',
        '2026-12-08T00:00:00Z',
      ],
      c.io as never,
    );
    expect(code).toBe(0);
    expect(c.out()).toMatch(
      /^TIME\s+TARGET\s+ACTION\s+SCHEDULE\s+EXPECTED SAVING\n2026-12-07T19:00:00.000Z\s+triton-l4\s+scale-down\s+nights/,
    );
  });

  it.each<[string[], string]>([
    [['--from', '2026-12-07T00:00:00Z'], 'give both --from and --to'],
    [['--from', '2026-12-08T00:00:00Z', '--to', '2026-12-07T00:00:00Z'], '--to must be after --from'],
    [['--from', 'monday', '--to', '2026-12-07T00:00:00Z'], 'is not an ISO 8601 time'],
  ])('usage error for %j', async (args, message) => {
    const c = io();
    expect(await main(['schedule', 'preview', '--policy', policyFile, ...args], c.io as never)).toBe(2);
    expect(c.err()).toContain(message);
  });

  it('refuses an unknown subcommand', async () => {
    const c = io();
    expect(await main(['schedule', 'apply'], c.io as never)).toBe(2);
    expect(c.err()).toContain("unknown subcommand 'apply'");
  });
});

describe('inferctl wake', () => {
  it.each<[string, number]>([
    ['2h', 7_200_000],
    ['90m', 5_400_000],
    ['1h30m', 5_400_000],
    ['1d', 86_400_000],
  ])('--for %s is %i ms', (raw, ms) => {
    expect(parseDuration(raw)).toBe(ms);
  });

  it.each(['', '0h', '2 hours', '-1h', 'h'])('refuses the duration %j', (raw) => {
    expect(() => parseDuration(raw)).toThrow(/not a duration/);
  });

  it('needs exactly one of --for and --until', async () => {
    const c = io();
    expect(await main(['wake', 'triton-l4'], c.io as never)).toBe(2);
    expect(c.err()).toContain('give exactly one of --for and --until');
  });
});
