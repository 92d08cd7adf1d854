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

import type { Clock } from './clock';
import { errorMessage, isPermanent, type PermanentError } from './errors';
import type { EventPublisher, OutboundCloudEvent } from './events';
import { type IdempotencyStore, idempotencyKeyFromEvent, runIdempotent } from './idempotency';
import { type Logger, traceFromTraceparent } from './log';

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
 * The function's entry point for `functions.cloudEvent(name, ...)`: builds dependencies once per
 * instance, then invokes the definition for each delivery.
 */
export function cloudEventEntry<D extends RuntimeDeps>(
  def: FunctionDefinition<D>,
  buildDeps: () => Promise<D>,
  /** Per-event refresh of what may change while an instance is warm (the policy file). */
  refresh: (deps: D) => Promise<D> = async (deps) => deps,
): (event: IncomingCloudEvent) => Promise<void> {
  const deps = once(buildDeps);
  return async (event) => {
    await invoke(def, await refresh(await deps()), event);
  };
}
