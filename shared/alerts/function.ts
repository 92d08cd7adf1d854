/** scaleOnAlert as a FunctionDefinition: its handler and the event a refused delivery publishes. */
import { buildOutboundEvent } from '../../events/outbound';
import type { PermanentError } from '../runtime/errors';
import type { OutboundCloudEvent } from '../runtime/events';
import type { FunctionDefinition, InvocationContext } from '../runtime/function';
import { FUNCTION_NAME, handleScaleOnAlert, type ScaleOnAlertDeps } from './handler';

/**
 * Bad payloads are classified and skipped by the handler itself; what still ends here is a refusal
 * met while deciding (an unreadable target record, a plan a runner refused): reported as skipped.
 */
function rejectionEvent(err: PermanentError, ctx: InvocationContext): OutboundCloudEvent {
  return buildOutboundEvent('dev.inferplane.scaling.v1.skipped', {
    source: ctx.eventSource,
    id: `${ctx.event.id}-rejected`,
    data: { trigger: 'other', skipReason: err.reason, message: err.message },
  });
}

export const scaleOnAlertFunction: FunctionDefinition<ScaleOnAlertDeps> = {
  name: FUNCTION_NAME,
  handle: handleScaleOnAlert,
  rejectionEvent,
};
