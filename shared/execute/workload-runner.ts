/**
 * The executor's runner for `scaleWorkload`: a Deployment's `spec.replicas` through the scale
 * subresource, conditional on the resourceVersion read just before, so a concurrent change (an
 * HPA acting, another instance, a human) makes the executor re-plan instead of being overwritten.
 */
import type { ScaleWorkloadAction } from '../domain/plan';
import {
  KubeApiError,
  KubeConnectionError,
  type KubeObjects,
  type ObjectRef,
  type WorkloadScale,
} from '../ports/kubernetes';
import { errorMessage, PermanentError, RetryableError } from '../runtime/errors';
import type { Logger } from '../runtime/log';
import { type ActionRunner, type Precondition, StaleStateError } from './executor';

/** `Deployment/<namespace>/<name>` (see `objectTarget`) as an object reference. */
export function workloadRefOf(target: string): ObjectRef {
  const [kind, namespace, name, ...rest] = target.split('/');
  if (kind !== 'Deployment' || !namespace || !name || rest.length > 0) {
    throw new PermanentError(
      'BAD_WORKLOAD_TARGET',
      `scaleWorkload target must be Deployment/<namespace>/<name>, got "${target}"`,
    );
  }
  return { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name };
}

function asControlPlaneError(target: string, phase: string, err: unknown): Error {
  if (err instanceof KubeApiError) {
    if (err.code === 409)
      return new StaleStateError('WORKLOAD_CHANGED', `${target}: changed since it was read (${phase})`, {
        cause: err,
      });
    if (err.code === 429 || err.code >= 500) {
      return new RetryableError('KUBE_UNAVAILABLE', `${target}: ${phase} failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    return new PermanentError('KUBE_REJECTED', `${target}: ${phase} refused: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (err instanceof KubeConnectionError) {
    return new RetryableError('KUBE_UNAVAILABLE', `${target}: ${phase} failed: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export class WorkloadRunner implements ActionRunner<ScaleWorkloadAction> {
  readonly kinds = ['scaleWorkload'] as const;

  constructor(
    private readonly objects: KubeObjects,
    private readonly logger?: Logger,
  ) {}

  /**
   * The Scale each `check` read, for the `apply` that follows it: the write is conditional on
   * that read's resourceVersion (a change in between is a 409, so a re-plan), so reading again
   * would only cost a round trip.
   */
  readonly #checked = new WeakMap<ScaleWorkloadAction, WorkloadScale | undefined>();

  async check(action: ScaleWorkloadAction): Promise<Precondition> {
    // Planned from an observed resourceVersion: the write itself is the check.
    if (action.before.resourceVersion !== undefined) return { state: 'ready' };
    const scale = await this.#read(action);
    this.#checked.set(action, scale);
    if (!scale) return { state: 'stale', reason: 'the workload does not exist' };
    if (scale.replicas === action.after.replicas)
      return { state: 'done', reason: `already at ${scale.replicas} replicas` };
    if (action.before.replicas === null || scale.replicas === action.before.replicas)
      return { state: 'ready' };
    return {
      state: 'stale',
      reason: `replicas are ${scale.replicas}, planned from ${action.before.replicas}`,
    };
  }

  async apply(action: ScaleWorkloadAction): Promise<{ replicas: number; resourceVersion: string }> {
    const ref = workloadRefOf(action.target);
    if (action.before.resourceVersion !== undefined) {
      return this.#write(action, ref, action.before.replicas, action.before.resourceVersion);
    }
    const checked = this.#checked.has(action);
    const scale = checked ? this.#checked.get(action) : await this.#read(action);
    this.#checked.delete(action);
    if (!scale) throw new StaleStateError('WORKLOAD_GONE', `${action.target}: the workload does not exist`);
    if (scale.replicas === action.after.replicas) return scale;
    if (action.before.replicas !== null && scale.replicas !== action.before.replicas) {
      throw new StaleStateError(
        'WORKLOAD_CHANGED',
        `${action.target}: replicas are ${scale.replicas}, planned from ${action.before.replicas}`,
      );
    }
    return this.#write(action, ref, scale.replicas, scale.resourceVersion);
  }

  async #write(
    action: ScaleWorkloadAction,
    ref: ObjectRef,
    from: number | null,
    resourceVersion: string,
  ): Promise<{ replicas: number; resourceVersion: string }> {
    try {
      const written = await this.objects.setScale(ref, action.after.replicas, { resourceVersion });
      this.logger?.info('workload scaled', { target: action.target, from, to: action.after.replicas });
      return written;
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) {
        throw new StaleStateError('WORKLOAD_GONE', `${action.target}: the workload does not exist`);
      }
      throw asControlPlaneError(action.target, 'scale', err);
    }
  }

  async #read(action: ScaleWorkloadAction) {
    try {
      return await this.objects.getScale(workloadRefOf(action.target));
    } catch (err) {
      throw asControlPlaneError(action.target, 'read scale', err);
    }
  }
}
