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
  return { apiVersion: 'inferplane.dev/registry-pool/v1', pool, models, updatedAt: nowIso };
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
  if (entry && entry.version === version && entry.gpuClass === gpuClass) return undefined;
  return { ...current, models: { ...current.models, [model]: { version, gpuClass } }, updatedAt: nowIso };
}

export function poolIndexText(index: PoolIndex): string {
  return `${JSON.stringify(poolIndexSchema.parse(index), null, 2)}\n`;
}
