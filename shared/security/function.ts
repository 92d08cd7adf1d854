/** rotateSecurity as a FunctionDefinition. A refused tick or bundle is logged with every problem. */
import type { FunctionDefinition } from '../runtime/function';
import { FUNCTION_NAME, handleRotateSecurity, type RotateSecurityDeps } from './handler';

export const rotateSecurityFunction: FunctionDefinition<RotateSecurityDeps> = {
  name: FUNCTION_NAME,
  handle: handleRotateSecurity,
  // A bad command or bundle is logged (every problem named) and acknowledged; the security event
  // reports what a tick did, so a refusal publishes nothing.
  rejectionEvent: () => undefined,
};
