/**
 * The persistence port. Adapters implement four small, atomic operations; every policy decision
 * (locks, expiry, takeover, error outcomes) lives in `runIdempotent`.
 */
export type IdempotencyStatus = 'INPROGRESS' | 'COMPLETED';

/** A PermanentError as stored, so a redelivery ends the same way without redoing the work. */
export interface StoredError {
  name: string;
  reason: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface IdempotencyRecord {
  key: string;
  status: IdempotencyStatus;
  payloadHash: string;
  /** An INPROGRESS record whose lock is past is a crashed attempt and may be taken over. */
  lockedUntilEpochMs: number;
  /** Past this, the record counts as absent (stores may also delete it, e.g. a bucket lifecycle rule). */
  expiresAtEpochSec: number;
  /** The work's result (JSON) once COMPLETED successfully. */
  result?: unknown;
  /** Set instead of `result` when the work failed permanently. */
  error?: StoredError;
}

export interface VersionedRecord {
  record: IdempotencyRecord;
  /** Opaque token for conditional writes (the object generation for Cloud Storage). */
  version: string;
}

export type CreateResult = { outcome: 'created'; version: string } | { outcome: 'exists' };
export type UpdateResult = { outcome: 'updated'; version: string } | { outcome: 'conflict' };

export interface IdempotencyStore {
  get(key: string): Promise<VersionedRecord | undefined>;
  /** Atomic create-if-absent. */
  create(record: IdempotencyRecord): Promise<CreateResult>;
  /** Atomic replace-if-version-matches; a missing record is a conflict. */
  update(record: IdempotencyRecord, expectedVersion: string): Promise<UpdateResult>;
  /** Deletes (only at `expectedVersion` when given); absent or changed records are left alone. */
  delete(key: string, expectedVersion?: string): Promise<void>;
}
