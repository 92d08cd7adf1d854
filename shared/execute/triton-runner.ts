/**
 * Runs Triton plan actions on the pods they name: load (then await READY within the action's
 * readiness timeout) and unload. Loads on the pods of one pool run concurrently; a model Triton
 * refuses is a permanent failure of the action (the caller plans the rollback), a pod that cannot
 * be reached is retried by redelivery.
 */
import type { LoadModelAction, UnloadModelAction } from '../domain/plan';
import { TritonLoadError, type TritonPod, type TritonRepository } from '../ports/triton';
import type { Clock } from '../runtime/clock';
import type { ActionRunner, Precondition } from './executor';

type TritonAction = LoadModelAction | UnloadModelAction;

export const DEFAULT_READINESS_TIMEOUT_SECONDS = 300;

export class TritonRunner implements ActionRunner<TritonAction> {
  readonly kinds = ['loadModel', 'unloadModel'] as const;
  readonly concurrent = true;
  readonly #pods = new Map<string, Promise<TritonPod[]>>();

  /** `pods(pool)`: the pool's ready pods now, each with a client carrying the pool's admin key. */
  constructor(
    private readonly pods: (pool: string) => Promise<TritonPod[]>,
    private readonly clock: Clock,
  ) {}

  async #pod(pool: string, pod: string): Promise<TritonRepository | undefined> {
    let list = this.#pods.get(pool);
    if (!list) {
      list = this.pods(pool);
      this.#pods.set(pool, list);
    }
    return (await list).find((p) => p.pod === pod)?.triton;
  }

  async check(action: TritonAction): Promise<Precondition> {
    const { pool, pod, model } = action.kind === 'loadModel' ? action.after : action.before;
    const triton = await this.#pod(pool, pod);
    if (!triton) {
      if (action.kind === 'unloadModel') return { state: 'done', reason: `pod ${pod} is gone` };
      return { state: 'stale', reason: `pod ${pod} is no longer a ready pod of ${pool}` };
    }
    if (action.kind === 'unloadModel') return { state: 'ready' };
    const version = action.after.version;
    // A load with a config is always sent: the same version may be served with an older config.
    if (
      version !== undefined &&
      action.after.config === undefined &&
      (await triton.isModelReady(model, version))
    ) {
      return { state: 'done', reason: `${model} version ${version} is already READY on ${pod}` };
    }
    return { state: 'ready' };
  }

  async apply(action: TritonAction): Promise<void> {
    if (action.kind === 'unloadModel') {
      const triton = await this.#pod(action.before.pool, action.before.pod);
      await triton?.unload(action.before.model);
      return;
    }
    const { pool, pod, model, version, config } = action.after;
    const triton = await this.#pod(pool, pod);
    if (!triton) throw new TritonLoadError('TRITON_POD_GONE', `pod ${pod} of ${pool} is gone`);
    await triton.load(model, config as Parameters<TritonRepository['load']>[1]);
    if (version === undefined) return;
    const timeout = action.after.readinessTimeoutSeconds ?? DEFAULT_READINESS_TIMEOUT_SECONDS;
    const ready = await awaitModelReady(triton, this.clock, model, version, { deadlineMs: timeout * 1000 });
    if (!ready.ready)
      throw new TritonLoadError('MODEL_NOT_READY', ready.reason, { details: { pod, model, version } });
  }
}

/**
 * Polls readiness until the deadline. Returns the reason from the repository index when the
 * model ends UNAVAILABLE, so the registry can say why.
 */
export async function awaitModelReady(
  triton: TritonRepository,
  clock: Clock,
  model: string,
  version: number,
  options: { deadlineMs: number; pollMs?: number },
): Promise<{ ready: true } | { ready: false; reason: string }> {
  const start = clock.nowMs();
  let pollMs = options.pollMs ?? 500;
  for (;;) {
    if (await triton.isModelReady(model, version)) return { ready: true };
    const entry = (await triton.index()).find(
      (e) => e.name === model && (e.version ?? String(version)) === String(version),
    );
    if (entry?.state === 'UNAVAILABLE')
      return { ready: false, reason: entry.reason || 'model is UNAVAILABLE' };
    if (clock.nowMs() - start >= options.deadlineMs) {
      return {
        ready: false,
        reason: `not ready after ${Math.round(options.deadlineMs / 1000)} s (state ${entry?.state ?? 'unknown'})`,
      };
    }
    await clock.sleep(pollMs);
    pollMs = Math.min(pollMs * 1.5, 5_000);
  }
}
