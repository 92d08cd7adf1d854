/**
 * The model registry: one JSON record per model in the state bucket
 * (`_inferplane/registry/models/<model>.json`) and one index per GPU pool
 * (`_inferplane/registry/pools/<pool>.json`, the models the pool serves). Deploys write both as
 * plan actions conditional on the generations read here; this class only reads.
 */
import {
  type ModelRecord,
  modelRecordSchema,
  type PoolIndexEntry,
  poolIndexSchema,
  type RegistryEntry,
} from '../domain/registry';
import type { ObjectStore } from '../ports/storage';

/** Records read at once by `list` (a full scan is rare: a pool whose index does not exist yet). */
export const LIST_CONCURRENCY = 16;

export class ModelRegistry {
  constructor(
    private readonly store: ObjectStore,
    private readonly bucket: string,
    private readonly prefix = '_inferplane/registry/models/',
    private readonly poolPrefix = '_inferplane/registry/pools/',
  ) {}

  objectName(model: string): string {
    return `${this.prefix}${model}.json`;
  }

  /** Where a model's record is stored (the deploy plan writes it as a storage action). */
  objectOf(model: string): { bucket: string; name: string } {
    return { bucket: this.bucket, name: this.objectName(model) };
  }

  /** Where a pool's index is stored (written by the deploy plan, like the records). */
  poolIndexOf(pool: string): { bucket: string; name: string } {
    return { bucket: this.bucket, name: `${this.poolPrefix}${pool}.json` };
  }

  async get(model: string): Promise<RegistryEntry | undefined> {
    const found = await this.store.readText({ bucket: this.bucket, name: this.objectName(model) });
    if (!found) return undefined;
    const record = modelRecordSchema.parse(JSON.parse(found.text));
    return { record, generation: found.info.generation };
  }

  /** The pool's index; undefined when no deploy wrote it yet. */
  async getPoolIndex(pool: string): Promise<PoolIndexEntry | undefined> {
    const found = await this.store.readText(this.poolIndexOf(pool));
    if (!found) return undefined;
    return { index: poolIndexSchema.parse(JSON.parse(found.text)), generation: found.info.generation };
  }

  /** Every pool's index, read `LIST_CONCURRENCY` at a time: one object per pool, whatever the models. */
  async listPoolIndexes(): Promise<PoolIndexEntry[]> {
    const infos = (await this.store.list(this.bucket, this.poolPrefix)).filter((i) =>
      i.name.endsWith('.json'),
    );
    const out: Array<PoolIndexEntry | undefined> = new Array(infos.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < infos.length; i = next++) {
        const info = infos[i];
        if (!info) continue;
        const found = await this.store.readText({ bucket: this.bucket, name: info.name });
        if (found)
          out[i] = {
            index: poolIndexSchema.parse(JSON.parse(found.text)),
            generation: found.info.generation,
          };
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, infos.length) }, worker));
    return out.filter((e): e is PoolIndexEntry => e !== undefined);
  }

  /** Every model record, read `LIST_CONCURRENCY` at a time. */
  async list(): Promise<ModelRecord[]> {
    const infos = (await this.store.list(this.bucket, this.prefix)).filter((i) => i.name.endsWith('.json'));
    const out: Array<ModelRecord | undefined> = new Array(infos.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < infos.length; i = next++) {
        const info = infos[i];
        if (!info) continue;
        const found = await this.store.readText({ bucket: this.bucket, name: info.name });
        if (found) out[i] = modelRecordSchema.parse(JSON.parse(found.text));
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, infos.length) }, worker));
    return out.filter((r): r is ModelRecord => r !== undefined);
  }
}
