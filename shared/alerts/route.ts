/**
 * Which rule and which targets an incident maps to. The alert policy's user labels route first
 * (`policy_name` is a display name, not unique): a rule whose `match.userLabels` all hold beats a
 * rule that matches on the policy name alone, and the labels `pool`, `gpu-class` and `model` name
 * the targets (a pool: its node pool, its Triton Deployment and HPA, all named after the pool).
 * The rule's own `target` is used when the labels name none.
 */
import { placementFor } from '../cluster/desired';
import type { AlertRule, Policy } from '../policy';
import { resolveModelPolicy } from '../policy';
import { errorMessage } from '../runtime/errors';
import type { AlertIncident } from './parse';

export const TARGET_LABELS = ['pool', 'gpu-class', 'model'] as const;

export type Route =
  | { ok: true; rule: AlertRule; pools: string[]; via: 'labels' | 'rule' }
  | { ok: false; reason: 'NO_MATCHING_RULE' | 'NO_TARGET'; message: string; rule?: AlertRule };

function labelsHold(rule: AlertRule, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(rule.match.userLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/** The matching rule: label rules first (in file order), then rules on the policy name alone. */
export function matchRule(rules: readonly AlertRule[], incident: AlertIncident): AlertRule | undefined {
  const nameHolds = (r: AlertRule) =>
    r.match.policyName === undefined || r.match.policyName === incident.policyName;
  const byLabels = rules.find(
    (r) => r.match.userLabels !== undefined && labelsHold(r, incident.labels) && nameHolds(r),
  );
  return byLabels ?? rules.find((r) => r.match.userLabels === undefined && nameHolds(r));
}

function poolOfGpuClass(policy: Policy, gpuClass: string): string {
  return placementFor(policy, gpuClass).pool;
}

function poolOfModel(policy: Policy, model: string): string {
  return poolOfGpuClass(policy, resolveModelPolicy(policy, model).gpuClass);
}

export function routeIncident(policy: Policy, incident: AlertIncident): Route {
  const rule = matchRule(policy.alertRules, incident);
  if (!rule) {
    return {
      ok: false,
      reason: 'NO_MATCHING_RULE',
      message: `no alert rule matches policy "${incident.policyName}" with labels ${JSON.stringify(incident.labels)}`,
    };
  }
  const labels = incident.labels;
  try {
    const fromLabels = new Set<string>();
    if (labels.pool) fromLabels.add(labels.pool);
    if (labels['gpu-class']) fromLabels.add(poolOfGpuClass(policy, labels['gpu-class']));
    if (labels.model) fromLabels.add(poolOfModel(policy, labels.model));
    if (fromLabels.size > 0) return { ok: true, rule, pools: [...fromLabels].sort(), via: 'labels' };
    const t = rule.target;
    const fromRule = new Set<string>([
      ...(t?.pools ?? []),
      ...(t?.gpuClasses ?? []).map((c) => poolOfGpuClass(policy, c)),
      ...(t?.models ?? []).map((m) => poolOfModel(policy, m)),
    ]);
    if (fromRule.size > 0) return { ok: true, rule, pools: [...fromRule].sort(), via: 'rule' };
  } catch (err) {
    return { ok: false, reason: 'NO_TARGET', rule, message: `rule ${rule.name}: ${errorMessage(err)}` };
  }
  return {
    ok: false,
    reason: 'NO_TARGET',
    rule,
    message: `rule ${rule.name} matched, but neither the alert policy's labels (${TARGET_LABELS.join(', ')}) nor the rule's target name a pool`,
  };
}
