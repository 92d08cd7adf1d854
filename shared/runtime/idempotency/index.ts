export { hashPayload, idempotencyKeyFromEvent, idempotencyKeyFromObject, stableStringify } from './keys';
export { MemoryIdempotencyStore } from './memory-store';
export { type IdempotentOutcome, type RunIdempotentOptions, runIdempotent } from './run';
export type {
  CreateResult,
  IdempotencyRecord,
  IdempotencyStatus,
  IdempotencyStore,
  StoredError,
  UpdateResult,
  VersionedRecord,
} from './store';
