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
import { deepEqual, isObject, type JsonObject } from './json';
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
  /** In-process subresource calls for local controllers (the HPA controller). */
  readonly controllers: ControllerApi;
  /** The controllers' decisions (scheduling, node and autoscaler changes), oldest first. */
  clusterEvents(): ClusterEvent[];
  /** Runs the controllers now (e.g. after a readiness source changed). */
  reconcile(): void;
}

/** What a controller does through subresources, in-process; errors are `KubeApiError`s. */
export interface ControllerApi {
  /** GET deployments/{name}/scale (autoscaling/v1 Scale). */
  scale(namespace: string, name: string): KubeObject;
  /** PUT deployments/{name}/scale with `spec.replicas`, recorded for `fieldManager`. */
  setScale(namespace: string, name: string, replicas: number, fieldManager: string): KubeObject;
  /**
   * PUT {kind}/{name}/status: replaces `status` only; a status equal to the stored one is not a
   * write (no new resourceVersion, no change notification). Returns the stored object.
   */
  writeStatus(
    kind: string,
    namespace: string | undefined,
    name: string,
    status: Record<string, unknown>,
  ): KubeObject;
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
    controllers: {
      scale: (namespace: string, name: string) => api.scale(namespace, name) as unknown as KubeObject,
      setScale: (namespace: string, name: string, replicas: number, fieldManager: string) =>
        api.replaceScale(namespace, name, JSON.stringify({ spec: { replicas } }), {
          fieldManager,
          dryRun: false,
        }) as unknown as KubeObject,
      writeStatus: (
        kind: string,
        namespace: string | undefined,
        name: string,
        status: Record<string, unknown>,
      ) => {
        const resource = findKind(kind);
        if (!resource || resource.readOnly) throw new Error(`writeStatus: no stored kind ${kind}`);
        const object = api.get(resource, namespace, name);
        if (deepEqual(object.status, status)) return object as unknown as KubeObject;
        const next: JsonObject = { ...object, status: structuredClone(status) };
        const meta = isObject(next.metadata) ? { ...next.metadata } : {};
        meta.resourceVersion = store.nextResourceVersion();
        next.metadata = meta;
        store.put(resource, next);
        return next as unknown as KubeObject;
      },
    },
    clusterEvents: () => controllers.events(),
    reconcile: () => controllers.kick(),
    close: async () => {
      controllers.close();
      await close();
    },
  });
}
