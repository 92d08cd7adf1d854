/**
 * What the local cluster's controllers consume and expose: the GKE side (node pools), timing,
 * the readiness hook, and the decision log.
 */
import type { LocalNodePoolView } from '../../gke/view';
import type { JsonObject } from '../json';

/** One GKE node pool as the node controller and the cluster autoscaler see it (the GKE server's view). */
export type { LocalNodePoolView, TaintEffectName as TaintEffect } from '../../gke/view';

/** The GKE server's node pools (implemented there; a test double in tests). */
export interface LocalNodePoolSource {
  nodePools(): LocalNodePoolView[];
  onChange(listener: () => void): () => void;
  /** The cluster autoscaler's resize: sets live nodes per zone within the autoscaling bounds, no operation. */
  autoscale(pool: string, nodeCountPerZone: Record<string, number>): void;
}

/** Time for the controllers: a real one (setTimeout) or ManualTimers in tests. */
export interface ControllerTimers {
  nowMs(): number;
  /** Calls `fn` once, `ms` from now; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

/** Readiness of a Running pod (the lead wires it to the local Triton's /v2/health/ready). */
export type ReadinessHook = (pod: JsonObject) => boolean | Promise<boolean>;

export interface ControllerTimings {
  /** Pool growth -> Node Ready (the Node registers NotReady at once). */
  nodeStartupMs?: number;
  /** Binding -> containers Running. */
  containerStartMs?: number;
  /** How long a deleted pod stays Terminating (capped by its grace period). */
  podTerminationMs?: number;
  /** How long a pod is unschedulable before the cluster autoscaler grows a pool for it. */
  scaleUpDelayMs?: number;
  /** How long a node has no non-DaemonSet pods before the cluster autoscaler removes it. */
  scaleDownIdleMs?: number;
  /** How often the readiness hook is asked again (while not ready, and while ready). */
  readinessPeriodMs?: number;
}

export interface ControllerOptions extends ControllerTimings {
  /** GKE node pools; without one no Node objects exist and every pod is bound to `local-node` at once. */
  nodePools?: LocalNodePoolSource;
  /** Cluster name in node names (`gke-<cluster>-<pool>-...`) and provider IDs. */
  cluster?: string;
  project?: string;
  readiness?: ReadinessHook;
  timers?: ControllerTimers;
}

/** One decision of a controller, as an Event would record it. */
export interface ClusterEvent {
  time: string;
  /** e.g. `Pod triton/x`, `Node gke-...`, `NodePool l4`. */
  object: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  source:
    | 'default-scheduler'
    | 'cluster-autoscaler'
    | 'node-controller'
    | 'kubelet'
    | 'deployment-controller'
    | 'replicaset-controller';
}

/** Delays that keep `startKubernetesServer()` instant (the product's tests); scale-down keeps the real 10 minutes. */
export const INSTANT_TIMINGS: Required<ControllerTimings> = {
  nodeStartupMs: 0,
  containerStartMs: 0,
  podTerminationMs: 0,
  scaleUpDelayMs: 0,
  scaleDownIdleMs: 600_000,
  readinessPeriodMs: 1000,
};

/**
 * Delays for the sandbox: slow enough to watch a rollout or a scale-up in `kubectl get -w`, short
 * enough not to bore (real: nodes ~60-90 s, image pull + Triton start tens of seconds, grace 30 s,
 * scale-down 10 minutes).
 */
export const SANDBOX_TIMINGS: Required<ControllerTimings> = {
  nodeStartupMs: 20_000,
  containerStartMs: 2_000,
  podTerminationMs: 2_000,
  scaleUpDelayMs: 5_000,
  scaleDownIdleMs: 60_000,
  readinessPeriodMs: 1_000,
};
