import { describe, expect, it } from 'vitest';
import {
  monitoringIncident,
  newIncidentId,
  parseLabel,
  reconcileSchedulesCommand,
  rotateSecurityCommand,
} from '../../cli/messages';
import { parseMonitoringNotification } from '../../events/monitoring';
import { parseSchedulerCommand } from '../../events/scheduler';

const BASE = {
  policy: 'triton-queue-high',
  labels: { action: 'scale-out', model: 'add' },
  incidentId: '0.abcdefghijkl',
  project: 'local-project',
  location: 'us-central1',
  cluster: 'inference',
  namespace: 'triton',
  nowMs: Date.parse('2026-12-02T01:00:00Z'),
};

describe('inferctl messages parse as the functions parse them', () => {
  it.each([
    { name: 'a tick', message: reconcileSchedulesCommand(), at: undefined },
    {
      name: 'a tick at a time',
      message: reconcileSchedulesCommand('2026-12-02T22:00:00Z'),
      at: '2026-12-02T22:00:00Z',
    },
  ])('$name', ({ message, at }) => {
    // Act
    const parsed = parseSchedulerCommand(message);

    // Assess
    expect(parsed).toMatchObject({ command: 'reconcile-schedules', dryRun: false });
    expect(parsed.command === 'reconcile-schedules' ? parsed.at : 'wrong command').toBe(at);
  });

  it('a security tick', () => {
    // Act / Assess
    expect(parseSchedulerCommand(rotateSecurityCommand())).toMatchObject({ command: 'rotate-security' });
  });

  it.each([
    { state: 'open' as const, endedAt: null },
    { state: 'closed' as const, endedAt: Date.parse('2026-12-02T01:00:00Z') / 1000 },
  ])('a schema-1.2 incident, $state', ({ state, endedAt }) => {
    // Act
    const parsed = parseMonitoringNotification(
      monitoringIncident({ ...BASE, state, startedAtMs: Date.parse('2026-12-02T00:50:00Z') }),
    );

    // Assess
    expect(parsed).toMatchObject({
      version: '1.2',
      incident: {
        incident_id: '0.abcdefghijkl',
        state,
        policy_name: 'triton-queue-high',
        policy_user_labels: { action: 'scale-out', model: 'add' },
        started_at: Date.parse('2026-12-02T00:50:00Z') / 1000,
        ended_at: endedAt,
      },
    });
  });

  it('keeps the condition name of one policy across open and close, so they are one incident', () => {
    // Act
    const open = monitoringIncident({ ...BASE, state: 'open' }) as {
      incident: { condition: { name: string } };
    };
    const closed = monitoringIncident({ ...BASE, state: 'closed' }) as {
      incident: { condition: { name: string } };
    };

    // Assess
    expect(closed.incident.condition.name).toBe(open.incident.condition.name);
    expect(open.incident.condition.name).toMatch(
      /^projects\/local-project\/alertPolicies\/\d+\/conditions\/\d+$/,
    );
  });

  it('makes incident ids in Monitoring form', () => {
    // Act / Assess
    expect(newIncidentId()).toMatch(/^0\.[0-9a-z]{12}$/);
  });

  it.each([
    { raw: 'action=scale-out', ok: ['action', 'scale-out'] },
    { raw: 'model=a=b', ok: ['model', 'a=b'] },
    { raw: 'action', error: /needs key=value/ },
    { raw: '=x', error: /needs key=value/ },
    { raw: 'Action=x', error: /user label key/ },
  ])('--label $raw', ({ raw, ok, error }) => {
    // Act / Assess
    if (ok) expect(parseLabel(raw)).toEqual(ok);
    else expect(() => parseLabel(raw)).toThrow(error);
  });
});
