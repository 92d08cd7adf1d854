import { describe, expect, it } from 'vitest';
import { InvalidPolicyError, loadPolicy, type PolicyIssue } from '../../shared/policy';

const MINIMAL = `apiVersion: inferplane.dev/v1
kind: ControlPlanePolicy
cluster: { project: my-proj, name: inference, repositoryBucket: acme-triton-repo, incomingBucket: acme-models-incoming }
guardrails: { maxGpusTotal: 16, maxGpusPerPool: 8, maxNodes: 16, maxDollarsPerHour: 60 }
schedules:
`;

function issuesOf(schedules: string): PolicyIssue[] {
  try {
    loadPolicy(`${MINIMAL}${schedules}`, 'test.yaml');
    return [];
  } catch (err) {
    if (!(err instanceof InvalidPolicyError)) throw err;
    return [...err.issues];
  }
}

describe('schedule policy', () => {
  it('fills the defaults', () => {
    const policy = loadPolicy(
      `${MINIMAL}  - { name: nights, target: { all: true }, downtime: ["Mon-Fri 20:00-07:00 UTC"] }\n`,
    );
    expect(policy.schedules[0]).toMatchObject({
      leadTimeMinutes: 10,
      gracePeriodMinutes: 15,
      downtimeReplicas: 0,
      freezes: [],
      holidays: [],
    });
  });

  it.each<[string, string, string, string]>([
    [
      'a window no longer than the lead time',
      '  - { name: short, target: { all: true }, downtime: ["Mon 20:00-20:05 UTC"] }\n',
      'schedules.0.downtime.0',
      'schedule "short": window "Mon 20:00-20:05 UTC" lasts 5 min, not longer than leadTimeMinutes (10)',
    ],
    [
      'a freeze that ends before it starts',
      '  - { name: f, target: { all: true }, downtime: ["Sat 00:00-24:00 UTC"], freezes: [{ from: "2026-12-10", until: "2026-12-01" }] }\n',
      'schedules.0.freezes.0',
      'schedule "f": freeze must end after it starts',
    ],
    [
      'holidays with windows in several zones and no timeZone',
      '  - { name: z, target: { all: true }, downtime: ["Sat 00:00-24:00 UTC", "Sun 00:00-24:00 Asia/Tokyo"], holidays: ["2026-12-25"] }\n',
      'schedules.0.timeZone',
      'schedule "z": windows use several zones (UTC, Asia/Tokyo)',
    ],
    [
      'a freeze bound that is neither a date nor a time',
      '  - { name: b, target: { all: true }, downtime: ["Sat 00:00-24:00 UTC"], freezes: [{ from: "soon", until: "2026-12-01" }] }\n',
      'schedules.0.freezes.0.from',
      'must be a date YYYY-MM-DD or an RFC 3339 time',
    ],
    [
      'an unknown zone for holidays',
      '  - { name: u, target: { all: true }, downtime: ["Sat 00:00-24:00 UTC"], timeZone: Mars/Olympus }\n',
      'schedules.0.timeZone',
      'unknown time zone',
    ],
  ])('refuses %s, naming the schedule and the problem', (_, schedules, path, message) => {
    const issues = issuesOf(schedules);
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)?.message).toContain(message);
  });

  it('lists every problem of every schedule at once', () => {
    const issues = issuesOf(
      [
        '  - { name: a, target: { all: true }, downtime: ["Mon 20:00-20:05 UTC"] }',
        '  - { name: b, target: { all: true }, downtime: ["Tue 25:00-07:00 UTC"], freezes: [{ from: "2026-12-10", until: "2026-12-01" }] }',
        '',
      ].join('\n'),
    );
    expect(issues.map((i) => i.path).sort()).toEqual([
      'schedules.0.downtime.0',
      'schedules.1.downtime.0',
      'schedules.1.freezes.0',
    ]);
  });
});
