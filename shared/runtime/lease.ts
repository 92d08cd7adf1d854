/**
 * Leases: mutual exclusion that holds across function instances, for work that must not run twice
 * at once (one model's deploy, one pool's serving stack). A lease is one small record in a store
 * with atomic create-if-absent, replace-if-version and delete-if-version (an object in the state
 * bucket with generation preconditions: `shared/adapters/lease-gcs.ts`; in memory for unit tests).
 *
 * - `acquire` creates the record (`ifGenerationMatch=0`) holding the holder's id and an expiry.
 *   A live record held by another holder: `LeaseHeldError` (retryable: the platform redelivers,
 *   the loser is not rejected). An expired one (a crashed holder) is taken over with a conditional
 *   replace on the version read, so of several takers exactly one wins.
 * - While held, the lease renews itself every `renewEveryMs` (a heartbeat, on a real timer that
 *   does not keep the process alive), moving the expiry to now + `ttlMs`. A renewal refused by the
 *   precondition means someone took the lease over: it is `lost`, and `assertHeld` throws
 *   `LeaseLostError` (retryable). A renewal that fails otherwise (store unavailable) is tried again
 *   on the next beat; the lease stays valid until its expiry.
 * - `release` stops the heartbeat and deletes the record conditionally on the version last
 *   written: a lease taken over since is left to its new holder. A release that fails leaves the
 *   record to expire (after at most `ttlMs`).
 *
 * Expiry is compared on each instance's own clock: clocks must agree to well within `ttlMs`.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from './clock';
import { errorMessage, RetryableError } from './errors';

export interface LeaseRecord {
  /** The lease's name, e.g. `deploy/model/resnet50`. */
  name: string;
  /** Who holds it: an instance id and what it is doing (the event id). */
  holder: string;
  acquiredAtEpochMs: number;
  /** Past this instant the lease is free: a holder that stopped renewing is taken over. */
  expiresAtEpochMs: number;
}

export interface VersionedLease {
  record: LeaseRecord;
  /** Opaque token for the conditional writes (the object generation in Cloud Storage). */
  version: string;
}

/** The persistence port: four atomic operations; every policy decision lives in `Leases`. */
export interface LeaseStore {
  read(name: string): Promise<VersionedLease | undefined>;
  /** Atomic create-if-absent. */
  create(record: LeaseRecord): Promise<{ outcome: 'created'; version: string } | { outcome: 'exists' }>;
  /** Atomic replace-if-version-matches; a missing record is a conflict. */
  replace(
    record: LeaseRecord,
    expectedVersion: string,
  ): Promise<{ outcome: 'replaced'; version: string } | { outcome: 'conflict' }>;
  /** Deletes only at `expectedVersion`; an absent or changed record is left alone. */
  delete(name: string, expectedVersion: string): Promise<void>;
}

/** Another holder has the lease: retry later (the platform redelivers the event). */
export class LeaseHeldError extends RetryableError {
  override name = 'LeaseHeldError';
}

/** The lease expired and was taken over while this holder worked: stop, the event is retried. */
export class LeaseLostError extends RetryableError {
  override name = 'LeaseLostError';
}

export interface Lease {
  readonly name: string;
  readonly holder: string;
  /** True once a renewal found the lease taken over. */
  readonly lost: boolean;
  /** Expiry as last written by this holder. */
  readonly expiresAtEpochMs: number;
  /** @throws LeaseLostError when the lease was taken over, or its expiry has passed unrenewed. */
  assertHeld(): void;
  /** Renews now (the heartbeat does this on its own). @throws LeaseLostError when taken over. */
  renew(): Promise<void>;
  /** Stops renewing and deletes the record if it is still ours. Never throws. */
  release(): Promise<void>;
}

export interface LeasesOptions {
  store: LeaseStore;
  clock: Clock;
  /** Lease duration without renewal; a crashed holder's lease is free after this long. */
  ttlMs?: number;
  /** Heartbeat period (default ttlMs / 3, so two beats may fail before the lease expires). */
  renewEveryMs?: number;
  /** This instance's id (default: random); `acquire`'s `purpose` is appended to it. */
  instanceId?: string;
}

export const DEFAULT_LEASE_TTL_MS = 60_000;

/** Rounds of read-then-take: a record deleted or taken between our create and read is re-read. */
const MAX_ROUNDS = 4;

export class Leases {
  readonly #store: LeaseStore;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #renewEveryMs: number;
  readonly instanceId: string;

  constructor(options: LeasesOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    this.#renewEveryMs = options.renewEveryMs ?? Math.max(1, Math.floor(this.#ttlMs / 3));
    if (!(this.#ttlMs > 0) || !(this.#renewEveryMs > 0) || this.#renewEveryMs >= this.#ttlMs) {
      throw new RangeError(
        `Leases: need 0 < renewEveryMs < ttlMs (got ${this.#renewEveryMs}, ${this.#ttlMs})`,
      );
    }
    this.instanceId = options.instanceId ?? randomBytes(6).toString('hex');
  }

  /**
   * Takes the lease `name` for `purpose` (e.g. the event id).
   * @throws LeaseHeldError while another holder has it.
   */
  async acquire(name: string, purpose = ''): Promise<Lease> {
    const holder = purpose ? `${this.instanceId}/${purpose}` : this.instanceId;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const now = this.#clock.nowMs();
      const record: LeaseRecord = {
        name,
        holder,
        acquiredAtEpochMs: now,
        expiresAtEpochMs: now + this.#ttlMs,
      };
      const created = await this.#store.create(record);
      if (created.outcome === 'created') return this.#held(record, created.version);
      const existing = await this.#store.read(name);
      if (!existing) continue; // released since our create: create again
      // Our own create, answered as a conflict after a retried request whose first try landed.
      if (existing.record.holder === holder && existing.record.acquiredAtEpochMs === now)
        return this.#held(existing.record, existing.version);
      if (existing.record.expiresAtEpochMs > now) {
        throw new LeaseHeldError(
          'LEASE_HELD',
          `${name} is held by ${existing.record.holder} until ${new Date(existing.record.expiresAtEpochMs).toISOString()}`,
          {
            details: {
              lease: name,
              holder: existing.record.holder,
              expiresAtEpochMs: existing.record.expiresAtEpochMs,
            },
          },
        );
      }
      // Expired: the holder crashed or stalled. Only one of several takers wins the replace.
      const taken = await this.#store.replace(record, existing.version);
      if (taken.outcome === 'replaced') return this.#held(record, taken.version);
    }
    throw new LeaseHeldError('LEASE_CONTENTION', `${name}: could not take the lease (contention)`, {
      details: { lease: name },
    });
  }

  /** Runs `work` holding the lease, then releases it (also when `work` throws). */
  async withLease<T>(name: string, purpose: string, work: (lease: Lease) => Promise<T>): Promise<T> {
    const lease = await this.acquire(name, purpose);
    try {
      return await work(lease);
    } finally {
      await lease.release();
    }
  }

  #held(initial: LeaseRecord, initialVersion: string): Lease {
    const store = this.#store;
    const clock = this.#clock;
    const ttlMs = this.#ttlMs;
    let record = initial;
    let version = initialVersion;
    let lost = false;
    let released = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let renewing: Promise<void> | undefined;

    const lostError = (why: string) =>
      new LeaseLostError('LEASE_LOST', `lease ${record.name} of ${record.holder} was lost: ${why}`, {
        details: { lease: record.name, holder: record.holder },
      });

    const renewOnce = async (): Promise<void> => {
      if (lost || released) return;
      const now = clock.nowMs();
      const next: LeaseRecord = { ...record, expiresAtEpochMs: now + ttlMs };
      const result = await store.replace(next, version);
      if (released) {
        // Released while the renewal was in flight: delete what the renewal wrote, if it did.
        if (result.outcome === 'replaced')
          await store.delete(record.name, result.version).catch(() => undefined);
        return;
      }
      if (result.outcome === 'conflict') {
        lost = true;
        throw lostError('taken over by another holder');
      }
      record = next;
      version = result.version;
    };

    const schedule = () => {
      if (lost || released) return;
      timer = setTimeout(() => {
        renewing = renewOnce()
          .catch(() => undefined) // lost is recorded; an unavailable store is tried on the next beat
          .finally(() => {
            renewing = undefined;
            schedule();
          });
      }, this.#renewEveryMs);
      timer.unref?.();
    };
    schedule();

    return {
      name: record.name,
      holder: record.holder,
      get lost() {
        return lost;
      },
      get expiresAtEpochMs() {
        return record.expiresAtEpochMs;
      },
      assertHeld() {
        if (lost) throw lostError('taken over by another holder');
        if (clock.nowMs() >= record.expiresAtEpochMs) throw lostError('expired before it was renewed');
      },
      async renew() {
        await renewing;
        try {
          await renewOnce();
        } catch (err) {
          if (err instanceof LeaseLostError) throw err;
          throw new RetryableError('LEASE_RENEW_FAILED', `lease ${record.name}: ${errorMessage(err)}`, {
            cause: err,
          });
        }
      },
      async release() {
        if (released) return;
        released = true;
        if (timer) clearTimeout(timer);
        await renewing;
        if (lost) return;
        await store.delete(record.name, version).catch(() => undefined);
      },
    };
  }
}

/** In-process lease store for tests and the sandbox; records are kept as JSON, as a real store. */
export class MemoryLeaseStore implements LeaseStore {
  readonly #records = new Map<string, { json: string; version: number }>();
  #next = 1;

  async read(name: string): Promise<VersionedLease | undefined> {
    await Promise.resolve();
    const entry = this.#records.get(name);
    return entry
      ? { record: JSON.parse(entry.json) as LeaseRecord, version: String(entry.version) }
      : undefined;
  }

  async create(record: LeaseRecord) {
    await Promise.resolve();
    if (this.#records.has(record.name)) return { outcome: 'exists' as const };
    const version = this.#next++;
    this.#records.set(record.name, { json: JSON.stringify(record), version });
    return { outcome: 'created' as const, version: String(version) };
  }

  async replace(record: LeaseRecord, expectedVersion: string) {
    await Promise.resolve();
    const entry = this.#records.get(record.name);
    if (!entry || String(entry.version) !== expectedVersion) return { outcome: 'conflict' as const };
    const version = this.#next++;
    this.#records.set(record.name, { json: JSON.stringify(record), version });
    return { outcome: 'replaced' as const, version: String(version) };
  }

  async delete(name: string, expectedVersion: string): Promise<void> {
    await Promise.resolve();
    const entry = this.#records.get(name);
    if (entry && String(entry.version) === expectedVersion) this.#records.delete(name);
  }

  /** Names of the leases held, for tests. */
  names(): string[] {
    return [...this.#records.keys()];
  }
}
