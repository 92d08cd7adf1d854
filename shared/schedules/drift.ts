/**
 * Serving drift (pure): each ready Triton pod of a pool should serve the version the registry says
 * the pool serves. A pod restarted on a stale repository, or a load that failed on one replica,
 * does not; in explicit model-control mode nothing else repairs it, so the tick plans a load of the
 * registry's version on that pod (Triton reads the repository's config).
 */

import { deferredVersionOf } from '../deploy/records';
import { type LoadModelAction, modelOnPodTarget } from '../domain/plan';
import type { ModelRecord, PoolIndex } from '../domain/registry';
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

/**
 * What the registry says about one model, as the tick needs it: the pool it is on, the version
 * that serves, and a version published during the pool's downtime that waits for its restore.
 * Built from the pools' indexes (one read per pool), or from the records for a pool without one.
 */
export interface ServingEntry {
  model: string;
  pool: string;
  serving?: number;
  deferred?: number;
}

/** The entries of the pools' indexes. */
export function servingFromIndexes(indexes: readonly PoolIndex[]): ServingEntry[] {
  const out: ServingEntry[] = [];
  for (const index of indexes) {
    const models = new Set([...Object.keys(index.models), ...Object.keys(index.deferred ?? {})]);
    for (const model of models) {
      const serving = index.models[model]?.version;
      const deferred = index.deferred?.[model];
      out.push({
        model,
        pool: index.pool,
        ...(serving === undefined ? {} : { serving }),
        ...(deferred === undefined ? {} : { deferred }),
      });
    }
  }
  return out;
}

/** The entries of model records, each on the pool `poolOf` names (pools whose index was never written). */
export function servingFromRecords(
  records: readonly ModelRecord[],
  poolOf: (model: string) => string | undefined,
): ServingEntry[] {
  return records.flatMap((r) => {
    const pool = poolOf(r.model);
    if (pool === undefined) return [];
    const deferred = deferredVersionOf(r, pool)?.version;
    if (r.serving === undefined && deferred === undefined) return [];
    return [
      {
        model: r.model,
        pool,
        ...(r.serving === undefined ? {} : { serving: r.serving }),
        ...(deferred === undefined ? {} : { deferred }),
      },
    ];
  });
}

/** The models `pool` serves (or will, for a deferred version: what its pods load once restored). */
export function servedOn(
  pool: string,
  entries: readonly ServingEntry[],
  readinessTimeoutSeconds: (model: string) => number,
): ServedModel[] {
  return entries
    .filter((e) => e.pool === pool)
    .flatMap((e) => {
      const version = e.deferred ?? e.serving;
      if (version === undefined) return [];
      return [{ model: e.model, version, readinessTimeoutSeconds: readinessTimeoutSeconds(e.model) }];
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
  entries: readonly ServingEntry[],
  pods: readonly PodIndex[],
): Array<{ model: string; version: number }> {
  if (pods.length === 0) return [];
  const out: Array<{ model: string; version: number }> = [];
  for (const e of entries) {
    const version = e.deferred;
    if (e.pool !== pool || version === undefined) continue;
    const everywhere = pods.every((p) =>
      p.index.some((x) => x.name === e.model && x.version === String(version) && x.state === 'READY'),
    );
    if (everywhere) out.push({ model: e.model, version });
  }
  return out.sort((a, b) => (a.model < b.model ? -1 : 1));
}
