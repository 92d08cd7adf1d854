import { describe, expect, it } from 'vitest';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { ManualClock } from '../../shared/runtime/clock';
import { PermanentError, RetryableError } from '../../shared/runtime/errors';
import type { OutboundCloudEvent } from '../../shared/runtime/events';
import {
  type FunctionDefinition,
  type IncomingCloudEvent,
  invoke,
  type Outcome,
  once,
  type RuntimeDeps,
} from '../../shared/runtime/function';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { createMemoryLogger } from '../../shared/runtime/log';

function setup(handle: () => Promise<Outcome>) {
  const { logger, entries } = createMemoryLogger();
  const publisher = new MemoryEventPublisher();
  const deps: RuntimeDeps = {
    log: logger,
    clock: new ManualClock(),
    idempotency: new MemoryIdempotencyStore(),
    publisher,
    projectId: 'p',
    lockMs: 60_000,
    idempotencyTtlSeconds: 3600,
  };
  let calls = 0;
  const rejection = (err: PermanentError): OutboundCloudEvent => ({
    specversion: '1.0',
    id: 'r',
    source: 's',
    type: 'dev.inferplane.model.v1.rejected',
    time: '2026-01-01T00:00:00Z',
    data: { reason: err.reason },
  });
  const def: FunctionDefinition<RuntimeDeps> = {
    name: 'fn',
    handle: async () => {
      calls += 1;
      return handle();
    },
    rejectionEvent: rejection,
  };
  return { deps, def, entries, publisher, calls: () => calls };
}

const event: IncomingCloudEvent = { id: 'e1', source: '//src', type: 't', data: { a: 1 } };

describe('invoke: delivery rules every function shares', () => {
  it('does the work once for a duplicate delivery and publishes its events once', async () => {
    // Prepare
    const out: OutboundCloudEvent = {
      specversion: '1.0',
      id: 'x',
      source: 's',
      type: 't',
      time: 't',
      data: {},
    };
    const t = setup(async () => ({ status: 'applied', message: 'done', events: [out] }));

    // Act
    const first = await invoke(t.def, t.deps, event);
    const second = await invoke(t.def, t.deps, event);

    // Assess
    expect(first).toEqual({ status: 'applied', message: 'done' });
    expect(second).toEqual(first);
    expect(t.calls()).toBe(1);
    expect(t.publisher.events).toHaveLength(1);
    expect(t.entries.some((e) => e.outcome === 'duplicate')).toBe(true);
  });

  it('acknowledges a permanent error: logged, rejection published, not rethrown, not redone', async () => {
    // Prepare
    const t = setup(async () => {
      throw new PermanentError('BAD_INPUT', 'bad input');
    });

    // Act
    const first = await invoke(t.def, t.deps, event);
    const again = await invoke(t.def, t.deps, event);

    // Assess
    expect(first).toEqual({ status: 'rejected', reason: 'BAD_INPUT', message: 'bad input' });
    expect(again.status).toBe('rejected');
    expect(t.calls()).toBe(1);
    expect(t.publisher.events.map((e) => e.data)).toEqual([{ reason: 'BAD_INPUT' }]);
    expect(t.entries.find((e) => e.outcome === 'rejected')).toMatchObject({
      severity: 'ERROR',
      reason: 'BAD_INPUT',
    });
  });

  it('rethrows a retryable error so the platform redelivers, and the redelivery runs the work again', async () => {
    // Prepare
    let fail = true;
    const t = setup(async () => {
      if (fail) throw new RetryableError('DOWN', 'backend down');
      return { status: 'applied', message: 'done' };
    });

    // Act
    await expect(invoke(t.def, t.deps, event)).rejects.toThrow('backend down');
    fail = false;
    const redelivered = await invoke(t.def, t.deps, event);

    // Assess
    expect(redelivered.status).toBe('applied');
    expect(t.calls()).toBe(2);
    expect(t.publisher.events).toHaveLength(0);
  });

  it('logs a skip with its reason, one line', async () => {
    const t = setup(async () => ({ status: 'skipped', reason: 'nothing to do' }));
    const outcome = await invoke(t.def, t.deps, event);
    expect(outcome).toEqual({ status: 'skipped', message: 'nothing to do' });
    expect(t.entries.filter((e) => e.outcome === 'skipped')).toEqual([
      expect.objectContaining({ message: 'skipped: nothing to do', reason: 'nothing to do' }),
    ]);
  });

  it('refuses the same event id carrying a different payload, without doing the work', async () => {
    const t = setup(async () => ({ status: 'applied', message: 'done' }));
    await invoke(t.def, t.deps, event);
    const outcome = await invoke(t.def, t.deps, { ...event, data: { a: 2 } });
    expect(outcome).toMatchObject({ status: 'rejected', reason: 'IDEMPOTENCY_PAYLOAD_MISMATCH' });
    expect(t.calls()).toBe(1);
  });

  it('does not loop when the rejection event itself cannot be built', async () => {
    const t = setup(async () => {
      throw new PermanentError('BAD_INPUT', 'bad');
    });
    t.def.rejectionEvent = () => {
      throw new Error('cannot build');
    };
    await expect(invoke(t.def, t.deps, event)).resolves.toMatchObject({ status: 'rejected' });
    expect(t.publisher.events).toHaveLength(0);
  });
});

describe('once: dependencies built once per instance', () => {
  it('memoises success and forgets a failure so the next event tries again', async () => {
    let builds = 0;
    const deps = once(async () => {
      builds += 1;
      if (builds === 1) throw new Error('transient');
      return { built: builds };
    });
    await expect(deps()).rejects.toThrow('transient');
    expect(await deps()).toEqual({ built: 2 });
    expect(await deps()).toEqual({ built: 2 });
    expect(builds).toBe(2);
  });
});
