export { crossFieldIssues, isValidModelName } from './checks';
export {
  exportPolicyJsonSchema,
  InvalidPolicyError,
  loadPolicy,
  type PolicyIssue,
  resolveModelPolicy,
} from './load';
export {
  type AlertRule,
  BUILTIN_GPU_CLASS_IDS,
  type BuiltinGpuClassId,
  type GpuClassOverride,
  type Guardrails,
  type ModelOverride,
  type ModelPolicy,
  type Policy,
  type PolicyInput,
  policySchema,
  type Schedule,
  type ScheduleTarget,
} from './schema';
export { type DowntimeWindow, parseWindow, tryParseWindow, type WindowParseResult } from './windows';
