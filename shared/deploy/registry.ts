/**
 * The model registry: one JSON record per model in the state bucket
 * (`registry/models/<model>.json`), updated read-modify-write under a generation precondition so
 * two concurrent uploads never lose each other's update.
 */
import { emptyRecord, type ModelRecord, modelRecordSchema, type RegistryEntry } from '../domain/registry';
import type { ObjectStore } from '../ports/storage';
import { PreconditionFailedError } from '../ports/storage';
import { RetryableError } from '../runtime/errors';

export class ModelRegistry {
  constructor(
    private readonly store: ObjectStore,
    private readonly bucket: string,
    private readonly prefix = '_inferplane/registry/models/',
  ) {}

  objectName(model: string): string {
    return `${this.prefix}${model}.json`;
  }

  /** Where a model's record is stored (the deploy plan writes it as a storage action). */
  objectOf(model: string): { bucket: string; name: string } {
    return { bucket: this.bucket, name: this.objectName(model) };
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
