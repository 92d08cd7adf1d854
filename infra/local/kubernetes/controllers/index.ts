/**
 * The local cluster's controllers, run in-process by the apiserver: node controller (from GKE
 * node pools), Deployment and ReplicaSet controllers, scheduler, kubelets and
 * cluster autoscaler. Every stored change (and every due timer) runs one reconcile of all of
 * them, synchronously and repeated until nothing changes, so with zero delays a write's response
 * already shows the converged cluster.
 */
import type { KubeApi } from '../api';
import { gracefulPodDeletion } from '../pods';
import type { KubeStore, StoreEvent } from '../store';
import { autoscale } from './autoscaler';
import { Ctx, controllerRef, meta, REPLICA_SET, str } from './context';
import { reconcileDeployments } from './deployments';
import { runKubelets } from './kubelet';
import { reconcileNodes } from './nodes';
import { reconcileReplicaSets } from './replicasets';
import { schedule } from './scheduler';
import { realTimers } from './timers';
import { type ClusterEvent, type ControllerOptions, INSTANT_TIMINGS } from './types';

export { ManualTimers, realTimers } from './timers';
export type {
  ClusterEvent,
  ControllerOptions,
  ControllerTimers,
  ControllerTimings,
  LocalNodePoolSource,
  LocalNodePoolView,
  ReadinessHook,
} from './types';
export { INSTANT_TIMINGS, SANDBOX_TIMINGS } from './types';

const MAX_PASSES = 200;
/** The kinds the controllers read: changes to others (ConfigMaps, Services, ...) need no pass. */
const WATCHED = new Set(['pods', 'nodes', 'replicasets', 'deployments']);

export class ClusterControllers {
  readonly #ctx: Ctx;
  readonly #timers;
  readonly #unsubscribe: (() => void)[] = [];
  #running = false;
  #dirty = false;
  #closed = false;
  #armed: { at: number; cancel: () => void } | undefined;

  constructor(api: KubeApi, store: KubeStore, opts: ControllerOptions = {}) {
    const timings = { ...INSTANT_TIMINGS };
    for (const k of Object.keys(timings) as (keyof typeof timings)[]) {
      const v = opts[k];
      if (typeof v === 'number' && v >= 0) timings[k] = v;
    }
    this.#timers = opts.timers ?? realTimers;
    this.#ctx = new Ctx(api, store, { ...opts, timers: this.#timers }, timings);
    this.#ctx.kick = () => this.kick();
    api.hooks.onDelete = (resource, existing, options) =>
      resource.kind === 'Pod'
        ? gracefulPodDeletion(existing, options, this.#timers.nowMs(), timings.podTerminationMs > 0)
        : undefined;
    this.#unsubscribe.push(
      store.subscribe((plural, event) => {
        if (plural !== undefined && !WATCHED.has(plural)) return;
        this.#ctx.changed(plural);
        if (event) this.#queue(event);
        else this.#ctx.markAll();
        this.#run();
      }),
    );
    if (opts.nodePools) this.#unsubscribe.push(opts.nodePools.onChange(() => this.kick()));
  }

  /**
   * A stored change queues what it concerns, as informers feed the real controllers' work queues:
   * the object itself, and up its controller chain (pod -> ReplicaSet -> Deployment), whose status
   * counts it. A node change can concern any pod: everything is looked at again.
   */
  #queue(event: StoreEvent): void {
    const ctx = this.#ctx;
    const m = meta(event.object);
    const ns = str(m.namespace);
    if (event.plural === 'nodes') {
      ctx.markAll();
      return;
    }
    ctx.markDirty(event.plural, ns, String(m.name));
    const owners = (kind: string) => {
      const names = new Set<string>();
      for (const o of [event.object, event.previous]) {
        const ref = o ? controllerRef(o) : undefined;
        if (ref?.kind === kind && typeof ref.name === 'string') names.add(ref.name);
      }
      return [...names];
    };
    const deploymentOf = (rsName: string) => {
      const ref = ctx.get(REPLICA_SET, ns, rsName);
      const owner = ref ? controllerRef(ref) : undefined;
      if (owner?.kind === 'Deployment' && typeof owner.name === 'string')
        ctx.markDirty('deployments', ns, owner.name);
    };
    if (event.plural === 'replicasets') {
      for (const d of owners('Deployment')) ctx.markDirty('deployments', ns, d);
    } else if (event.plural === 'pods') {
      for (const rs of owners('ReplicaSet')) {
        ctx.markDirty('replicasets', ns, rs);
        deploymentOf(rs);
      }
    }
  }

  /** Reconciles everything now (re-entrant calls only mark another pass). */
  kick(): void {
    this.#ctx.markAll();
    this.#run();
  }

  /** Runs passes until nothing is left to do (re-entrant calls only mark another pass). */
  #run(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#dirty = true;
      return;
    }
    this.#running = true;
    try {
      let passes = 0;
      do {
        this.#dirty = false;
        // A pass over changed objects only keeps the wake-ups the others asked for.
        if (this.#ctx.takeFullPass()) this.#ctx.wake = Number.POSITIVE_INFINITY;
        this.#pass();
        passes += 1;
      } while (this.#dirty && passes < MAX_PASSES);
      if (this.#dirty) console.error('local controllers: no steady state after 200 passes');
    } finally {
      this.#running = false;
    }
    this.#arm(this.#ctx.wake);
  }

  #pass(): void {
    const ctx = this.#ctx;
    for (const step of [
      reconcileNodes,
      reconcileDeployments,
      reconcileReplicaSets,
      schedule,
      runKubelets,
      autoscale,
    ]) {
      try {
        step(ctx);
      } catch (err) {
        console.error(`local controllers: ${step.name} failed: ${String(err)}`);
      }
    }
  }

  #arm(at: number): void {
    if (this.#armed && this.#armed.at === at) return;
    this.#armed?.cancel();
    this.#armed = undefined;
    if (!Number.isFinite(at)) return;
    const cancel = this.#timers.after(at - this.#timers.nowMs(), () => {
      this.#armed = undefined;
      this.kick();
    });
    this.#armed = { at, cancel };
  }

  /** The controllers' decisions, oldest first (scheduling, scale-ups and -downs, node changes). */
  events(): ClusterEvent[] {
    return [...this.#ctx.events];
  }

  close(): void {
    this.#closed = true;
    this.#armed?.cancel();
    for (const u of this.#unsubscribe) u();
  }
}
