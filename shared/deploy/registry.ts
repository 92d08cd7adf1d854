/**
 * The model registry: one JSON record per model in the state bucket
 * (`registry/models/<model>.json`), updated read-modify-write under a generation precondition so
 * two concurrent uploads never lose each other's update.
 */
import { z } from 'zod';
import type { ObjectStore } from '../adapters/storage';
import { PreconditionFailedError } from '../adapters/storage';
import { RetryableError } from '../runtime/errors';

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

export class ModelRegistry {
  constructor(
    private readonly store: ObjectStore,
    private readonly bucket: string,
    private readonly prefix = '_inferplane/registry/models/',
  ) {}

  objectName(model: string): string {
    return `${this.prefix}${model}.json`;
  }

  async get(model: string): Promise<RegistryEntry | undefined> {
    const found = await this.store.readText({ bucket: this.bucket, name: this.objectName(model) });
    if (!found) return undefined;
    const record = modelRecordSchema.parse(JSON.parse(found.text));
    return { record, generation: found.info.generation };
  }

  /**
   * Applies `change` to the current record and writes it only if nobody wrote in between; on a
   * lost race it re-reads and applies `change` again. `change` returns undefined to leave the
   * record as it is.
   */
  async update(
    model: string,
    nowIso: string,
    change: (current: ModelRecord) => ModelRecord | undefined,
    maxAttempts = 8,
  ): Promise<ModelRecord> {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const current = await this.get(model);
      const base = current?.record ?? emptyRecord(model, nowIso);
      const next = change(structuredClone(base));
      if (!next) return base;
      next.updatedAt = nowIso;
      try {
        await this.store.writeText(
          { bucket: this.bucket, name: this.objectName(model) },
          `${JSON.stringify(modelRecordSchema.parse(next), null, 2)}\n`,
          { ifGenerationMatch: current?.generation ?? '0', contentType: 'application/json' },
        );
        return next;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
      }
    }
    throw new RetryableError(
      'REGISTRY_CONTENTION',
      `registry record of ${model}: too many concurrent writers`,
    );
  }

  async list(): Promise<ModelRecord[]> {
    const infos = await this.store.list(this.bucket, this.prefix);
    const out: ModelRecord[] = [];
    for (const info of infos) {
      if (!info.name.endsWith('.json')) continue;
      const found = await this.store.readText({ bucket: this.bucket, name: info.name });
      if (found) out.push(modelRecordSchema.parse(JSON.parse(found.text)));
    }
    return out;
  }
}
