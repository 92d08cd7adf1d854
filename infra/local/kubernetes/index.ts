/**
 * A local wire-level Kubernetes apiserver for the official `@kubernetes/client-node` client and
 * kubectl, over HTTPS with its own CA and bearer tokens (connect with `localKubeConfig(server)`).
 * See api.ts for semantics and fields.ts for the server-side-apply ownership model and its
 * simplifications.
 */

import { type LocalServer, sendJson, startLocalServer } from '../common/server';
import { KubeApi } from './api';
import { type Clock, systemClock } from './clock';
import { ClusterControllers, type ClusterEvent, type ControllerOptions } from './controllers';
import { injectedStatus, KubeApiError } from './errors';
import type { ManagedFieldsEntry } from './fields';
import { isObject, type JsonObject } from './json';
import { findKind } from './resources';
import { kubernetesHandler } from './server';
import { KubeStore } from './store';
import { tlsIdentity } from './tls';

export { DEFAULT_FIELD_MANAGER, PATCH_TYPES } from './api';
export { DEFAULT_TOKEN as LOCAL_KUBE_TOKEN, localKubeConfig, writeKubeconfig } from './client';
export type { Clock } from './clock';
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
  /** `https://127.0.0.1:PORT`. */
  readonly url: string;
  /** `127.0.0.1:PORT`: host[:port] without scheme, as GKE's `cluster.endpoint`. */
  readonly endpoint: string;
  /** The cluster CA certificate (PEM) the serving certificate chains to. */
  readonly caCertificatePem: string;
  /** Base64 of the PEM: the form of GKE's `masterAuth.clusterCaCertificate`. */
  readonly caCertificateBase64: string;
  /** Stored objects (copies), of one kind (`'Deployment'`) or all, in namespace/name order. */
  objects(kind?: string): KubeObject[];
  /** The stored pods (all namespaces, or one), in namespace/name order. */
  pods(namespace?: string): KubeObject[];
  /** Calls `listener` after every stored change (pods included); returns unsubscribe. */
  onChange(listener: () => void): () => void;
  /**
   * Ends every open watch stream (clients see the connection close, as on an apiserver restart or
   * a watch timeout, and re-watch from their last resourceVersion). Returns how many were open.
   */
  closeWatches(): number;
  /** In-process writes that behave as API requests (see KubeObjectStore). */
  readonly store: KubeObjectStore;
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
   * (The same write as `store.updateStatus`.)
   */
  writeStatus(
    kind: string,
    namespace: string | undefined,
    name: string,
    status: Record<string, unknown>,
  ): KubeObject;
}

/**
 * In-process writes for controllers running beside the server: each goes through the same
 * validation, defaulting, resourceVersion, GC and watch-event path as an HTTP request. Kinds are
 * looked up in resources.ts; errors are `KubeApiError`s carrying the HTTP code and Status.
 */
/** An object to write: kind (and apiVersion) plus the metadata the caller sets. */
export interface KubeObjectInput {
  apiVersion?: string;
  kind: string;
  metadata: Partial<KubeMetadata>;
  [key: string]: unknown;
}

export interface KubeObjectStore {
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  list(kind: string, namespace?: string): KubeObject[];
  /** Creates (201 semantics); `namespace` comes from the object's metadata. */
  create(object: KubeObjectInput, fieldManager?: string): KubeObject;
  /** Replaces (PUT semantics: a stale metadata.resourceVersion is a 409). */
  replace(object: KubeObjectInput, fieldManager?: string): KubeObject;
  /** Replaces `status` only. */
  updateStatus(
    kind: string,
    namespace: string | undefined,
    name: string,
    status: Record<string, unknown>,
    resourceVersion?: string,
  ): KubeObject;
  /** Deletes (honouring finalizers and propagation); returns the object when it is left terminating. */
  delete(
    kind: string,
    namespace: string | undefined,
    name: string,
    propagationPolicy?: 'Background' | 'Foreground' | 'Orphan',
  ): KubeObject | undefined;
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
  /** Accepted bearer tokens; by default any non-empty bearer token is accepted. */
  tokens?: string[];
  /**
   * Accept requests without credentials, as an apiserver with `--anonymous-auth` and allow-all
   * authorization does. Off by default: such requests get 401, as on GKE.
   */
  anonymous?: boolean;
  /** How many change events watches can resume from (older resourceVersions answer 410). */
  watchHistorySize?: number;
  /** Interval of BOOKMARK events on watches that allow them (default 60 s, as the watch cache). */
  watchBookmarkIntervalMs?: number;
}

const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public'];

export async function startKubernetesServer(opts: KubernetesServerOptions = {}): Promise<KubernetesServer> {
  const store = new KubeStore(opts.dir, {
    ...(opts.watchHistorySize !== undefined ? { historySize: opts.watchHistorySize } : {}),
  });
  const timers = opts.controllers?.timers;
  const clock: Clock = opts.clock ?? (timers ? { nowMs: () => timers.nowMs() } : systemClock);
  const api = new KubeApi(store, clock);
  const namespaces = findKind('Namespace')!;
  for (const name of INITIAL_NAMESPACES) {
    if (!store.get(namespaces, undefined, name)) {
      api.create(namespaces, undefined, JSON.stringify({ metadata: { name } }), { dryRun: false });
    }
  }
  const controllers = new ClusterControllers(api, store, opts.controllers);
  controllers.kick();
  // Certificates are dated by the wall clock: clients check validity against theirs.
  const identity = tlsIdentity(opts.dir, Date.now());
  const openWatches = new Set<() => void>();
  const server = await startLocalServer(
    kubernetesHandler(api, {
      tokens: opts.tokens,
      anonymous: opts.anonymous,
      watch: {
        bookmarkIntervalMs: opts.watchBookmarkIntervalMs ?? 60_000,
        defaultTimeoutSeconds: 1800,
        open: openWatches,
      },
    }),
    {
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      name: 'kubernetes',
      tls: { key: identity.keyPem, cert: identity.certificatePem },
      injectedError: (res, status) => sendJson(res, status, injectedStatus(status)),
    },
  );
  const close = server.close;
  const objects = objectStore(api);
  return Object.assign(server, {
    endpoint: server.url.replace(/^https:\/\//, ''),
    caCertificatePem: identity.caCertificatePem,
    caCertificateBase64: Buffer.from(identity.caCertificatePem).toString('base64'),
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
      ) => objects.updateStatus(kind, namespace, name, status),
    },
    clusterEvents: () => controllers.events(),
    reconcile: () => controllers.kick(),
    store: objects,
    closeWatches: () => {
      const open = [...openWatches];
      for (const finish of open) finish();
      return open.length;
    },
    close: async () => {
      controllers.close();
      for (const finish of [...openWatches]) finish();
      await close();
      store.flush();
    },
  });
}

function resourceOf(kind: string) {
  const r = findKind(kind);
  if (!r) throw new KubeApiError(404, 'NotFound', `the server does not serve kind ${kind}`);
  return r;
}

function objectStore(api: KubeApi): KubeObjectStore {
  const asObject = (o: unknown): KubeObject => o as KubeObject;
  const nsOf = (o: { metadata: Partial<KubeMetadata> }): string | undefined =>
    typeof o.metadata.namespace === 'string' ? o.metadata.namespace : undefined;
  return {
    get(kind, namespace, name) {
      try {
        return asObject(api.get(resourceOf(kind), namespace, name));
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) return undefined;
        throw err;
      }
    },
    list(kind, namespace) {
      const r = resourceOf(kind);
      const list = api.list(r, namespace, new URLSearchParams());
      return (list.items as JsonObject[]).map((o) => asObject({ apiVersion: list.apiVersion, kind, ...o }));
    },
    create(object, fieldManager) {
      const r = resourceOf(object.kind);
      return asObject(
        api.create(r, nsOf(object), JSON.stringify(object), { dryRun: false, fieldManager }).body,
      );
    },
    replace(object, fieldManager) {
      const r = resourceOf(object.kind);
      const name = String(object.metadata.name ?? '');
      return asObject(
        api.replace(r, nsOf(object), name, JSON.stringify(object), { dryRun: false, fieldManager }).body,
      );
    },
    updateStatus(kind, namespace, name, status, resourceVersion) {
      return asObject(api.writeStatus(resourceOf(kind), namespace, name, status, resourceVersion));
    },
    delete(kind, namespace, name, propagationPolicy) {
      const r = resourceOf(kind);
      const body = propagationPolicy ? JSON.stringify({ propagationPolicy }) : '';
      const result = api.delete(r, namespace, name, body, { dryRun: false });
      // A Status when it is gone; the object when it is left terminating (finalizers, grace).
      return isObject(result.body) && result.body.kind !== 'Status' ? asObject(result.body) : undefined;
    },
  };
}
