/** applySchedules as a FunctionDefinition: a refused tick is logged and acknowledged, no event. */
import type { FunctionDefinition } from '../runtime/function';
import { type ApplySchedulesDeps, FUNCTION_NAME, handleApplySchedules } from './handler';

export const applySchedulesFunction: FunctionDefinition<ApplySchedulesDeps> = {
  name: FUNCTION_NAME,
  handle: handleApplySchedules,
  // A malformed tick is the Scheduler job's configuration: the log line says what to fix.
  rejectionEvent: () => undefined,
};
