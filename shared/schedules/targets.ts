/**
 * Which pools a schedule names (pure). A pool is one target: its Triton Deployment, HPA and GPU
 * node pool share its name. `models` are found on the pool the registry says serves them (the
 * policy's GPU class for a model not served yet); `all` is every Triton pool of the namespace.
 */
import { placementFor } from '../cluster/desired';
import type { ModelRecord } from '../domain/registry';
import { resolveModelPolicy } from '../policy/load';
import type { Policy, Schedule } from '../policy/schema';

export interface TargetUniverse {
  /** Pools with a Triton Deployment now (for `all`). */
  pools: readonly string[];
  /** Pool of each model, from the registry. */
  modelPools: ReadonlyMap<string, string>;
}

/** The pool of each model the registry entries name. */
export function modelPoolsFrom(entries: readonly { model: string; pool: string }[]): Map<string, string> {
  return new Map(entries.map((e) => [e.model, e.pool]));
}

/** The pool each served model is on, from registry records (the serving version's GPU class). */
export function modelPoolsOf(policy: Policy, records: readonly ModelRecord[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of records) {
    // A model not served yet but deferred by a downtime (published, loads at restore) counts too.
    const version =
      (r.serving === undefined ? undefined : r.versions[String(r.serving)]) ??
      Object.values(r.versions).find((v) => v.state === 'PUBLISHED' && v.deferred !== undefined);
    if (!version) continue;
    try {
      out.set(r.model, placementFor(policy, version.gpuClass).pool);
    } catch {
      // A GPU class the policy no longer knows: the model cannot be placed, so not targeted.
    }
  }
  return out;
}

export function poolOfModel(policy: Policy, universe: TargetUniverse, model: string): string | undefined {
  const found = universe.modelPools.get(model);
  if (found) return found;
  try {
    return placementFor(policy, resolveModelPolicy(policy, model).gpuClass).pool;
  } catch {
    return undefined;
  }
}

export function scheduleTargets(policy: Policy, universe: TargetUniverse, schedule: Schedule): string[] {
  const t = schedule.target;
  let pools: string[];
  if (t.all) pools = [...universe.pools];
  else if (t.pools) pools = [...t.pools];
  else pools = (t.models ?? []).flatMap((m) => poolOfModel(policy, universe, m) ?? []);
  return [...new Set(pools)].sort();
}

/** Every targeted pool, with the schedules naming it (policy order). */
export function targetsBySchedule(
  policy: Policy,
  universe: TargetUniverse,
  schedules: readonly Schedule[] = policy.schedules,
): Map<string, Schedule[]> {
  const out = new Map<string, Schedule[]>();
  for (const s of schedules) {
    for (const pool of scheduleTargets(policy, universe, s)) out.set(pool, [...(out.get(pool) ?? []), s]);
  }
  return out;
}
