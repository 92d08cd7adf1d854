/**
 * How a deploy changes a model's registry record, pure: the handler plans the record's write as a
 * storage action conditional on the generation it read, so two writers never lose an update.
 */
import {
  emptyRecord,
  type ModelRecord,
  modelRecordSchema,
  type PoolIndex,
  poolIndexSchema,
  type VersionRecord,
} from '../domain/registry';

export interface VersionFacts {
  model: string;
  version: number;
  backend: string;
  gpuClass: string;
  source: { bucket: string; name: string; generation: string };
  fingerprint: string;
  files: VersionRecord['files'];
}

function withVersion(current: ModelRecord | undefined, facts: VersionFacts, nowIso: string): ModelRecord {
  const record = structuredClone(current ?? emptyRecord(facts.model, nowIso));
  const previous = record.versions[String(facts.version)];
  record.versions[String(facts.version)] = {
    version: facts.version,
    state: 'PUBLISHED',
    backend: facts.backend,
    gpuClass: facts.gpuClass,
    source: facts.source,
    fingerprint: facts.fingerprint,
    files: facts.files,
    publishedAt: previous?.fingerprint === facts.fingerprint ? previous.publishedAt : nowIso,
  };
  record.updatedAt = nowIso;
  return record;
}

/** The record once `facts.version` serves: the version READY, the one before SUPERSEDED, aliases moved. */
export function recordServing(
  current: ModelRecord | undefined,
  facts: VersionFacts,
  aliases: readonly string[],
  nowIso: string,
): ModelRecord {
  const record = withVersion(current, facts, nowIso);
  const v = record.versions[String(facts.version)] as VersionRecord;
  v.state = 'READY';
  v.readyAt = nowIso;
  const previous = record.serving;
  if (previous !== undefined && previous !== facts.version) {
    const old = record.versions[String(previous)];
    if (old) old.state = 'SUPERSEDED';
  }
  record.serving = facts.version;
  for (const alias of aliases) record.aliases[alias] = facts.version;
  return record;
}

/** Why a deploy ended without a load: its pool is in a scheduled downtime until `until`. */
export interface Deferral {
  pool: string;
  until: string | null;
}

/**
 * The record of a version published while its pool is down for a schedule: PUBLISHED, and marked
 * deferred so the tick that finds the pool serving it completes the deploy (`recordDeferredServes`).
 * What served before still does, as far as the registry is concerned. A version already marked
 * keeps the time it was first deferred.
 */
export function recordDeferred(
  current: ModelRecord | undefined,
  facts: VersionFacts,
  aliases: readonly string[],
  deferral: Deferral,
  nowIso: string,
): ModelRecord {
  const since = current?.versions[String(facts.version)]?.deferred?.since ?? nowIso;
  const record = withVersion(current, facts, nowIso);
  const v = record.versions[String(facts.version)] as VersionRecord;
  v.deferred = { pool: deferral.pool, since, until: deferral.until, aliases: [...aliases] };
  return record;
}

/** The deferred version of `record` on `pool`, the newest if several were published. */
export function deferredVersionOf(record: ModelRecord, pool: string): VersionRecord | undefined {
  let found: VersionRecord | undefined;
  for (const v of Object.values(record.versions)) {
    if (v.state !== 'PUBLISHED' || v.deferred?.pool !== pool) continue;
    if (record.serving !== undefined && v.version < record.serving) continue;
    if (!found || v.version > found.version) found = v;
  }
  return found;
}

/**
 * The record once a deferred version serves (every ready pod of its pool loaded it): READY, the
 * one before SUPERSEDED, the deploy's aliases moved. Undefined when `version` is not deferred.
 */
export function recordDeferredServes(
  current: ModelRecord,
  version: number,
  nowIso: string,
): ModelRecord | undefined {
  const found = current.versions[String(version)];
  if (!found?.deferred || found.state !== 'PUBLISHED') return undefined;
  const record = structuredClone(current);
  const v = record.versions[String(version)] as VersionRecord;
  const aliases = v.deferred?.aliases ?? [];
  delete v.deferred;
  v.state = 'READY';
  v.readyAt = nowIso;
  const previous = record.serving;
  if (previous !== undefined && previous !== version) {
    const old = record.versions[String(previous)];
    if (old) old.state = 'SUPERSEDED';
  }
  record.serving = version;
  for (const alias of aliases) record.aliases[alias] = version;
  record.updatedAt = nowIso;
  return record;
}

/** The record once `facts.version` failed to load: it says why; what served before still serves. */
export function recordFailed(
  current: ModelRecord | undefined,
  facts: VersionFacts,
  reason: string,
  nowIso: string,
): ModelRecord {
  const record = withVersion(current, facts, nowIso);
  const v = record.versions[String(facts.version)] as VersionRecord;
  v.state = 'FAILED';
  v.reason = reason;
  v.failedAt = nowIso;
  return record;
}

/** The stored form of a record (validated: a bug never writes a record the registry cannot read). */
export function recordText(record: ModelRecord): string {
  return `${JSON.stringify(modelRecordSchema.parse(record), null, 2)}\n`;
}

/** A pool's index built from model records (a pool whose index was never written). */
export function poolIndexFromRecords(
  pool: string,
  gpuClass: string,
  records: readonly ModelRecord[],
  nowIso: string,
): PoolIndex {
  const models: PoolIndex['models'] = {};
  for (const r of records) {
    if (r.serving === undefined) continue;
    if (r.versions[String(r.serving)]?.gpuClass !== gpuClass) continue;
    models[r.model] = { version: r.serving, gpuClass };
  }
  const deferred: Record<string, number> = {};
  for (const r of records) {
    const v = deferredVersionOf(r, pool);
    if (v && v.gpuClass === gpuClass) deferred[r.model] = v.version;
  }
  return {
    apiVersion: 'inferplane.dev/registry-pool/v1',
    pool,
    models,
    ...(Object.keys(deferred).length > 0 ? { deferred } : {}),
    updatedAt: nowIso,
  };
}

/** The index once `model` serves `version` on the pool; undefined when it already says so. */
export function indexServing(
  current: PoolIndex,
  model: string,
  version: number,
  gpuClass: string,
  nowIso: string,
): PoolIndex | undefined {
  const entry = current.models[model];
  const deferred = current.deferred?.[model];
  const stillDeferred = deferred !== undefined && deferred > version;
  if (
    entry &&
    entry.version === version &&
    entry.gpuClass === gpuClass &&
    (deferred === undefined || stillDeferred)
  )
    return undefined;
  const rest = { ...(current.deferred ?? {}) };
  if (!stillDeferred) delete rest[model];
  const { deferred: _, ...base } = current;
  return {
    ...base,
    models: { ...current.models, [model]: { version, gpuClass } },
    ...(Object.keys(rest).length > 0 ? { deferred: rest } : {}),
    updatedAt: nowIso,
  };
}

/** The index once `model` `version` waits for the pool's restore; undefined when it already says so. */
export function indexDeferred(
  current: PoolIndex,
  model: string,
  version: number,
  nowIso: string,
): PoolIndex | undefined {
  if (current.deferred?.[model] === version) return undefined;
  return { ...current, deferred: { ...(current.deferred ?? {}), [model]: version }, updatedAt: nowIso };
}

export function poolIndexText(index: PoolIndex): string {
  return `${JSON.stringify(poolIndexSchema.parse(index), null, 2)}\n`;
}
