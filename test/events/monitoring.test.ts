import { describe, expect, it } from 'vitest';
import {
  monitoringNotificationSchema,
  parseMonitoringNotification,
  parseMonitoringNotificationEvent,
} from '../../events/monitoring';
import { decodePubSubJson, parsePubSubMessage } from '../../events/pubsub';
import { asHttp, captureValidationError, deliveredCloudEvent, loadFixture, loadFixtures } from './fixtures';

const fixtures = loadFixtures('monitoring');

/** Paths are relative to the event data (the HTTP body), as parsePubSubMessage reports them. */
const invalidExpectations: Record<string, { path: string; message: RegExp }> = {
  'invalid-bad-state': { path: 'message.data.incident.state', message: /"open" or "closed", got "firing"/ },
  'invalid-unknown-version': {
    path: 'message.data.version',
    message: /unsupported .*version "1\.1"; supported: 1\.2, test/,
  },
  'invalid-base64': { path: 'message.data', message: /not valid base64/ },
  'invalid-data-not-json': { path: 'message.data', message: /not JSON/ },
  'invalid-missing-incident-id': { path: 'message.data.incident.incident_id', message: /expected string/ },
};

describe('monitoring fixtures', () => {
  it.each(fixtures.filter((f) => f.outcome !== 'invalid'))('$name parses', (fixture) => {
    // Act
    const event = parseMonitoringNotificationEvent(deliveredCloudEvent(fixture));

    // Assess
    expect(['incident', 'test']).toContain(event.message.payload.kind);
    expect(event.message.messageId).toBe(event.id);
  });

  it.each(fixtures.filter((f) => f.outcome !== 'invalid'))(
    '$name carries the documented base64 data',
    (fixture) => {
      // Prepare
      const http = asHttp(fixture);
      const message = (http.body as { message: { data: string } }).message;

      // Act
      const decoded = decodePubSubJson(message.data);

      // Assess
      expect(decoded).toEqual(http.messageDataDecoded);
    },
  );

  it.each(fixtures.filter((f) => f.outcome === 'invalid'))(
    '$name is rejected at the real field',
    (fixture) => {
      // Prepare
      const expected = invalidExpectations[fixture.name];
      expect(expected, `add an expectation for ${fixture.name}`).toBeDefined();

      // Act
      const fromData = captureValidationError(() =>
        parsePubSubMessage(asHttp(fixture).body, monitoringNotificationSchema),
      );
      const fromEvent = captureValidationError(() =>
        parseMonitoringNotificationEvent(deliveredCloudEvent(fixture)),
      );

      // Assess
      expect(fromData.issues.map((i) => i.path)).toEqual([expected?.path]);
      expect(fromData.issues[0]?.message).toMatch(expected?.message ?? /^$/);
      expect(fromEvent.issues.map((i) => i.path)).toEqual([`data.${expected?.path}`]);
    },
  );
});

describe('monitoring notifications', () => {
  it('parses an open incident with its routing labels', () => {
    // Act
    const { message } = parseMonitoringNotificationEvent(
      deliveredCloudEvent(loadFixture('monitoring', 'valid-incident-open')),
    );

    // Assess
    const notification = message.payload;
    if (notification.kind !== 'incident') throw new Error(`expected an incident, got ${notification.kind}`);
    expect(notification.incident).toMatchObject({
      incident_id: '0.mtdi83m6w8ao',
      state: 'open',
      started_at: 1675315787,
      ended_at: null,
      observed_value: '93000',
      threshold_value: '50000',
      scoping_project_number: '123456789012',
      policy_name: 'triton-queue-high',
      policy_user_labels: { action: 'scale-out', model: 'resnet50' },
    });
    expect(message.publishTime).toBe('2023-02-02T05:29:49.412Z');
    expect(message.subscription).toMatch(/^projects\/inferplane-prod\/subscriptions\//);
  });

  it('parses a closing notification with its end time', () => {
    // Act
    const { payload } = parseMonitoringNotificationEvent(
      deliveredCloudEvent(loadFixture('monitoring', 'valid-incident-closed')),
    ).message;

    // Assess
    expect(payload.kind).toBe('incident');
    expect(payload.incident.state).toBe('closed');
    expect(payload.kind === 'incident' && payload.incident.ended_at).toBe(1675316508);
  });

  it('turns a test notification into kind "test", never an incident', () => {
    // Act
    const { payload } = parseMonitoringNotificationEvent(
      deliveredCloudEvent(loadFixture('monitoring', 'edge-test-notification')),
    ).message;

    // Assess
    expect(payload).toMatchObject({ kind: 'test', version: 'test', incident: { state: 'open' } });
  });

  it('normalises numeric values, upper-case state and snake_case message ids', () => {
    // Act
    const { message } = parseMonitoringNotificationEvent(
      deliveredCloudEvent(loadFixture('monitoring', 'edge-numeric-values-snake-case-ids')),
    );

    // Assess
    expect(message.messageId).toBe('6843259137418999');
    expect(message.publishTime).toBe('2023-02-02T05:29:49.412123456Z');
    expect(message.payload.incident).toMatchObject({
      state: 'open',
      observed_value: '93000.5',
      threshold_value: '50000',
    });
  });

  it.each([
    {
      name: 'missing version',
      payload: { incident: { incident_id: 'x', state: 'open' } },
      message: /version is missing/,
    },
    { name: 'numeric version', payload: { version: 1.2 }, message: /unsupported .*version 1\.2/ },
  ])('rejects a $name at `version`', ({ payload, message }) => {
    // Act
    const error = captureValidationError(() => parseMonitoringNotification(payload));

    // Assess
    expect(error.issues).toEqual([{ path: 'version', message: expect.stringMatching(message) }]);
  });

  it.each([
    { field: 'started_at', value: '1675315787' },
    { field: 'ended_at', value: -1 },
    { field: 'policy_user_labels', value: { action: 1 } },
  ])('rejects a malformed $field', ({ field, value }) => {
    // Prepare
    const payload = { version: '1.2', incident: { incident_id: 'x', state: 'open', [field]: value } };

    // Act
    const error = captureValidationError(() => parseMonitoringNotification(payload));

    // Assess
    expect(error.issues[0]?.path.startsWith(`incident.${field}`)).toBe(true);
  });
});
