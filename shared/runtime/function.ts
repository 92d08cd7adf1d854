/**
 * What every deployed function shares: one CloudEvent in, parse -> decide -> apply out, with the
 * delivery rules in one place.
 *
 * - Dependencies are built once per instance and reused while it stays warm; a failed build is
 *   retried on the next event instead of poisoning the instance.
 * - Every delivery runs under the idempotency layer (key: CloudEvent source + id), so at-least-once
 *   delivery does the work once.
 * - A PermanentError (bad input, refused plan) is logged, published as a rejection event and
 *   acknowledged: a poison message never loops. Anything else is rethrown so the platform
 *   redelivers (the trigger has retries on).
 */

import { subscribe } from 'node:diagnostics_channel';
import type { Clock } from './clock';
import {
  cloudEventFromHttp,
  DEFAULT_EVENT_BODY_LIMITS,
  type EventBodyLimits,
  partialEventOf,
} from './cloudevent-http';
import {
  errorMessage,
  isPermanent,
  LimitExceededError,
  limitIssue,
  type PermanentError,
  ValidationError,
} from './errors';
import type { EventPublisher, OutboundCloudEvent } from './events';
import { type IdempotencyStore, idempotencyKeyFromEvent, runIdempotent } from './idempotency';
import { createLogger, type Logger, routeConsoleToStructuredLogs, traceFromTraceparent } from './log';

/** The CloudEvent as the Functions Framework hands it over (binary or structured mode). */
export interface IncomingCloudEvent {
  id: string;
  source: string;
  type: string;
  specversion?: string;
  subject?: string;
  time?: string;
  traceparent?: string;
  data?: unknown;
}

export interface RuntimeDeps {
  log: Logger;
  clock: Clock;
  idempotency: IdempotencyStore;
  publisher: EventPublisher;
  projectId: string;
  /** How long one attempt owns an event before another delivery may take it over. */
  lockMs: number;
  /** How long a finished event is remembered, to answer redeliveries. */
  idempotencyTtlSeconds: number;
}

export interface InvocationContext {
  event: IncomingCloudEvent;
  log: Logger;
  /** `//inferplane.dev/projects/<project>/functions/<name>`: the source of events we emit. */
  eventSource: string;
}

export type Outcome =
  | { status: 'applied'; message: string; events?: OutboundCloudEvent[]; details?: Record<string, unknown> }
  | { status: 'skipped'; reason: string; events?: OutboundCloudEvent[]; details?: Record<string, unknown> };

/** What was recorded for an event: also what a redelivery of it reports. */
export type RecordedOutcome =
  | { status: 'applied' | 'skipped'; message: string; details?: Record<string, unknown> }
  | { status: 'rejected'; reason: string; message: string };

export interface FunctionDefinition<D extends RuntimeDeps> {
  name: string;
  handle(deps: D, ctx: InvocationContext): Promise<Outcome>;
  /** The event that tells the outside world a delivery was refused for good. */
  rejectionEvent(err: PermanentError, ctx: InvocationContext): OutboundCloudEvent | undefined;
}

export function eventSourceFor(projectId: string, functionName: string): string {
  return `//inferplane.dev/projects/${projectId}/functions/${functionName}`;
}

/** Memoises an async factory; a rejected attempt is forgotten so the next call tries again. */
export function once<T>(factory: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      pending = factory().catch((err: unknown) => {
        pending = undefined;
        throw err;
      });
    }
    return pending;
  };
}

export async function invoke<D extends RuntimeDeps>(
  def: FunctionDefinition<D>,
  deps: D,
  event: IncomingCloudEvent,
): Promise<RecordedOutcome> {
  const trace = traceFromTraceparent(event.traceparent, deps.projectId);
  const log = deps.log.child({
    labels: { function: def.name, eventId: event.id },
    fields: {
      eventType: event.type,
      eventSource: event.source,
      ...(event.subject ? { subject: event.subject } : {}),
    },
    ...trace,
  });
  const ctx: InvocationContext = { event, log, eventSource: eventSourceFor(deps.projectId, def.name) };

  const work = async (): Promise<RecordedOutcome> => {
    try {
      const outcome = await def.handle(deps, ctx);
      for (const e of outcome.events ?? []) await deps.publisher.publish(e);
      if (outcome.status === 'applied') {
        log.info(outcome.message, { outcome: 'applied', ...outcome.details });
        return {
          status: 'applied',
          message: outcome.message,
          ...(outcome.details ? { details: outcome.details } : {}),
        };
      }
      log.info(`skipped: ${outcome.reason}`, {
        outcome: 'skipped',
        reason: outcome.reason,
        ...outcome.details,
      });
      return {
        status: 'skipped',
        message: outcome.reason,
        ...(outcome.details ? { details: outcome.details } : {}),
      };
    } catch (err) {
      if (!isPermanent(err)) throw err;
      return reject(def, deps, ctx, err);
    }
  };

  try {
    const { duplicate, result } = await runIdempotent(
      {
        store: deps.idempotency,
        clock: deps.clock,
        key: idempotencyKeyFromEvent(event, def.name),
        payload: { type: event.type, subject: event.subject ?? null, data: event.data ?? null },
        lockMs: deps.lockMs,
        ttlSeconds: deps.idempotencyTtlSeconds,
      },
      work,
    );
    if (duplicate)
      log.info('duplicate delivery: already handled, nothing done', {
        outcome: 'duplicate',
        recorded: result,
      });
    return result;
  } catch (err) {
    if (isPermanent(err)) {
      // Refused by the idempotency layer itself (same key, different payload) or a recorded refusal.
      const details = (err as PermanentError).details;
      if (details?.duplicate === true) {
        log.info('duplicate delivery of a rejected event: nothing done', {
          outcome: 'duplicate',
          reason: err.reason,
        });
        return { status: 'rejected', reason: err.reason, message: err.message };
      }
      return reject(def, deps, ctx, err);
    }
    log.warn(`retryable failure, the platform will redeliver: ${errorMessage(err)}`, {
      outcome: 'retry',
      error: err,
    });
    throw err;
  }
}

async function reject<D extends RuntimeDeps>(
  def: FunctionDefinition<D>,
  deps: D,
  ctx: InvocationContext,
  err: PermanentError,
): Promise<RecordedOutcome> {
  ctx.log.error(`rejected: ${err.message}`, { outcome: 'rejected', reason: err.reason, error: err });
  let rejection: OutboundCloudEvent | undefined;
  try {
    rejection = def.rejectionEvent(err, ctx);
  } catch (buildErr) {
    // A rejection event that cannot be built must not turn a poison message into a retry loop.
    ctx.log.error(`rejection event could not be built: ${errorMessage(buildErr)}`, { error: buildErr });
  }
  if (rejection) await deps.publisher.publish(rejection);
  return { status: 'rejected', reason: err.reason, message: err.message };
}

/**
 * Refuses, for good, a delivery whose CloudEvent could not be read at all (no usable attributes,
 * a body that is not JSON, too large or too deep): one structured log line and the rejection
 * event, under a stand-in identity; nothing is recorded or written.
 */
export async function rejectUnreadable<D extends RuntimeDeps>(
  def: FunctionDefinition<D>,
  deps: D,
  event: IncomingCloudEvent,
  err: PermanentError,
): Promise<RecordedOutcome> {
  const log = deps.log.child({
    labels: { function: def.name, eventId: event.id },
    fields: {
      eventType: event.type,
      eventSource: event.source,
      ...(event.subject ? { subject: event.subject } : {}),
    },
  });
  return reject(def, deps, { event, log, eventSource: eventSourceFor(deps.projectId, def.name) }, err);
}

/** The parts of an Express request the HTTP entry reads (the Functions Framework's request). */
export interface HttpRequestLike {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  /** The body's bytes, which the Functions Framework keeps beside the parsed body. */
  rawBody?: Buffer;
  /** The request's path (a raw Pub/Sub push names its topic there). */
  path?: string;
}

export interface HttpResponseLike {
  status(code: number): HttpResponseLike;
  send(body?: string): unknown;
  headersSent?: boolean;
}

/** Errors a Functions Framework middleware hit on a request before the function ran. */
const bodyErrors = new WeakMap<object, unknown>();

/**
 * The function's entry point for `functions.http(name, ...)`, implementing the CloudEvents HTTP
 * binding itself so that every delivery is answered by us: a usable event runs through `invoke`
 * (204 when handled or refused, 500 when it should be retried); an unusable one (no CloudEvent
 * headers, a broken header, a body that is not JSON, too large or too deep, or a body the
 * framework's parser refused) is acknowledged with 204 as a rejection: one log line and the
 * rejection event, nothing written. Header values are percent-decoded (CloudEvents HTTP binding).
 */
export function cloudEventHttpEntry<D extends RuntimeDeps>(
  def: FunctionDefinition<D>,
  buildDeps: () => Promise<D>,
  refresh: (deps: D) => Promise<D> = async (deps) => deps,
  limits: EventBodyLimits = DEFAULT_EVENT_BODY_LIMITS,
  /** Called with each usable delivery before it runs (a tick's cluster warm-up); must not throw. */
  onEvent: (event: IncomingCloudEvent) => void = () => undefined,
): (req: HttpRequestLike, res: HttpResponseLike) => Promise<void> {
  guardFrameworkBodyErrors();
  routeConsoleToStructuredLogs({ labels: { function: def.name } });
  const deps = once(buildDeps);
  return async (req, res) => {
    // Events are POSTed; anything else (a probe, a browser) is not a delivery and is not logged.
    if (req.method !== undefined && req.method !== 'POST') {
      answer(res, 405, 'CloudEvents are delivered with POST');
      return;
    }
    let current: D;
    try {
      current = await refresh(await deps());
    } catch (err) {
      // Configuration the function cannot run with: answered 500 so events wait for the fix.
      createLogger({ context: { labels: { function: def.name } } }).error(
        `dependencies could not be built; the platform will redeliver: ${errorMessage(err)}`,
        { outcome: 'retry', error: err },
      );
      answer(res, 500, 'not configured');
      return;
    }
    const raw = req.rawBody ?? (Buffer.isBuffer(req.body) ? req.body : undefined);
    let event: IncomingCloudEvent;
    try {
      const failed = bodyErrors.get(req);
      if (failed !== undefined) throw unreadableBody(failed, limits);
      event = cloudEventFromHttp(req.headers, req.body, raw, limits, req.path);
    } catch (err) {
      if (!isPermanent(err)) throw err;
      await rejectUnreadable(def, current, partialEventOf(req.headers, raw), err);
      answer(res, 204);
      return;
    }
    try {
      onEvent(event);
      await invoke(def, current, event);
      answer(res, 204);
    } catch (err) {
      // Logged by invoke as a retryable failure; the platform redelivers.
      answer(res, 500, `retry: ${errorMessage(err).slice(0, 200)}`);
    }
  };
}

function answer(res: HttpResponseLike, status: number, body?: string): void {
  if (res.headersSent) return;
  res.status(status).send(body);
}

/** A body-parser or framework failure as the permanent refusal it is. */
function unreadableBody(err: unknown, limits: EventBodyLimits): PermanentError {
  const e = err as { type?: unknown; status?: unknown; message?: unknown };
  if (e.type === 'entity.too.large') {
    return new LimitExceededError('CloudEvent', [
      limitIssue('(body)', 'maxEventBytes', 'more', limits.maxEventBytes, 'the body (bytes)'),
    ]);
  }
  const kind = typeof e.type === 'string' ? ` (${e.type})` : '';
  return new ValidationError('CloudEvent', [
    { path: '(body)', message: `the body could not be read${kind}: ${errorMessage(err).slice(0, 200)}` },
  ]);
}

let guarded = false;
const seenServers = new WeakSet<object>();

interface ExpressLayer {
  name?: string;
}
interface ExpressAppLike {
  use(fn: (err: unknown, req: object, res: unknown, next: (err?: unknown) => void) => void): unknown;
  router?: { stack?: ExpressLayer[] };
}

/**
 * The Functions Framework parses the body (body-parser) before any function code runs, and answers
 * a body it cannot parse (invalid JSON, an unknown charset or content-encoding) with a 4xx page and
 * a raw stack trace on stderr: Eventarc would redeliver it for a day. So, on the first request a
 * framework server receives (the `http.server.request.start` diagnostics channel runs before the
 * server's request handler), an error handler is put right after its body parsers: it notes the
 * error on the request and lets it reach the function, which acknowledges it as a rejection.
 */
function guardFrameworkBodyErrors(): void {
  if (guarded) return;
  guarded = true;
  subscribe('http.server.request.start', (message) => {
    const server = (message as { server?: { listeners(e: string): unknown[] } }).server;
    if (!server || seenServers.has(server)) return;
    seenServers.add(server);
    const app = server.listeners('request')[0] as ExpressAppLike | undefined;
    if (typeof app?.use !== 'function') return;
    const stack = app.router?.stack;
    if (!Array.isArray(stack)) return;
    const lastParser = stack.map((l) => l.name).lastIndexOf('rawParser');
    if (lastParser < 0) return;
    app.use((err, req, _res, next) => {
      bodyErrors.set(req, err);
      (req as { body?: unknown }).body = undefined;
      next();
    });
    const layer = stack.pop();
    if (layer) stack.splice(lastParser + 1, 0, layer);
  });
}
