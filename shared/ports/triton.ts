/**
 * The Triton port: one Triton server's repository and health API (KServe v2). The adapter
 * (shared/adapters/triton.ts) speaks HTTP to each pod.
 */
import { PermanentError } from '../runtime/errors';
import type { ModelConfig } from '../triton/model-config';

export interface RepositoryIndexEntry {
  name: string;
  version?: string;
  state?: string;
  reason?: string;
}

export interface TritonRepository {
  load(model: string, config?: ModelConfig): Promise<void>;
  unload(model: string, options?: { unloadDependents?: boolean }): Promise<void>;
  isModelReady(model: string, version?: number): Promise<boolean>;
  index(): Promise<RepositoryIndexEntry[]>;
}

export class TritonLoadError extends PermanentError {
  override name = 'TritonLoadError';
}

/** One ready Triton pod of a pool, with a client that sends the pool's admin key. */
export interface TritonPod {
  pod: string;
  triton: TritonRepository;
}
