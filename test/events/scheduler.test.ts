import { describe, expect, it } from 'vitest';
import { parseSchedulerCommand, parseSchedulerCommandEvent } from '../../events/scheduler';
import { asHttp, captureValidationError, deliveredCloudEvent, loadFixture, loadFixtures } from './fixtures';

const fixtures = loadFixtures('scheduler');

const invalidExpectations: Record<string, { path: string; message: RegExp }> = {
  'invalid-unknown-api-version': {
    path: 'data.message.data.apiVersion',
    message: /unsupported apiVersion "inferplane\.dev\/scheduler\/v2"/,
  },
  'invalid-unknown-command': {
    path: 'data.message.data.command',
    message: /"reconcile-schedules", "rotate-security"/,
  },
  'invalid-misspelled-dry-run': { path: 'data.message.data.dryrun', message: /unknown field/ },
  'invalid-bad-schedule-name': { path: 'data.message.data.scope.schedules.1', message: /DNS labels/ },
  'invalid-attributes-only': { path: 'data.message.data', message: /is empty/ },
};

describe('scheduler fixtures', () => {
  it.each(fixtures.filter((f) => f.outcome !== 'invalid'))(
    '$name parses to its documented payload',
    (fixture) => {
      // Act
      const event = parseSchedulerCommandEvent(deliveredCloudEvent(fixture));

      // Assess
      expect(event.message.payload).toEqual({
        dryRun: false,
        ...(asHttp(fixture).messageDataDecoded as object),
      });
      expect(event.message.attributes['inferplane-job']).toBeDefined();
    },
  );

  it.each(fixtures.filter((f) => f.outcome === 'invalid'))(
    '$name is rejected at the real field',
    (fixture) => {
      // Prepare
      const expected = invalidExpectations[fixture.name];
      expect(expected, `add an expectation for ${fixture.name}`).toBeDefined();

      // Act
      const error = captureValidationError(() => parseSchedulerCommandEvent(deliveredCloudEvent(fixture)));

      // Assess
      expect(error.issues.map((i) => i.path)).toEqual([expected?.path]);
      expect(error.issues[0]?.message).toMatch(expected?.message ?? /^$/);
    },
  );
});

describe('scheduler commands', () => {
  it('defaults dryRun to false and keeps the scope', () => {
    // Act
    const scoped = parseSchedulerCommandEvent(
      deliveredCloudEvent(loadFixture('scheduler', 'valid-reconcile-schedules-scoped-dry-run')),
    ).message.payload;
    const plain = parseSchedulerCommand({
      apiVersion: 'inferplane.dev/scheduler/v1',
      command: 'rotate-security',
    });

    // Assess
    expect(scoped).toEqual({
      apiVersion: 'inferplane.dev/scheduler/v1',
      command: 'reconcile-schedules',
      dryRun: true,
      scope: { schedules: ['office-hours-eu', 'weekend-downtime'] },
    });
    expect(plain.dryRun).toBe(false);
  });

  it.each([
    {
      name: 'a scope on rotate-security',
      payload: { command: 'rotate-security', scope: { schedules: ['a'] } },
      path: 'scope',
    },
    {
      name: 'an empty schedule list',
      payload: { command: 'reconcile-schedules', scope: { schedules: [] } },
      path: 'scope.schedules',
    },
    {
      name: 'a repeated schedule',
      payload: { command: 'reconcile-schedules', scope: { schedules: ['a', 'a'] } },
      path: 'scope.schedules',
    },
    { name: 'a string dryRun', payload: { command: 'reconcile-schedules', dryRun: 'true' }, path: 'dryRun' },
    { name: 'a missing command', payload: {}, path: 'command' },
    {
      name: 'an at without a time',
      payload: { command: 'reconcile-schedules', at: '2026-12-02' },
      path: 'at',
    },
    {
      name: 'an at without an offset',
      payload: { command: 'reconcile-schedules', at: '2026-12-02T22:00:00' },
      path: 'at',
    },
    {
      name: 'an at on rotate-security',
      payload: { command: 'rotate-security', at: '2026-12-02T22:00:00Z' },
      path: 'at',
    },
  ])('rejects $name', ({ payload, path }) => {
    // Act
    const error = captureValidationError(() =>
      parseSchedulerCommand({ apiVersion: 'inferplane.dev/scheduler/v1', ...payload }),
    );

    // Assess
    expect(error.issues.map((i) => i.path)).toEqual([path]);
  });

  it.each(['2026-12-02T22:00:00Z', '2026-12-02T23:00:00.250+01:00'])(
    'keeps an evaluation time at %s as given',
    (at) => {
      // Act
      const payload = parseSchedulerCommand({
        apiVersion: 'inferplane.dev/scheduler/v1',
        command: 'reconcile-schedules',
        at,
      });

      // Assess
      expect(payload).toEqual({
        command: 'reconcile-schedules',
        apiVersion: 'inferplane.dev/scheduler/v1',
        dryRun: false,
        at,
      });
    },
  );

  it('reports only the version when a newer producer sends unknown fields', () => {
    // Act
    const error = captureValidationError(() =>
      parseSchedulerCommand({ apiVersion: 'inferplane.dev/scheduler/v2', command: 'wake', window: '1h' }),
    );

    // Assess
    expect(error.issues.map((i) => i.path)).toEqual(['apiVersion']);
  });
});
