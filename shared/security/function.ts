/** rotateSecurity as a FunctionDefinition: its handler and the event a refused delivery publishes. */
import { buildOutboundEvent } from '../../events/outbound';
import { type PermanentError, ValidationError } from '../runtime/errors';
import type { OutboundCloudEvent } from '../runtime/events';
import type { FunctionDefinition, InvocationContext } from '../runtime/function';
import { InvalidBundleError } from './bundle';
import { FUNCTION_NAME, handleRotateSecurity, type RotateSecurityDeps } from './handler';

/**
 * A bad bundle or command is acknowledged with every problem named, in the log and in
 * `security.v1.rejected`, so whoever uploaded the bundle learns why nothing changed.
 */
function rejectionEvent(err: PermanentError, ctx: InvocationContext): OutboundCloudEvent {
  const data = (ctx.event.data ?? {}) as { bucket?: unknown; name?: unknown; generation?: unknown };
  const sourceObject =
    typeof data.bucket === 'string' && typeof data.name === 'string' && data.generation !== undefined
      ? { bucket: data.bucket, name: data.name, generation: String(data.generation) }
      : undefined;
  const issues =
    err instanceof InvalidBundleError
      ? err.issues.map((i) => ({
          path: i.path,
          message: i.line ? `${i.message} (line ${i.line})` : i.message,
        }))
      : err instanceof ValidationError
        ? err.issues.map((i) => ({ path: i.path, message: i.message }))
        : [];
  return buildOutboundEvent('dev.inferplane.security.v1.rejected', {
    source: ctx.eventSource,
    id: `${ctx.event.id}-rejected`,
    ...(ctx.event.subject ? { subject: ctx.event.subject } : {}),
    data: { reason: err.reason, message: err.message, issues, ...(sourceObject ? { sourceObject } : {}) },
  });
}

export const rotateSecurityFunction: FunctionDefinition<RotateSecurityDeps> = {
  name: FUNCTION_NAME,
  handle: handleRotateSecurity,
  rejectionEvent,
};
