/**
 * A local wire-level Kubernetes apiserver for the official `@kubernetes/client-node` client and
 * kubectl, over HTTPS with its own CA and bearer tokens (connect with `localKubeConfig(server)`).
 * See api.ts for semantics and fields.ts for the server-side-apply ownership model and its
 * simplifications.
 */

import { type LocalServer, sendJson, startLocalServer } from '../common/server';
import { KubeApi } from './api';
import { type Clock, systemClock } from './clock';
import { injectedStatus } from './errors';
import type { ManagedFieldsEntry } from './fields';
import type { JsonObject } from './json';
import { findKind } from './resources';
import { kubernetesHandler } from './server';
import { KubeStore } from './store';
import { tlsIdentity } from './tls';

export { DEFAULT_FIELD_MANAGER, PATCH_TYPES } from './api';
export { localKubeConfig, writeKubeconfig } from './client';
export type { Clock } from './clock';
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
  /** The pods the Deployments run now (synthesized, see pods.ts), in namespace/name order. */
  pods(namespace?: string): KubeObject[];
  /** Calls `listener` after every stored change (so pods may have changed); returns unsubscribe. */
  onChange(listener: () => void): () => void;
  /**
   * Ends every open watch stream (clients see the connection close, as on an apiserver restart or
   * a watch timeout, and re-watch from their last resourceVersion). Returns how many were open.
   */
  closeWatches(): number;
}

export interface KubernetesServerOptions {
  port?: number;
  host?: string;
  /** Persist state as `kubernetes.json` in this folder (loaded at start when present). */
  dir?: string;
  clock?: Clock;
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
  const clock = opts.clock ?? systemClock;
  const store = new KubeStore(opts.dir, {
    ...(opts.watchHistorySize !== undefined ? { historySize: opts.watchHistorySize } : {}),
  });
  const api = new KubeApi(store, clock);
  const namespaces = findKind('Namespace')!;
  for (const name of INITIAL_NAMESPACES) {
    if (!store.get(namespaces, undefined, name)) {
      api.create(namespaces, undefined, JSON.stringify({ metadata: { name } }), { dryRun: false });
    }
  }
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
    closeWatches: () => {
      const open = [...openWatches];
      for (const finish of open) finish();
      return open.length;
    },
    close: async () => {
      for (const finish of [...openWatches]) finish();
      await close();
      store.flush();
    },
  });
}
