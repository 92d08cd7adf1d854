import { type CapacityTotals, type ObservedCapacity, type Plan, totalsAfter } from '../domain/plan';
import { ConfigurationError, PermanentError } from '../runtime/errors';

/** Spend limits from the policy file (shape shared with shared/policy). */
export interface Guardrails {
  maxGpusTotal: number;
  maxGpusPerPool: number;
  maxNodes: number;
  maxDollarsPerHour: number;
}

export type GuardrailName = keyof Guardrails;

export interface GuardrailViolationDetail {
  guardrail: GuardrailName;
  limit: number;
  actual: number;
  /** Set for per-pool limits. */
  pool?: string;
  message: string;
}

export type GuardrailResult =
  | { ok: true; totals: CapacityTotals }
  | { ok: false; totals: CapacityTotals; violations: GuardrailViolationDetail[] };

const GUARDRAIL_NAMES: readonly GuardrailName[] = [
  'maxGpusTotal',
  'maxGpusPerPool',
  'maxNodes',
  'maxDollarsPerHour',
];

/**
 * Checks the WHOLE plan before anything is applied: the capacity the cluster would be allowed to
 * reach once every action has run (pools at their autoscaler maximum) must fit every limit. A plan
 * that lowers an over-limit cluster but leaves it over is refused too, so an accepted plan always
 * ends within limits; deciders should plan all the way down.
 *
 * Non-finite totals (a pool priced NaN, say) count as violations: fail closed.
 */
export function checkGuardrails(
  plan: Plan,
  observed: ObservedCapacity,
  guardrails: Guardrails,
): GuardrailResult {
  validateGuardrails(guardrails);
  const totals = totalsAfter(plan, observed);
  const violations: GuardrailViolationDetail[] = [];
  const over = (actual: number, limit: number) => !Number.isFinite(actual) || actual > limit;

  if (over(totals.gpusTotal, guardrails.maxGpusTotal)) {
    violations.push({
      guardrail: 'maxGpusTotal',
      limit: guardrails.maxGpusTotal,
      actual: totals.gpusTotal,
      message: `maxGpusTotal: plan would allow ${totals.gpusTotal} GPUs, limit ${guardrails.maxGpusTotal}`,
    });
  }
  for (const [pool, t] of Object.entries(totals.pools).sort(([a], [b]) => a.localeCompare(b))) {
    if (over(t.gpus, guardrails.maxGpusPerPool)) {
      violations.push({
        guardrail: 'maxGpusPerPool',
        limit: guardrails.maxGpusPerPool,
        actual: t.gpus,
        pool,
        message: `maxGpusPerPool: plan would allow ${t.gpus} GPUs in pool ${pool}, limit ${guardrails.maxGpusPerPool}`,
      });
    }
  }
  if (over(totals.nodesTotal, guardrails.maxNodes)) {
    violations.push({
      guardrail: 'maxNodes',
      limit: guardrails.maxNodes,
      actual: totals.nodesTotal,
      message: `maxNodes: plan would allow ${totals.nodesTotal} nodes, limit ${guardrails.maxNodes}`,
    });
  }
  if (over(totals.dollarsPerHour, guardrails.maxDollarsPerHour)) {
    violations.push({
      guardrail: 'maxDollarsPerHour',
      limit: guardrails.maxDollarsPerHour,
      actual: totals.dollarsPerHour,
      message:
        `maxDollarsPerHour: plan would allow ${totals.dollarsPerHour.toFixed(2)} USD/h, ` +
        `limit ${guardrails.maxDollarsPerHour.toFixed(2)}`,
    });
  }
  return violations.length === 0 ? { ok: true, totals } : { ok: false, totals, violations };
}

function validateGuardrails(guardrails: Guardrails): void {
  for (const name of GUARDRAIL_NAMES) {
    const limit = guardrails[name];
    // A NaN limit would make every comparison false and let any plan through.
    if (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0) {
      throw new ConfigurationError(
        'INVALID_GUARDRAIL',
        `guardrail ${name} must be a finite number >= 0, got ${limit}`,
        {
          details: { guardrail: name },
        },
      );
    }
  }
}

/** Thrown by appliers when a plan breaks a guardrail: a refused plan is not worth retrying. */
export class GuardrailViolation extends PermanentError {
  override name = 'GuardrailViolation';
  readonly violations: readonly GuardrailViolationDetail[];

  constructor(violations: readonly GuardrailViolationDetail[], planId?: string) {
    super(
      'GUARDRAIL_VIOLATION',
      `plan${planId ? ` ${planId}` : ''} refused: ${violations.map((v) => v.message).join('; ')}`,
      { details: { planId, violations: violations.map((v) => ({ ...v })) } },
    );
    this.violations = violations;
  }
}

/** `checkGuardrails`, throwing `GuardrailViolation` when the plan is refused. */
export function assertGuardrails(
  plan: Plan,
  observed: ObservedCapacity,
  guardrails: Guardrails,
): CapacityTotals {
  const result = checkGuardrails(plan, observed, guardrails);
  if (!result.ok) throw new GuardrailViolation(result.violations, plan.id);
  return result.totals;
}
