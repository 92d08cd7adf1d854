import { describe, expect, it } from 'vitest';
import { cloudEventFromBinaryHttp, parseCloudEvent } from '../../events/cloudevent';
import { captureValidationError, fixtureSources, loadFixtures } from './fixtures';

const context = {
  specversion: '1.0',
  id: '6823593461553178',
  source: '//storage.googleapis.com/projects/_/buckets/b',
  type: 'google.cloud.storage.object.v1.finalized',
};

describe('parseCloudEvent', () => {
  it('keeps the context, extensions and data', () => {
    // Act
    const ce = parseCloudEvent({
      ...context,
      time: '2022-12-07T23:09:47.419566Z',
      bucket: 'b',
      data: { a: 1 },
    });

    // Assess
    expect(ce).toEqual({ ...context, time: '2022-12-07T23:09:47.419566Z', bucket: 'b', data: { a: 1 } });
  });

  it.each([
    { name: 'id', event: { ...context, id: '' } },
    { name: 'specversion', event: { ...context, specversion: '0.3' } },
    { name: 'type', event: { ...context, type: undefined } },
    { name: 'time', event: { ...context, time: '7 Dec 2022' } },
  ])('rejects a bad $name', ({ name, event }) => {
    // Act
    const error = captureValidationError(() => parseCloudEvent(event));

    // Assess
    expect(error.issues.map((i) => i.path)).toEqual([name]);
  });
});

describe('cloudEventFromBinaryHttp', () => {
  it('maps ce-* headers (any case) and traceparent, and ignores the rest', () => {
    // Act
    const ce = cloudEventFromBinaryHttp(
      { 'CE-ID': '1', 'ce-type': 't', 'content-type': 'application/json', traceparent: '00-a-b-01' },
      { x: 1 },
    );

    // Assess
    expect(ce).toEqual({ id: '1', type: 't', traceparent: '00-a-b-01', data: { x: 1 } });
  });
});

describe('fixture folders', () => {
  it('hold only valid-/edge-/invalid- fixtures, and each outcome is covered', () => {
    // Act
    const sources = fixtureSources();

    // Assess
    expect(sources).toEqual(['monitoring', 'outbound', 'scheduler', 'storage']);
    for (const source of sources) {
      const outcomes = new Set(loadFixtures(source).map((f) => f.outcome));
      expect(outcomes.has('valid'), source).toBe(true);
      expect(outcomes.has('invalid'), source).toBe(true);
    }
  });

  it.each(['monitoring', 'scheduler', 'storage'])('%s fixtures are binary-mode deliveries', (source) => {
    for (const fixture of loadFixtures(source)) {
      // Prepare
      const { headers, body } = fixture.json as { headers: Record<string, string>; body: unknown };

      // Assess
      expect(headers['ce-specversion'], fixture.name).toBe('1.0');
      expect(headers['content-type'], fixture.name).toBe('application/json');
      expect(typeof body, fixture.name).toBe('object');
    }
  });
});
