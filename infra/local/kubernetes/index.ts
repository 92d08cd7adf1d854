/**
 * A local wire-level Kubernetes apiserver for the official `@kubernetes/client-node` client
 * (connect with `localKubeConfig(server.url)`). See api.ts for semantics and fields.ts for the
 * server-side-apply ownership model and its simplifications.
 */
import { type Clock, systemClock } from '../../../shared/runtime/clock';
import { type LocalServer, sendJson, startLocalServer } from '../common/server';
import { KubeApi } from './api';
import { ClusterControllers, type ClusterEvent, type ControllerOptions } from './controllers';
import { injectedStatus } from './errors';
import type { ManagedFieldsEntry } from './fields';
import type { JsonObject } from './json';
import { findKind } from './resources';
import { kubernetesHandler } from './server';
import { KubeStore } from './store';

export { DEFAULT_FIELD_MANAGER, PATCH_TYPES } from './api';
export { localKubeConfig } from './client';
export type {
  ClusterEvent,
  ControllerOptions,
  ControllerTimers,
  ControllerTimings,
  LocalNodePoolSource,
  LocalNodePoolView,
  ReadinessHook,
} from './controllers';
export { INSTANT_TIMINGS, ManualTimers, SANDBOX_TIMINGS } from './controllers';
export type { KubeStatus } from './errors';
export type { ManagedFieldsEntry } from './fields';
export { RESOURCES } from './resources';

export interface KubeMetadata {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  managedFields?: ManagedFieldsEntry[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMetadata;
  [key: string]: unknown;
}

export interface KubernetesServer extends LocalServer {
  /** Stored objects (copies), of one kind (`'Deployment'`) or all, in namespace/name order. */
  objects(kind?: string): KubeObject[];
  /** The stored pods (all namespaces, or one), in namespace/name order. */
  pods(namespace?: string): KubeObject[];
  /** Calls `listener` after every stored change (pods included); returns unsubscribe. */
  onChange(listener: () => void): () => void;
  /** The controllers' decisions (scheduling, node and autoscaler changes), oldest first. */
  clusterEvents(): ClusterEvent[];
  /** Runs the controllers now (e.g. after a readiness source changed). */
  reconcile(): void;
}

export interface KubernetesServerOptions {
  port?: number;
  host?: string;
  /** Persist state as `kubernetes.json` in this folder (loaded at start when present). */
  dir?: string;
  /** Timestamps; defaults to `controllers.timers` when given, else the system clock. */
  clock?: Clock;
  /** Nodes from GKE node pools, delays, readiness hook; default: instant, no Node objects. */
  controllers?: ControllerOptions;
}

const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public'];

export async function startKubernetesServer(opts: KubernetesServerOptions = {}): Promise<KubernetesServer> {
  const store = new KubeStore(opts.dir);
  const timers = opts.controllers?.timers;
  const clock: Clock =
    opts.clock ?? (timers ? { nowMs: () => timers.nowMs(), sleep: systemClock.sleep } : systemClock);
  const api = new KubeApi(store, clock);
  const namespaces = findKind('Namespace')!;
  for (const name of INITIAL_NAMESPACES) {
    if (!store.get(namespaces, undefined, name)) {
      api.create(namespaces, undefined, JSON.stringify({ metadata: { name } }), { dryRun: false });
    }
  }
  const controllers = new ClusterControllers(api, store, opts.controllers);
  controllers.kick();
  const server = await startLocalServer(kubernetesHandler(api), {
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    name: 'kubernetes',
    injectedError: (res, status) => sendJson(res, status, injectedStatus(status)),
  });
  const close = server.close.bind(server);
  return Object.assign(server, {
    objects(kind?: string): KubeObject[] {
      return store
        .all()
        .filter((o: JsonObject) => kind === undefined || o.kind === kind)
        .map((o) => o as unknown as KubeObject);
    },
    pods(namespace?: string): KubeObject[] {
      return api.pods(namespace).map((o) => o as unknown as KubeObject);
    },
    onChange: (listener: () => void) => store.subscribe(listener),
    clusterEvents: () => controllers.events(),
    reconcile: () => controllers.kick(),
    close: async () => {
      controllers.close();
      await close();
    },
  });
}
