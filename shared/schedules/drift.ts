/**
 * Serving drift (pure): each ready Triton pod of a pool should serve the version the registry says
 * the pool serves. A pod restarted on a stale repository, or a load that failed on one replica,
 * does not; in explicit model-control mode nothing else repairs it, so the tick plans a load of the
 * registry's version on that pod (Triton reads the repository's config).
 */

import { deferredVersionOf } from '../deploy/records';
import { type LoadModelAction, modelOnPodTarget } from '../domain/plan';
import type { ModelRecord } from '../domain/registry';
import type { RepositoryIndexEntry } from '../ports/triton';

export interface ServedModel {
  model: string;
  version: number;
  readinessTimeoutSeconds: number;
}

export interface PodIndex {
  pod: string;
  index: readonly RepositoryIndexEntry[];
}

export interface DriftFinding {
  pool: string;
  pod: string;
  model: string;
  expected: number;
  /** What the pod reports for the model: `READY v2`, `UNAVAILABLE v3`, `absent`. */
  found: string;
}

/** The models the registry says `pool` serves (or will, for a deferred version), given each record's pool. */
export function servedOn(
  pool: string,
  records: readonly ModelRecord[],
  poolOf: (model: string) => string | undefined,
  readinessTimeoutSeconds: (model: string) => number,
): ServedModel[] {
  // A version published during the pool's downtime is what its pods should serve once restored.
  return records
    .filter((r) => poolOf(r.model) === pool)
    .flatMap((r) => {
      const version = deferredVersionOf(r, pool)?.version ?? r.serving;
      if (version === undefined) return [];
      return [{ model: r.model, version, readinessTimeoutSeconds: readinessTimeoutSeconds(r.model) }];
    })
    .sort((a, b) => (a.model < b.model ? -1 : 1));
}

function describe(entries: readonly RepositoryIndexEntry[]): string {
  if (entries.length === 0) return 'absent';
  return entries.map((e) => `${e.state ?? 'UNKNOWN'}${e.version ? ` v${e.version}` : ''}`).join(', ');
}

export function planDrift(
  pool: string,
  served: readonly ServedModel[],
  pods: readonly PodIndex[],
): { findings: DriftFinding[]; actions: LoadModelAction[] } {
  const findings: DriftFinding[] = [];
  const actions: LoadModelAction[] = [];
  for (const p of pods) {
    for (const m of served) {
      const entries = p.index.filter((e) => e.name === m.model);
      const ok = entries.some((e) => e.version === String(m.version) && e.state === 'READY');
      if (ok) continue;
      const found = describe(entries);
      findings.push({ pool, pod: p.pod, model: m.model, expected: m.version, found });
      const first = entries[0];
      actions.push({
        kind: 'loadModel',
        target: modelOnPodTarget(p.pod, m.model),
        costDeltaPerHour: 0,
        reason: `serving drift: ${p.pod} has ${m.model} ${found}, the registry says version ${m.version}`,
        before: first
          ? { state: first.state ?? null, ...(first.version ? { version: first.version } : {}) }
          : null,
        after: {
          pool,
          pod: p.pod,
          model: m.model,
          version: m.version,
          readinessTimeoutSeconds: m.readinessTimeoutSeconds,
        },
      });
    }
  }
  return { findings, actions };
}

/**
 * The deferred deploys `pool` has completed: versions published during its downtime that every
 * ready pod now serves (its pods loaded them when they started). None while the pool has no pod.
 */
export function deferredServed(
  pool: string,
  records: readonly ModelRecord[],
  pods: readonly PodIndex[],
): Array<{ model: string; version: number }> {
  if (pods.length === 0) return [];
  const out: Array<{ model: string; version: number }> = [];
  for (const r of records) {
    const v = deferredVersionOf(r, pool);
    if (!v) continue;
    const everywhere = pods.every((p) =>
      p.index.some((e) => e.name === r.model && e.version === String(v.version) && e.state === 'READY'),
    );
    if (everywhere) out.push({ model: r.model, version: v.version });
  }
  return out.sort((a, b) => (a.model < b.model ? -1 : 1));
}
