/**
 * The runtime's delivery rules for input it cannot use, without a server: the CloudEvent entry
 * refuses an event nested deeper than maxEventDepth before anything walks it (the idempotency
 * payload hash and zod both recurse), and the HTTP entry answers 204 with one rejection for an
 * unreadable delivery, 405 for a request that is not a delivery, 500 while it is not configured.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { systemClock } from '../../shared/runtime/clock';
import { ConfigurationError, type PermanentError } from '../../shared/runtime/errors';
import {
  cloudEventHttpEntry,
  type FunctionDefinition,
  type HttpResponseLike,
  type IncomingCloudEvent,
  type RuntimeDeps,
} from '../../shared/runtime/function';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { createMemoryLogger } from '../../shared/runtime/log';

const execFileAsync = promisify(execFile);

function harness() {
  const memory = createMemoryLogger();
  const publisher = new MemoryEventPublisher();
  const handled: IncomingCloudEvent[] = [];
  const deps: RuntimeDeps = {
    log: memory.logger,
    clock: systemClock,
    idempotency: new MemoryIdempotencyStore(),
    publisher,
    projectId: 'p',
    lockMs: 60_000,
    idempotencyTtlSeconds: 3600,
  };
  const def: FunctionDefinition<RuntimeDeps> = {
    name: 'probe',
    async handle(_deps, ctx) {
      handled.push(ctx.event);
      return { status: 'applied', message: 'done' };
    },
    rejectionEvent: (err: PermanentError, ctx) => ({
      specversion: '1.0',
      id: `${ctx.event.id}-rejected`,
      source: ctx.eventSource,
      type: 'probe.rejected',
      time: new Date(0).toISOString(),
      datacontenttype: 'application/json',
      data: { reason: err.reason, message: err.message },
    }),
  };
  return { memory, publisher, handled, deps, def };
}

function response(): HttpResponseLike & { code?: number } {
  const res: HttpResponseLike & { code?: number } = {
    status(code) {
      res.code = code;
      return res;
    },
    send: () => undefined,
  };
  return res;
}

const CE_HEADERS = {
  'ce-id': 'deep',
  'ce-source': 's',
  'ce-specversion': '1.0',
  'ce-type': 't',
  'content-type': 'application/json',
};
const deepJson = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('the CloudEvent entry and the depth limit', () => {
  it('refuses an event nested 100,000 deep as LIMIT_EXCEEDED without running the handler', async () => {
    // Prepare
    const h = harness();
    const res = response();

    // Act: the framework could not have parsed it; the entry reads the raw bytes.
    await cloudEventHttpEntry(h.def, async () => h.deps)(
      { method: 'POST', headers: CE_HEADERS, rawBody: Buffer.from(deepJson(100_000)) },
      res,
    );

    // Assess
    expect(res.code).toBe(204);
    expect(h.handled).toEqual([]);
    expect(h.publisher.events.map((e) => (e.data as { reason: string }).reason)).toEqual(['LIMIT_EXCEEDED']);
    expect(h.memory.entries.filter((e) => e.outcome === 'rejected')).toHaveLength(1);
  });

  it('runs an event at the depth limit', async () => {
    // Prepare: data nested 31 deep, the body within maxEventDepth (32).
    const h = harness();
    const res = response();
    const raw = deepJson(31);

    // Act
    await cloudEventHttpEntry(h.def, async () => h.deps)(
      {
        method: 'POST',
        headers: { ...CE_HEADERS, 'ce-id': 'ok' },
        body: JSON.parse(raw),
        rawBody: Buffer.from(raw),
      },
      res,
    );

    // Assess
    expect(res.code).toBe(204);
    expect(h.handled).toHaveLength(1);
    expect(h.publisher.events).toEqual([]);
  });
});

describe('the HTTP entry', () => {
  it('answers 405 to a request that is not a POST, and logs nothing', async () => {
    // Prepare
    const h = harness();
    const res = response();

    // Act
    await cloudEventHttpEntry(h.def, async () => h.deps)({ method: 'GET', headers: {} }, res);

    // Assess
    expect(res.code).toBe(405);
    expect(h.memory.entries).toEqual([]);
  });

  it('answers 500 while dependencies cannot be built, so the event waits for the fix', async () => {
    // Prepare
    const h = harness();
    const res = response();
    const entry = cloudEventHttpEntry(h.def, async () => {
      throw new ConfigurationError('MISSING_CONFIG', 'INFERPLANE_PROJECT is required');
    });

    // Act
    await entry({ method: 'POST', headers: {}, body: {} }, res);

    // Assess
    expect(res.code).toBe(500);
  });

  it('decodes percent-encoded ce-* headers before the handler sees them', async () => {
    // Prepare
    const h = harness();
    const res = response();
    const headers = {
      'ce-id': 'enc',
      'ce-source': 's',
      'ce-specversion': '1.0',
      'ce-type': 't',
      'ce-subject': 'objects/%F0%9F%99%82%20%25%E2%80%AE',
      'content-type': 'application/json',
    };

    // Act
    await cloudEventHttpEntry(h.def, async () => h.deps)(
      { method: 'POST', headers, body: {}, rawBody: Buffer.from('{}') },
      res,
    );

    // Assess
    expect(res.code).toBe(204);
    expect(h.handled[0]?.subject).toBe('objects/🙂 %\u202e');
  });
});

describe('the HTTP entry calls onEvent (a tick warm-up) with each usable delivery only', () => {
  it.each([
    {
      name: 'a usable delivery',
      headers: { 'ce-id': 'w1', 'ce-source': 's', 'ce-specversion': '1.0', 'ce-type': 't' },
      want: ['w1'],
    },
    { name: 'a delivery without CloudEvent headers', headers: {}, want: [] },
  ])('$name', async ({ headers, want }) => {
    const h = harness();
    const seen: string[] = [];
    await cloudEventHttpEntry(
      h.def,
      async () => h.deps,
      undefined,
      undefined,
      (event) => seen.push(event.id),
    )(
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: {},
        rawBody: Buffer.from('{}'),
      },
      response(),
    );
    expect(seen).toEqual(want);
  });
});

describe('every line a process writes is structured', () => {
  it('console output and raw stderr text become Cloud Logging entries, stacks in stack_trace', async () => {
    // Prepare: a child process that routes its console, then writes the ways libraries do.
    const root = path.resolve(import.meta.dirname, '..', '..');
    const script = [
      "import { routeConsoleToStructuredLogs } from './shared/runtime/log.ts';",
      'routeConsoleToStructuredLogs();',
      "console.error(new Error('boom \\u202e'));",
      "console.warn('careful', { a: 1 });",
      "console.log('plain');",
      "process.stderr.write('Unhandled rejection\\n    at frame (x.js:1:1)\\n');",
      "process.stderr.write(JSON.stringify({ severity: 'INFO', message: 'already JSON' }) + '\\n');",
    ].join('\n');

    // Act
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), '-e', script],
      { cwd: root },
    );

    // Assess
    const lines = `${stdout}${stderr}`.split('\n').filter((l) => l.length > 0);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.map((e) => [e.severity, e.message])).toEqual(
      expect.arrayContaining([
        ['ERROR', 'Error: boom \\u202e'],
        ['WARNING', 'careful { a: 1 }'],
        ['INFO', 'plain'],
        ['ERROR', 'Unhandled rejection'],
        ['INFO', 'already JSON'],
      ]),
    );
    expect(entries).toHaveLength(5);
    const boom = entries.find((e) => e.message === 'Error: boom \\u202e');
    expect(String(boom?.stack_trace)).toMatch(/^Error: boom \\u202e\n\s+at /);
    expect(lines.join('\n')).not.toContain('\u202e');
  });
});
