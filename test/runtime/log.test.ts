import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../shared/runtime/errors';
import { createMemoryLogger, registerSecret, traceFromTraceparent } from '../../shared/runtime/log';

describe('Cloud Logging JSON logs', () => {
  it('writes severity, message, labels and trace in the fields Cloud Logging reads', () => {
    // Prepare
    const { logger, entries } = createMemoryLogger();
    const trace = traceFromTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'my-proj');

    // Act
    logger
      .child({ labels: { function: 'deployModel', eventId: 'e1' }, ...trace })
      .warn('slow', { target: 'x' });

    // Assess
    expect(entries).toEqual([
      expect.objectContaining({
        severity: 'WARNING',
        message: 'slow',
        target: 'x',
        'logging.googleapis.com/labels': { function: 'deployModel', eventId: 'e1' },
        'logging.googleapis.com/trace': 'projects/my-proj/traces/4bf92f3577b34da6a3ce929d0e0e4736',
        'logging.googleapis.com/spanId': '00f067aa0ba902b7',
      }),
    ]);
  });

  it.each([
    ['no traceparent', undefined, 'p'],
    ['no project', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', undefined],
    ['malformed', 'garbage', 'p'],
  ])('has no trace with %s', (_case, traceparent, project) => {
    expect(traceFromTraceparent(traceparent, project)).toEqual({});
  });

  it('never writes secret values: secret-named keys and registered values are redacted, errors too', () => {
    // Prepare
    const { logger, entries } = createMemoryLogger();
    registerSecret('sk-live-abcdef123456');

    // Act
    logger.info('calling with sk-live-abcdef123456', {
      apiKey: 'plain-key-value',
      nested: { password: 'hunter22', note: 'token sk-live-abcdef123456 used' },
      error: new PermanentError('X', 'failed with sk-live-abcdef123456'),
    });

    // Assess
    const text = JSON.stringify(entries);
    expect(text).not.toContain('sk-live-abcdef123456');
    expect(text).not.toContain('plain-key-value');
    expect(text).not.toContain('hunter22');
    expect(entries[0]).toMatchObject({ apiKey: '[REDACTED]', nested: { password: '[REDACTED]' } });
    expect(entries[0]).toMatchObject({ error: { reason: 'X' } });
  });

  it('drops entries below the minimum severity', async () => {
    const { createLogger } = await import('../../shared/runtime/log');
    const lines: string[] = [];
    const logger = createLogger({ sink: (l) => lines.push(l), minSeverity: 'WARNING' });
    logger.info('quiet');
    logger.error('loud');
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(['loud']);
  });
});
