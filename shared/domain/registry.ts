/**
 * The model registry's record format: one JSON record per model in the state bucket, the control
 * plane's memory of what it published and what serves.
 */
import { z } from 'zod';

export const versionStateSchema = z.enum(['PUBLISHED', 'READY', 'FAILED', 'SUPERSEDED']);
export type VersionState = z.infer<typeof versionStateSchema>;

const checksumSchema = z.object({
  size: z.string(),
  md5Hash: z.string().optional(),
  crc32c: z.string().optional(),
});

export const versionRecordSchema = z.object({
  version: z.number().int().positive(),
  state: versionStateSchema,
  reason: z.string().optional(),
  backend: z.string(),
  gpuClass: z.string(),
  /** The upload that produced this version; generations are int64 decimal strings. */
  source: z.object({ bucket: z.string(), name: z.string(), generation: z.string() }),
  /** Hash of every uploaded object (name and generation) this version was built from. */
  fingerprint: z.string(),
  files: z.record(z.string(), checksumSchema),
  publishedAt: z.string(),
  readyAt: z.string().optional(),
  failedAt: z.string().optional(),
  /**
   * Published while its pool was in a scheduled downtime: no pod could load it, so the deploy
   * ended without waiting. The pool's pods load it when they start (`--load-model=*`) and the
   * first applySchedules tick that sees every ready pod serve it marks it READY.
   */
  deferred: z
    .object({
      pool: z.string(),
      since: z.string(),
      until: z.string().nullable(),
      aliases: z.array(z.string()).default([]),
    })
    .optional(),
});
export type VersionRecord = z.infer<typeof versionRecordSchema>;

export const modelRecordSchema = z.object({
  apiVersion: z.literal('inferplane.dev/registry/v1'),
  model: z.string(),
  /** The version Triton serves, if any. */
  serving: z.number().int().positive().optional(),
  aliases: z.record(z.string(), z.number().int().positive()),
  versions: z.record(z.string(), versionRecordSchema),
  updatedAt: z.string(),
});
export type ModelRecord = z.infer<typeof modelRecordSchema>;

export interface RegistryEntry {
  record: ModelRecord;
  /** Generation of the registry object; '0' when the model has no record yet. */
  generation: string;
}

export function emptyRecord(model: string, nowIso: string): ModelRecord {
  return { apiVersion: 'inferplane.dev/registry/v1', model, aliases: {}, versions: {}, updatedAt: nowIso };
}

export function compareGenerations(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * One object per GPU pool listing the models its Triton serves, so a deploy reads one object, not
 * every model's record. Written with a generation precondition by the deploy that holds the pool's
 * lease, in the same plan as the model's record (the index first: a redelivery after a crash in
 * between finds the record not yet READY and writes both again).
 */
export const poolIndexSchema = z.object({
  apiVersion: z.literal('inferplane.dev/registry-pool/v1'),
  pool: z.string(),
  models: z.record(z.string(), z.object({ version: z.number().int().positive(), gpuClass: z.string() })),
  /**
   * Versions published while the pool was down for a schedule (model -> version): the pool's pods
   * load them when they start, and the tick that sees them served moves them to `models`.
   */
  deferred: z.record(z.string(), z.number().int().positive()).optional(),
  updatedAt: z.string(),
});
export type PoolIndex = z.infer<typeof poolIndexSchema>;

export interface PoolIndexEntry {
  index: PoolIndex;
  generation: string;
}
