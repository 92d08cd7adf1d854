import { describe, expect, it } from 'vitest';
import { registerSecret } from '../../shared/runtime/log';
import { SecretLedger } from '../support/secret-ledger';

describe('SecretLedger (the no-secrets scan can fail)', () => {
  it.each([
    ['a key in a log message', (l: SecretLedger, key: string) => l.logger().info(`oops ${key}`), 'log'],
    [
      'a key base64-encoded in a field',
      (l: SecretLedger, key: string) => l.logger().info('x', { blob: Buffer.from(key).toString('base64') }),
      'log',
    ],
    [
      'a key in an event',
      async (l: SecretLedger, key: string) => {
        await l
          .publisher()
          .publish({ specversion: '1.0', id: '1', source: 's', type: 't', time: 'now', data: { k: key } });
      },
      'event',
    ],
  ])('finds %s', async (_name, leak, where) => {
    const ledger = new SecretLedger();
    const key = 'ledger-test-key-0123456789';
    ledger.record(key);
    await leak(ledger, key);
    expect(ledger.leaks().map((l) => l.where)).toEqual([where]);
    expect(JSON.stringify(ledger.leaks())).not.toContain(key);
  });

  it('passes when the product redacts the key it registered', () => {
    const ledger = new SecretLedger();
    const key = 'ledger-registered-key-0123456789';
    ledger.record(key);
    registerSecret(key);
    ledger.logger().info(`calling with ${key}`, { adminKey: key, nested: { value: key } });
    expect(ledger.lines).toHaveLength(1);
    expect(ledger.leaks()).toEqual([]);
  });

  it('records what a key generator makes', () => {
    const ledger = new SecretLedger();
    const material = ledger.keyMaterial({ value: () => 'generated-value-0123', suffix: () => 'abc123' });
    material.value();
    expect([...ledger.keys]).toEqual(['generated-value-0123']);
  });
});
