import { describe, expect, it } from 'vitest';
import {
  buildOutboundEvent,
  OUTBOUND_EVENT_TYPES,
  type OutboundEvent,
  outboundSource,
  parseOutboundEvent,
} from '../../events/outbound';
import { captureValidationError, loadFixture, loadFixtures } from './fixtures';

const fixtures = loadFixtures('outbound');
const source = outboundSource('inferplane-prod', 'model-deployer');

const invalidExpectations: Record<string, string[]> = {
  'invalid-security-rotated-leaks-key': ['data.keyIds.currentKey'],
  'invalid-unknown-type': ['type'],
  'invalid-bad-source': ['source'],
};

describe('outbound fixtures', () => {
  it.each(fixtures.filter((f) => f.outcome !== 'invalid'))('$name parses', (fixture) => {
    // Act
    const event = parseOutboundEvent(fixture.json);

    // Assess
    expect(event).toEqual(fixture.json);
  });

  it('has one valid example of every event type', () => {
    // Act
    const types = fixtures.filter((f) => f.outcome === 'valid').map((f) => parseOutboundEvent(f.json).type);

    // Assess
    expect([...types].sort()).toEqual([...OUTBOUND_EVENT_TYPES].sort());
  });

  it.each(fixtures.filter((f) => f.outcome === 'invalid'))(
    '$name is rejected at the real field',
    (fixture) => {
      // Prepare
      const expected = invalidExpectations[fixture.name];
      expect(expected, `add an expectation for ${fixture.name}`).toBeDefined();

      // Act
      const error = captureValidationError(() => parseOutboundEvent(fixture.json));

      // Assess
      expect(error.issues.map((i) => i.path)).toEqual(expected);
    },
  );

  it.each(fixtures.filter((f) => f.outcome === 'valid'))('$name is what the builder produces', (fixture) => {
    // Prepare
    const example = parseOutboundEvent(fixture.json);

    // Act
    const built = rebuild(example);

    // Assess
    expect(built).toEqual(example);
  });
});

function rebuild(example: OutboundEvent): OutboundEvent {
  // The builder is generic over the type; the switch narrows data to the matching schema.
  const init = { source: example.source, subject: example.subject, id: example.id, time: example.time };
  switch (example.type) {
    case 'dev.inferplane.model.v1.deployed':
      return buildOutboundEvent(example.type, { ...init, data: example.data });
    case 'dev.inferplane.model.v1.rejected':
      return buildOutboundEvent(example.type, { ...init, data: example.data });
    case 'dev.inferplane.scaling.v1.applied':
      return buildOutboundEvent(example.type, { ...init, data: example.data });
    case 'dev.inferplane.scaling.v1.skipped':
      return buildOutboundEvent(example.type, { ...init, data: example.data });
    case 'dev.inferplane.schedule.v1.applied':
      return buildOutboundEvent(example.type, { ...init, data: example.data });
    case 'dev.inferplane.security.v1.rotated':
      return buildOutboundEvent(example.type, { ...init, data: example.data });
    case 'dev.inferplane.security.v1.rejected':
      return buildOutboundEvent(example.type, { ...init, data: example.data });
  }
}

describe('buildOutboundEvent', () => {
  const deployed = parseOutboundEvent(loadFixture('outbound', 'valid-model-deployed').json);
  if (deployed.type !== 'dev.inferplane.model.v1.deployed') throw new Error('fixture has the wrong type');
  const data = deployed.data;

  it('fills the structured-mode envelope', () => {
    // Act
    const event = buildOutboundEvent('dev.inferplane.model.v1.deployed', {
      source,
      data,
      time: new Date(Date.UTC(2026, 0, 1, 12)),
    });

    // Assess
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'dev.inferplane.model.v1.deployed',
      source: '//inferplane.dev/projects/inferplane-prod/functions/model-deployer',
      time: '2026-01-01T12:00:00.000Z',
      datacontenttype: 'application/json',
      data,
    });
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect('subject' in event).toBe(false);
  });

  it.each([
    {
      name: 'a numeric generation',
      change: { sourceObject: { ...data.sourceObject, generation: 1670454587395344 } },
      path: 'data.sourceObject.generation',
    },
    {
      name: 'a non-gs repository',
      change: { repositoryUri: 'https://storage.googleapis.com/b' },
      path: 'data.repositoryUri',
    },
    { name: 'a negative duration', change: { durationMs: -1 }, path: 'data.durationMs' },
    { name: 'a missing model', change: { model: undefined }, path: 'data.model' },
    { name: 'an extra field', change: { token: 'ya29.secret' }, path: 'data.token' },
  ])('rejects data with $name', ({ change, path }) => {
    // Prepare
    const bad = { ...data, ...change } as unknown as typeof data;

    // Act
    const error = captureValidationError(() =>
      buildOutboundEvent('dev.inferplane.model.v1.deployed', { source, data: bad }),
    );

    // Assess
    expect(error.issues.map((i) => i.path)).toEqual([path]);
  });

  it('rejects data of another type', () => {
    // Prepare
    const skipped = {
      incidentId: 'i',
      policyName: 'p',
      incidentState: 'open',
      skipReason: 'COOLDOWN',
    } as const;

    // Act
    const error = captureValidationError(() =>
      buildOutboundEvent('dev.inferplane.model.v1.deployed', {
        source,
        data: skipped as unknown as typeof data,
      }),
    );

    // Assess
    expect(error.issues.map((i) => i.path)).toContain('data.model');
    expect(error.issues.map((i) => i.path)).toContain('data.skipReason');
  });

  it.each([
    { name: 'a bad source', init: { source: 'model-deployer' }, path: 'source' },
    { name: 'a bad time', init: { source, time: 'yesterday' }, path: 'time' },
    { name: 'an empty id', init: { source, id: '' }, path: 'id' },
  ])('rejects $name', ({ init, path }) => {
    // Act
    const error = captureValidationError(() =>
      buildOutboundEvent('dev.inferplane.model.v1.deployed', { ...init, data }),
    );

    // Assess
    expect(error.issues.map((i) => i.path)).toEqual([path]);
  });

  it('refuses an applied scaling event without actions and a lower-case reason code', () => {
    // Act
    const applied = captureValidationError(() =>
      buildOutboundEvent('dev.inferplane.scaling.v1.applied', {
        source,
        data: { incidentId: 'i', policyName: 'p', incidentState: 'open', dryRun: false, actions: [] },
      }),
    );
    const skipped = captureValidationError(() =>
      buildOutboundEvent('dev.inferplane.scaling.v1.skipped', {
        source,
        data: { incidentId: 'i', policyName: 'p', incidentState: 'open', skipReason: 'cooldown' },
      }),
    );

    // Assess
    expect(applied.issues.map((i) => i.path)).toEqual(['data.actions']);
    expect(skipped.issues.map((i) => i.path)).toEqual(['data.skipReason']);
  });
});
