/** deployModel as a FunctionDefinition: its handler and the rejection event it publishes. */
import { buildOutboundEvent } from '../../events/outbound';
import { type PermanentError, ValidationError } from '../runtime/errors';
import type { OutboundCloudEvent } from '../runtime/events';
import type { FunctionDefinition, InvocationContext } from '../runtime/function';
import { type DeployModelDeps, FUNCTION_NAME, handleDeployModel } from './handler';

function rejectionEvent(err: PermanentError, ctx: InvocationContext): OutboundCloudEvent {
  const data = (ctx.event.data ?? {}) as { bucket?: unknown; name?: unknown; generation?: unknown };
  const sourceObject =
    typeof data.bucket === 'string' && typeof data.name === 'string' && data.generation !== undefined
      ? { bucket: data.bucket, name: data.name, generation: String(data.generation) }
      : undefined;
  const model = typeof data.name === 'string' ? data.name.split('/')[0] : undefined;
  const issues =
    err instanceof ValidationError ? err.issues.map((i) => ({ path: i.path, message: i.message })) : [];
  return buildOutboundEvent('dev.inferplane.model.v1.rejected', {
    source: ctx.eventSource,
    id: `${ctx.event.id}-rejected`,
    ...(ctx.event.subject ? { subject: ctx.event.subject } : {}),
    data: {
      reason: err.reason,
      message: err.message,
      issues,
      ...(model ? { model } : {}),
      ...(sourceObject ? { sourceObject } : {}),
    },
  });
}

export const deployModelFunction: FunctionDefinition<DeployModelDeps> = {
  name: FUNCTION_NAME,
  handle: handleDeployModel,
  rejectionEvent,
};
