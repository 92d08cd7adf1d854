/**
 * Makes desired Kubernetes objects so, with server-side apply, idempotently.
 *
 * One field manager (`inferplane`) and `force: true`. The control plane owns these objects: they
 * are rebuilt from the policy on every run, so a human `kubectl edit` of a field we set is
 * reverted on the next apply (and a conflicting manager never blocks a reconcile with 409). Fields
 * we do not set (e.g. `spec.replicas` of a Deployment, left to the HPA) stay with whoever owns
 * them. The trade-off: a GitOps tool (Argo CD, Flux) managing the same fields would fight us
 * silently, each re-applying its own value; such fields must have one owner, so the objects built
 * here are meant to be managed by inferplane only.
 *
 * Before writing, the live object is read and the write is skipped when every field we set already
 * has the desired value (desired is a subset of live), so a no-op reconcile makes no API write and
 * bumps no resourceVersion. A field we set earlier and no longer set (read from our entry in
 * `metadata.managedFields`) also counts as a change, so that the apply releases it.
 *
 * Failure policy, per object: 409 (stale or conflict) re-reads and retries a few times; 429
 * waits for Retry-After; 5xx and connection errors back off with jitter up to a bound, then
 * RetryableError (the event is redelivered); other 4xx are PermanentError naming the object.
 * `applyAll` dry-runs the whole set before writing anything (see there).
 */

import {
  applyAction,
  applyObjectPrecondition,
  describeObject,
  FIELD_MANAGER,
  objectChanges,
  refOf,
  resolveSecretValues,
  type SecretValues,
  sortForApply,
} from '../cluster/objects';
import {
  type ApplyObjectAction,
  type DeleteObjectAction,
  type KubernetesObject,
  objectTarget,
} from '../domain/plan';
import { KubeApiError, KubeConnectionError, type KubeObjects, type LiveObject } from '../ports/kubernetes';
import { type Backoff, jitteredDelayMs } from '../runtime/backoff';
import { type Clock, systemClock } from '../runtime/clock';
import { ControlPlaneError, errorMessage, PermanentError, RetryableError } from '../runtime/errors';
import type { Logger } from '../runtime/log';
import type { ActionRunner, Precondition, RunState } from './executor';

// ---------------------------------------------------------------------------------------------
// Retry classification (pure)

export type KubeErrorClass =
  | { kind: 'conflict' }
  | { kind: 'throttled'; retryAfterMs: number | undefined }
  | { kind: 'transient' }
  | { kind: 'permanent' };

/** `Retry-After` as delay-seconds or an HTTP-date, in ms from `nowMs`; undefined when unusable. */
export function parseRetryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * How a failed call is handled. 401 counts as transient: with short-lived Google tokens the next
 * attempt carries a fresh one. Errors that are neither API answers nor connection failures (a bug)
 * are left to the runtime, which treats them as retryable.
 */
export function classifyKubeError(err: unknown, nowMs = 0): KubeErrorClass | undefined {
  if (err instanceof KubeConnectionError) return { kind: 'transient' };
  if (!(err instanceof KubeApiError)) return undefined;
  if (err.code === 409) return { kind: 'conflict' };
  if (err.code === 429) return { kind: 'throttled', retryAfterMs: parseRetryAfterMs(err.retryAfter, nowMs) };
  if (err.code >= 500 || err.code === 401 || err.code === 408) return { kind: 'transient' };
  return { kind: 'permanent' };
}

const PERMANENT_REASONS: Record<number, string> = {
  400: 'KUBE_BAD_REQUEST',
  403: 'KUBE_FORBIDDEN',
  404: 'KUBE_NOT_FOUND',
  405: 'KUBE_METHOD_NOT_ALLOWED',
  410: 'KUBE_GONE',
  415: 'KUBE_UNSUPPORTED_MEDIA_TYPE',
  422: 'KUBE_INVALID',
};

/** `apps/v1 Deployment triton/triton-l4: 422 Invalid: <message> (causes: field: message; ...)` */
export function permanentKubeError(obj: KubernetesObject, err: KubeApiError, phase: string): PermanentError {
  const causes = err.causes
    .map((c) => (c.field ? `${c.field}: ${c.message ?? c.reason ?? ''}` : (c.message ?? c.reason ?? '')))
    .filter((c) => c !== '');
  const causeText =
    causes.length > 0 && !causes.every((c) => err.apiMessage.includes(c))
      ? ` (causes: ${causes.join('; ')})`
      : '';
  return new PermanentError(
    PERMANENT_REASONS[err.code] ?? 'KUBE_REJECTED',
    `${describeObject(obj)}: ${err.code} ${err.statusReason || 'Error'}: ${err.apiMessage}${causeText}`,
    {
      cause: err,
      details: {
        object: refOf(obj),
        phase,
        code: err.code,
        statusReason: err.statusReason,
        causes: err.causes.map((c) => ({ ...c })),
      },
    },
  );
}

export interface KubeRetryPolicy {
  /** Attempts per call for 5xx, connection errors and 429 (the first call included). */
  maxAttempts: number;
  /** Attempts per object when the apiserver answers 409. */
  conflictAttempts: number;
  backoff: Backoff;
  /** Longest Retry-After honoured; a longer one gives up at once (the event is redelivered later). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: KubeRetryPolicy = {
  maxAttempts: 5,
  conflictAttempts: 4,
  backoff: { initialMs: 500, factor: 2, maxMs: 8_000 },
  maxRetryAfterMs: 30_000,
};

// ---------------------------------------------------------------------------------------------
// Applier

export type ApplyResult = 'unchanged' | 'created' | 'updated';

export interface AppliedObject {
  /** The desired object. */
  object: KubernetesObject;
  target: string;
  result: ApplyResult;
  /** The plan action for a change (also returned by a dry run: what would change). */
  action?: ApplyObjectAction;
  /**
   * What the apiserver stored, or would store under dry-run. Absent for a dry-run object whose
   * namespace is itself still to be created (the apiserver cannot validate it before that).
   */
  live?: LiveObject;
}

export interface ApplyAllOptions {
  /** Send every write with `dryRun=All`: the apiserver validates, nothing is stored. */
  dryRun?: boolean;
}

export interface KubeApplierOptions {
  objects: KubeObjects;
  clock?: Clock;
  logger?: Logger;
  retry?: Partial<KubeRetryPolicy>;
  /** [0, 1) source for jitter; tests pass a fixed one. */
  random?: () => number;
}

interface Pending {
  object: KubernetesObject;
  /** Field manager of the write; default FIELD_MANAGER. */
  manager?: string;
  before: LiveObject | undefined;
  fields: string[];
}

export class KubeApplier {
  readonly #objects: KubeObjects;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #retry: KubeRetryPolicy;
  readonly #random: () => number;

  constructor(options: KubeApplierOptions) {
    this.#objects = options.objects;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#random = options.random ?? Math.random;
  }

  /**
   * Applies `objects` in dependency order. Three steps:
   * 1. read every live object; those whose fields all match are 'unchanged' (logged, not written);
   * 2. dry-run every remaining object (`dryRun=All`), so that a 422 on the fifth object stops the
   *    run before the first write and the cluster is left as it was. New Namespaces are created
   *    for real before this step (a dry run of an object in a namespace that does not exist yet
   *    answers 404); so a rejected set may leave an empty, new namespace behind, nothing else;
   * 3. apply the changed objects for real, in order. A failure here (apiserver down mid-way) stops
   *    at that object: objects before it are applied, objects after it are not; re-running the
   *    same set completes it, as every step is idempotent.
   * With `dryRun`, step 3 is skipped, namespaces are not created, and the dry-run results are
   * returned: what would change.
   */
  async applyAll(
    objects: readonly KubernetesObject[],
    options: ApplyAllOptions = {},
  ): Promise<AppliedObject[]> {
    const dryRun = options.dryRun ?? false;
    const ordered = sortForApply(objects);
    const results = new Map<KubernetesObject, AppliedObject>();
    const pending: Pending[] = [];

    for (const object of ordered) {
      const before = await this.#read(object);
      const fields = before ? objectChanges(object, before) : [];
      if (before && fields.length === 0) {
        this.#logger?.info('kubernetes object unchanged, no write', {
          target: objectTarget(object),
          object: describeObject(object),
          reason: 'every field inferplane sets already has the desired value',
          resourceVersion: before.metadata.resourceVersion,
          dryRun,
        });
        results.set(object, { object, target: objectTarget(object), result: 'unchanged', live: before });
      } else {
        pending.push({ object, before, fields });
      }
    }

    // Step 2 prerequisite: namespaces first, for real unless this whole run is a dry run.
    const newNamespaces = new Set<string>();
    for (const p of pending.filter((x) => x.object.kind === 'Namespace')) {
      if (!p.before) newNamespaces.add(p.object.metadata.name);
      results.set(p.object, await this.#applyOne(p, dryRun));
    }
    const rest = pending.filter((x) => x.object.kind !== 'Namespace');

    // Step 2: validate the whole set server-side before writing any of it.
    const validated = new Map<KubernetesObject, LiveObject>();
    for (const p of rest) {
      const ns = p.object.metadata.namespace;
      if (dryRun && ns && newNamespaces.has(ns)) continue;
      validated.set(p.object, await this.#call(p.object, 'dry-run', () => this.#apply(p.object, true)));
    }

    for (const p of rest) {
      if (dryRun) {
        const live = validated.get(p.object);
        results.set(p.object, this.#result(p, live, true));
      } else {
        results.set(p.object, await this.#applyOne(p, false));
      }
    }
    return ordered.map((o) => results.get(o)!);
  }

  /** Where live state stands against one planned action (see `applyObjectPrecondition`). */
  async check(action: ApplyObjectAction | DeleteObjectAction, secrets: SecretValues): Promise<Precondition> {
    if (action.kind === 'deleteObject') {
      const live = await this.#read(action.before);
      return live ? { state: 'ready' } : { state: 'done', reason: 'already gone' };
    }
    const desired = this.#desired(action, secrets);
    return applyObjectPrecondition(action, desired, await this.#read(desired));
  }

  /**
   * Server-side dry run (`dryRun=All`) of every applyObject action, before the plan's first write:
   * a 422 on the fifth object stops the plan with nothing changed. Objects in a namespace the same
   * plan creates cannot be dry-run yet (the apiserver answers 404) and are left to the apply.
   */
  async validate(
    actions: readonly (ApplyObjectAction | DeleteObjectAction)[],
    secrets: SecretValues,
  ): Promise<void> {
    const newNamespaces = new Set(
      actions.flatMap((a) =>
        a.kind === 'applyObject' && a.after.kind === 'Namespace' && a.before === null
          ? [a.after.metadata.name]
          : [],
      ),
    );
    for (const action of actions) {
      if (action.kind !== 'applyObject' || action.after.kind === 'Namespace') continue;
      const ns = action.after.metadata.namespace;
      if (ns && newNamespaces.has(ns)) continue;
      const desired = this.#desired(action, secrets);
      await this.#call(desired, 'dry-run', () => this.#apply(desired, true, action.fieldManager));
    }
  }

  /** Runs one planned action: server-side apply of its `after` (409s re-read and retried), or a delete. */
  async run(action: ApplyObjectAction | DeleteObjectAction, secrets: SecretValues): Promise<void> {
    if (action.kind === 'deleteObject') {
      await this.#call(action.before, 'delete', () => this.#objects.delete(refOf(action.before)));
      this.#logger?.info('kubernetes object deleted', { target: action.target });
      return;
    }
    const object = this.#desired(action, secrets);
    const before = await this.#read(object);
    const manager = action.fieldManager ?? FIELD_MANAGER;
    await this.#applyOne(
      { object, before, fields: before ? objectChanges(object, before, manager) : [], manager },
      false,
    );
  }

  #desired(action: ApplyObjectAction, secrets: SecretValues): KubernetesObject {
    try {
      return resolveSecretValues(action.after, secrets);
    } catch (err) {
      throw new PermanentError(
        'SECRET_VALUE_MISSING',
        `${action.target}: the plan was made without this Secret's value, so it cannot be applied here (${errorMessage(err)})`,
      );
    }
  }

  async #applyOne(p: Pending, dryRun: boolean): Promise<AppliedObject> {
    let attempt = 0;
    let current = p;
    for (;;) {
      try {
        const live = await this.#call(current.object, dryRun ? 'dry-run' : 'apply', () =>
          this.#apply(current.object, dryRun, current.manager),
        );
        return this.#result(current, live, dryRun);
      } catch (err) {
        if (!(err instanceof ApplyConflict)) throw err;
        attempt += 1;
        if (attempt >= this.#retry.conflictAttempts) {
          throw new RetryableError(
            'KUBE_CONFLICT',
            `${describeObject(current.object)}: still conflicting after ${attempt} attempts: ${errorMessage(err.cause)}`,
            { cause: err.cause, details: { object: refOf(current.object) } },
          );
        }
        await this.#clock.sleep(jitteredDelayMs(this.#retry.backoff, attempt - 1, this.#random));
        // Re-read: the object changed under us; it may now need no write at all.
        const before = await this.#read(current.object);
        const fields = before ? objectChanges(current.object, before, current.manager ?? FIELD_MANAGER) : [];
        if (before && fields.length === 0) {
          return {
            object: current.object,
            target: objectTarget(current.object),
            result: 'unchanged',
            live: before,
          };
        }
        current = { ...current, before, fields };
      }
    }
  }

  #result(p: Pending, live: LiveObject | undefined, dryRun: boolean): AppliedObject {
    const target = objectTarget(p.object);
    const result: ApplyResult = p.before ? 'updated' : 'created';
    const action = applyAction(p.object, p.before, p.fields);
    this.#logger?.info(dryRun ? 'kubernetes object would change (dry run)' : 'kubernetes object applied', {
      target,
      object: describeObject(p.object),
      result,
      fields: p.fields,
      resourceVersion: live?.metadata.resourceVersion,
      dryRun,
    });
    return { object: p.object, target, result, action, ...(live ? { live } : {}) };
  }

  #apply(object: KubernetesObject, dryRun: boolean, manager = FIELD_MANAGER): Promise<LiveObject> {
    // force: the control plane owns these objects (see the file comment for why and the trade-off).
    return this.#objects.apply(object, { fieldManager: manager, force: true, dryRun });
  }

  #read(object: KubernetesObject): Promise<LiveObject | undefined> {
    return this.#call(object, 'read', () => this.#objects.get(refOf(object)));
  }

  /**
   * One call with retries for throttling and transient failures. A 409 is surfaced as
   * ApplyConflict for the caller to re-read; permanent failures become PermanentError.
   */
  async #call<T>(object: KubernetesObject, phase: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const cls = classifyKubeError(err, this.#clock.nowMs());
        if (!cls) throw err;
        if (cls.kind === 'permanent' && err instanceof KubeApiError)
          throw permanentKubeError(object, err, phase);
        if (cls.kind === 'conflict') {
          if (phase === 'apply') throw new ApplyConflict(err);
          // A dry run or a read never conflicts on our side; retry as transient.
        }
        let delayMs = jitteredDelayMs(this.#retry.backoff, attempt - 1, this.#random);
        if (cls.kind === 'throttled' && cls.retryAfterMs !== undefined) {
          if (cls.retryAfterMs > this.#retry.maxRetryAfterMs) throw this.#giveUp(object, phase, attempt, err);
          delayMs = cls.retryAfterMs;
        }
        if (attempt >= this.#retry.maxAttempts) throw this.#giveUp(object, phase, attempt, err);
        this.#logger?.warn('kubernetes call failed, retrying', {
          target: objectTarget(object),
          phase,
          attempt,
          delayMs,
          error: errorMessage(err),
        });
        await this.#clock.sleep(delayMs);
      }
    }
  }

  #giveUp(object: KubernetesObject, phase: string, attempts: number, err: unknown): RetryableError {
    return new RetryableError(
      err instanceof KubeApiError && err.code === 429 ? 'KUBE_THROTTLED' : 'KUBE_UNAVAILABLE',
      `${describeObject(object)}: ${phase} failed after ${attempts} attempt(s): ${errorMessage(err)}`,
      {
        cause: err,
        details: {
          object: refOf(object),
          phase,
          attempts,
          ...(err instanceof KubeApiError ? { code: err.code } : {}),
        },
      },
    );
  }
}

/** Internal signal: the apiserver answered 409 to an apply; the caller re-reads and retries. */
class ApplyConflict extends ControlPlaneError {
  constructor(cause: unknown) {
    super('KUBE_CONFLICT', errorMessage(cause), { cause });
  }
}

/** The executor's runner for Kubernetes objects. */
export class KubeRunner implements ActionRunner<ApplyObjectAction | DeleteObjectAction> {
  readonly kinds = ['applyObject', 'deleteObject'] as const;
  constructor(private readonly applier: KubeApplier) {}
  check(action: ApplyObjectAction | DeleteObjectAction, run: RunState): Promise<Precondition> {
    return this.applier.check(action, run.secrets);
  }
  validate(actions: readonly (ApplyObjectAction | DeleteObjectAction)[], run: RunState): Promise<void> {
    return this.applier.validate(actions, run.secrets);
  }
  apply(action: ApplyObjectAction | DeleteObjectAction, run: RunState): Promise<void> {
    return this.applier.run(action, run.secrets);
  }
}
