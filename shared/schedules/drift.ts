/**
 * Serving drift (pure): each ready Triton pod of a pool should serve the version the registry says
 * the pool serves. A pod restarted on a stale repository, or a load that failed on one replica,
 * does not; in explicit model-control mode nothing else repairs it, so the tick plans a load of the
 * registry's version on that pod (Triton reads the repository's config).
 */
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

/** The models the registry says `pool` serves, given each record's pool. */
export function servedOn(
  pool: string,
  records: readonly ModelRecord[],
  poolOf: (model: string) => string | undefined,
  readinessTimeoutSeconds: (model: string) => number,
): ServedModel[] {
  return records
    .filter((r) => r.serving !== undefined && poolOf(r.model) === pool)
    .map((r) => ({
      model: r.model,
      version: r.serving as number,
      readinessTimeoutSeconds: readinessTimeoutSeconds(r.model),
    }))
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
