/**
 * At-least-once delivery made safe: all idempotency policy lives here (after aws-powertools'
 * BasePersistenceLayer); stores only create, update and delete records atomically.
 */
import type { Clock } from '../clock';
import { type ControlPlaneError, PermanentError, RetryableError } from '../errors';
import { hashPayload } from './keys';
import type { IdempotencyRecord, IdempotencyStore, StoredError, VersionedRecord } from './store';

export interface RunIdempotentOptions {
  store: IdempotencyStore;
  clock: Clock;
  key: string;
  /** What the key stands for; a redelivery with a different payload under the same key is refused. */
  payload: unknown;
  /**
   * How long an attempt owns the record without renewing it. A live attempt renews it every
   * `renewEveryMs` (a heartbeat), so the lock may be much shorter than the work: a crashed
   * attempt, or one whose release failed, blocks redeliveries for at most `lockMs`.
   */
  lockMs: number;
  /** Heartbeat period (default lockMs / 3, so two beats may fail before the lock lapses). */
  renewEveryMs?: number;
  /** How long a COMPLETED record answers duplicates. */
  ttlSeconds: number;
}

export interface IdempotentOutcome<T> {
  /** True when the work had already been done and `result` is the stored one. */
  duplicate: boolean;
  result: T;
}

/**
 * Contention is resolved by re-reading; a few rounds cover the real races (a record deleted or taken
 * over between our create and get). Beyond that, let the platform redeliver.
 */
const MAX_ROUNDS = 4;

/** Attempts to release a failed attempt's record before leaving it to lapse. */
const RELEASE_ATTEMPTS = 3;

/**
 * Runs `work` at most once per key (while the COMPLETED record lives).
 * - first delivery: creates an INPROGRESS record, runs the work, stores COMPLETED with the result;
 * - duplicate of a COMPLETED key: returns the stored result (`duplicate: true`) without running;
 *   a stored permanent failure is thrown again as a PermanentError with `details.duplicate = true`;
 * - duplicate while another attempt holds the lock: RetryableError `IN_PROGRESS`;
 * - INPROGRESS with an expired lock (a crashed attempt): taken over by a conditional update;
 * - same key, different payload: PermanentError `IDEMPOTENCY_PAYLOAD_MISMATCH`.
 * `work` must return JSON-serialisable data. A PermanentError from it is recorded (a redelivery
 * must not redo refused work); any other error releases the record so the redelivery runs again.
 * While `work` runs, the lock is renewed every `renewEveryMs`. A release that fails (the store is
 * failing too) is retried a few times; if it still fails, the lock lapses within `lockMs` since
 * the last beat, and the next delivery takes the record over.
 */
export async function runIdempotent<T>(
  options: RunIdempotentOptions,
  work: () => Promise<T>,
): Promise<IdempotentOutcome<T>> {
  const { store, clock, key, lockMs, ttlSeconds } = options;
  if (!(lockMs > 0) || !(ttlSeconds > 0)) {
    throw new RangeError(
      `runIdempotent: lockMs and ttlSeconds must be positive (got ${lockMs}, ${ttlSeconds})`,
    );
  }
  const payloadHash = hashPayload(options.payload);

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const nowMs = clock.nowMs();
    const inProgress: IdempotencyRecord = {
      key,
      status: 'INPROGRESS',
      payloadHash,
      lockedUntilEpochMs: nowMs + lockMs,
      expiresAtEpochSec: Math.floor(nowMs / 1000) + ttlSeconds,
    };

    const created = await store.create(inProgress);
    if (created.outcome === 'created') {
      return { duplicate: false, result: await execute(options, created.version, work) };
    }

    const existing = await store.get(key);
    if (!existing) continue; // deleted since our create: try to create again

    const { record, version } = existing;
    if (record.expiresAtEpochSec * 1000 > nowMs) {
      if (record.payloadHash !== payloadHash) {
        throw new PermanentError(
          'IDEMPOTENCY_PAYLOAD_MISMATCH',
          `Idempotency key ${key} was first used with a different payload`,
          { details: { idempotencyKey: key, storedPayloadHash: record.payloadHash, payloadHash } },
        );
      }
      if (record.status === 'COMPLETED') return replay<T>(existing);
      if (record.lockedUntilEpochMs > nowMs) {
        throw new RetryableError('IN_PROGRESS', `Another attempt is processing idempotency key ${key}`, {
          details: { idempotencyKey: key, lockedUntilEpochMs: record.lockedUntilEpochMs },
        });
      }
    }

    // Expired record, or a crashed attempt's lock: take it over. The conditional update on the
    // version means only one of several concurrent takers wins; the others re-read and see its lock.
    const taken = await store.update(inProgress, version);
    if (taken.outcome === 'updated') {
      return { duplicate: false, result: await execute(options, taken.version, work) };
    }
  }
  throw new RetryableError('IDEMPOTENCY_CONTENTION', `Could not acquire idempotency key ${key}`, {
    details: { idempotencyKey: key },
  });
}

async function execute<T>(
  options: RunIdempotentOptions,
  initialVersion: string,
  work: () => Promise<T>,
): Promise<T> {
  const heartbeat = startHeartbeat(options, initialVersion);
  let result: T;
  try {
    result = await work();
  } catch (err) {
    const version = await heartbeat.stop();
    if (err instanceof PermanentError) {
      await complete(options, version, { error: storedError(err) });
      throw err;
    }
    // Releasing lets the redelivery run at once. If every try fails, the lock lapses (no beat
    // renews it any more), so the original error (the one that decides delivery) is rethrown.
    for (let attempt = 0; attempt < RELEASE_ATTEMPTS; attempt++) {
      try {
        await options.store.delete(options.key, version);
        break;
      } catch {
        // the store is failing too: try again, then leave the lock to lapse
      }
    }
    throw err;
  }
  await complete(options, await heartbeat.stop(), { result });
  return result;
}

/**
 * Renews an INPROGRESS record's lock while its attempt runs, on a timer that does not keep the
 * process alive. A renewal that conflicts means another attempt took the record over (our lock had
 * lapsed): the beat stops, and our final write conflicts too, which `complete` tolerates.
 */
function startHeartbeat(options: RunIdempotentOptions, initialVersion: string) {
  const everyMs = options.renewEveryMs ?? Math.max(1, Math.floor(options.lockMs / 3));
  let version = initialVersion;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let beating: Promise<void> | undefined;
  const payloadHash = hashPayload(options.payload);
  const beat = async () => {
    const nowMs = options.clock.nowMs();
    const renewed = await options.store.update(
      {
        key: options.key,
        status: 'INPROGRESS',
        payloadHash,
        lockedUntilEpochMs: nowMs + options.lockMs,
        expiresAtEpochSec: Math.floor(nowMs / 1000) + options.ttlSeconds,
      },
      version,
    );
    if (renewed.outcome === 'updated') version = renewed.version;
    else stopped = true;
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      beating = beat()
        .catch(() => undefined) // unavailable: the next beat tries again before the lock lapses
        .finally(() => {
          beating = undefined;
          schedule();
        });
    }, everyMs);
    timer.unref?.();
  };
  schedule();
  return {
    /** Stops beating; the version last written, for the final write. */
    async stop(): Promise<string> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await beating;
      return version;
    },
  };
}

/**
 * Writes COMPLETED over our own INPROGRESS version. A conflict means our lock expired and another
 * attempt took over: the work is done either way and that attempt writes its own record, so the
 * conflict is not an error.
 */
async function complete(
  options: RunIdempotentOptions,
  version: string,
  outcome: { result?: unknown; error?: StoredError },
): Promise<void> {
  const nowMs = options.clock.nowMs();
  const record: IdempotencyRecord = {
    key: options.key,
    status: 'COMPLETED',
    payloadHash: hashPayload(options.payload),
    lockedUntilEpochMs: nowMs,
    expiresAtEpochSec: Math.floor(nowMs / 1000) + options.ttlSeconds,
    ...outcome,
  };
  await options.store.update(record, version);
}

function replay<T>({ record }: VersionedRecord): IdempotentOutcome<T> {
  if (record.error) {
    throw new PermanentError(record.error.reason, record.error.message, {
      details: { ...record.error.details, idempotencyKey: record.key, duplicate: true },
    });
  }
  return { duplicate: true, result: record.result as T };
}

function storedError(err: ControlPlaneError): StoredError {
  const stored: StoredError = { name: err.name, reason: err.reason, message: err.message };
  if (err.details) {
    try {
      stored.details = JSON.parse(JSON.stringify(err.details)) as Record<string, unknown>;
    } catch {
      // Details that are not JSON (cycles, bigint) are dropped; reason and message still replay.
    }
  }
  return stored;
}
