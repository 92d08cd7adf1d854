import { describe, expect, it } from 'vitest';
import {
  int64String,
  objectSizeBytes,
  objectVersionKey,
  parseStorageObjectEvent,
  STORAGE_OBJECT_FINALIZED,
} from '../../events/storage';
import { captureValidationError, deliveredCloudEvent, loadFixture, loadFixtures } from './fixtures';

const fixtures = loadFixtures('storage');

/** Every invalid fixture names the field that must be blamed. */
const invalidExpectations: Record<string, { path: string; message: RegExp }> = {
  'invalid-negative-size': { path: 'data.size', message: /non-negative decimal integer string, got "-1"/ },
  'invalid-generation-not-decimal': { path: 'data.generation', message: /got "abc"/ },
  'invalid-generation-unsafe-number': {
    path: 'data.generation',
    message: /not a safe integer.*decimal string/,
  },
  'invalid-wrong-event-type': {
    path: 'type',
    message: /expected event type .*finalized.*object\.v1\.deleted/,
  },
  'invalid-missing-bucket': { path: 'data.bucket', message: /expected string/ },
};

describe('storage fixtures', () => {
  it.each(fixtures.filter((f) => f.outcome !== 'invalid'))('$name parses', (fixture) => {
    // Act
    const event = parseStorageObjectEvent(deliveredCloudEvent(fixture));

    // Assess
    expect(event.type).toBe(STORAGE_OBJECT_FINALIZED);
    expect(event.subject).toBe(`objects/${event.data.name}`);
    expect(event.data.generation).toMatch(/^\d+$/);
    expect(event.data.size).toMatch(/^\d+$/);
  });

  it.each(fixtures.filter((f) => f.outcome === 'invalid'))(
    '$name is rejected at the real field',
    (fixture) => {
      // Prepare
      const expected = invalidExpectations[fixture.name];
      expect(expected, `add an expectation for ${fixture.name}`).toBeDefined();

      // Act
      const error = captureValidationError(() => parseStorageObjectEvent(deliveredCloudEvent(fixture)));

      // Assess
      expect(error.issues).toHaveLength(1);
      expect(error.issues[0]?.path).toBe(expected?.path);
      expect(error.issues[0]?.message).toMatch(expected?.message ?? /^$/);
      expect(error.reason).toBe('INVALID_INPUT');
    },
  );
});

describe('storage int64 fields', () => {
  it('keeps the string form of a real delivery and normalises numbers to the same strings', () => {
    // Prepare
    const asStrings = deliveredCloudEvent(loadFixture('storage', 'valid-finalized-string-int64'));
    const asNumbers = deliveredCloudEvent(loadFixture('storage', 'valid-finalized-number-int64'));

    // Act
    const fromStrings = parseStorageObjectEvent(asStrings).data;
    const fromNumbers = parseStorageObjectEvent(asNumbers).data;

    // Assess
    for (const data of [fromStrings, fromNumbers]) {
      expect(data.generation).toBe('1670454587395344');
      expect(data.metageneration).toBe('1');
      expect(data.size).toBe('102442450');
    }
  });

  it('keeps a generation above 2^53 exact', () => {
    // Prepare
    const ce = deliveredCloudEvent(loadFixture('storage', 'edge-generation-above-2-53-string'));

    // Act
    const { data } = parseStorageObjectEvent(ce);

    // Assess: 9007199254740993 is 2^53 + 1, which a JS number would round to ...992.
    expect(data.generation).toBe('9007199254740993');
    expect(BigInt(data.generation)).toBe(2n ** 53n + 1n);
    expect(objectVersionKey(data)).toBe(
      'gs://inferplane-models-prod/models/resnet50/config.pbtxt#9007199254740993',
    );
  });

  it.each([
    { input: '0', output: '0' },
    { input: 0, output: '0' },
    { input: Number.MAX_SAFE_INTEGER, output: '9007199254740991' },
    { input: '18446744073709551615', output: '18446744073709551615' },
  ])('accepts $input as $output', ({ input, output }) => {
    expect(int64String('generation').parse(input)).toBe(output);
  });

  it.each([
    { input: 2 ** 53, why: 'above 2^53' },
    { input: 1.5, why: 'a fraction' },
    { input: -1, why: 'negative' },
    { input: '', why: 'empty' },
    { input: ' 12', why: 'padded' },
    { input: '1e3', why: 'exponent' },
    { input: null, why: 'null' },
  ])('rejects $why ($input)', ({ input }) => {
    expect(int64String('generation').safeParse(input).success).toBe(false);
  });

  it('computes the object size as an exact bigint', () => {
    expect(objectSizeBytes({ size: '9007199254740993' })).toBe(9007199254740993n);
    expect(objectSizeBytes({ size: '0' })).toBe(0n);
  });
});

describe('storage optional and unknown fields', () => {
  it('accepts an object with only the identity fields', () => {
    // Act
    const event = parseStorageObjectEvent(
      deliveredCloudEvent(loadFixture('storage', 'edge-missing-optional-fields')),
    );

    // Assess
    expect(event.time).toBeUndefined();
    expect(event.data.contentType).toBeUndefined();
    expect(event.data.metadata).toBeUndefined();
  });

  it('passes unknown data fields and extension attributes through', () => {
    // Act
    const event = parseStorageObjectEvent(
      deliveredCloudEvent(loadFixture('storage', 'edge-zero-byte-folder-placeholder')),
    );

    // Assess
    expect(event.data.softDeleteTime).toBe('2023-01-07T23:09:47.419Z');
    expect(event.bucket).toBe('inferplane-models-prod');
    expect(event.traceparent).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(objectSizeBytes(event.data)).toBe(0n);
  });

  it('accepts a CloudEvent in structured form (the framework passes it as is)', () => {
    // Prepare
    const fixture = loadFixture('storage', 'valid-finalized-string-int64').json as {
      body: Record<string, unknown>;
    };
    const structured = {
      specversion: '1.0',
      id: '1',
      source: '//storage.googleapis.com/projects/_/buckets/inferplane-models-prod',
      type: STORAGE_OBJECT_FINALIZED,
      data: fixture.body,
    };

    // Act
    const event = parseStorageObjectEvent(structured);

    // Assess
    expect(event.data.name).toBe('models/resnet50/1/model.onnx');
  });
});
