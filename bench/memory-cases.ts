/**
 * Memory cases: each runs alone in a child process (memory-child.ts), so its peak RSS is its own.
 * A case gets where the model lives and returns how many bytes it fetched. Add a case here and
 * memory.bench.ts runs it on every model size.
 */
import { localStorageClient } from '../infra/local/storage/client';
import { readOnnxSignature } from '../shared/onnx/reader';
import { gcsByteSource } from '../shared/onnx/source';

export interface MemoryCaseContext {
  /** Local Cloud Storage server URL (for localStorageClient). */
  storageUrl: string;
  bucket: string;
  object: string;
  /** Object size in bytes. */
  size: number;
}

export type MemoryCase = (ctx: MemoryCaseContext) => Promise<{ bytesRead: number }>;

export const memoryCases: Record<string, MemoryCase> = {
  'read signature': async (ctx) => {
    const file = localStorageClient(ctx.storageUrl).bucket(ctx.bucket).file(ctx.object);
    const source = gcsByteSource(file);
    const sig = await readOnnxSignature(source);
    if (sig.inputs.length === 0) throw new Error(`${ctx.object}: no inputs read`);
    return { bytesRead: source.bytesRead };
  },
};
