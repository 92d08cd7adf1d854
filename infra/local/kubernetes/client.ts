import { writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { LOCAL_ACCESS_TOKEN } from '../credentials';

/** What a client needs of the local apiserver: its URL and the CA its certificate chains to. */
export interface LocalApiserver {
  readonly url: string;
  readonly caCertificateBase64: string;
}

export interface LocalKubeConfigOptions {
  /** Bearer token sent on every request (default `local-token`; any non-empty one is accepted unless the server restricts them). */
  token?: string;
  /** Context namespace (default `default`). */
  namespace?: string;
}

/** The bearer token `localKubeConfig` sends unless given another. */
export const DEFAULT_TOKEN = LOCAL_ACCESS_TOKEN;

function configOf(
  server: LocalApiserver,
  opts: LocalKubeConfigOptions,
): {
  clusters: { name: string; server: string; caData: string; skipTLSVerify: boolean }[];
  users: { name: string; token: string }[];
  contexts: { name: string; cluster: string; user: string; namespace: string }[];
  currentContext: string;
} {
  return {
    clusters: [
      { name: 'local', server: server.url, caData: server.caCertificateBase64, skipTLSVerify: false },
    ],
    users: [{ name: 'token', token: opts.token ?? DEFAULT_TOKEN }],
    contexts: [{ name: 'local', cluster: 'local', user: 'token', namespace: opts.namespace ?? 'default' }],
    currentContext: 'local',
  };
}

/**
 * A KubeConfig for the local API server: its URL, verification against its CA, and a bearer
 * token (user `token`). The context namespace is `default` unless given, so
 * `KubernetesObjectApi` fills it in for namespaced objects that name none, as against a cluster.
 */
export function localKubeConfig(server: LocalApiserver, opts: LocalKubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions(configOf(server, opts));
  return kc;
}

/** Writes a kubeconfig YAML (for kubectl's `--kubeconfig` or `KUBECONFIG`) with the same contents. */
export function writeKubeconfig(
  file: string,
  server: LocalApiserver,
  opts: LocalKubeConfigOptions = {},
): void {
  const c = configOf(server, opts);
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: c.clusters.map((x) => ({
      name: x.name,
      cluster: { server: x.server, 'certificate-authority-data': x.caData },
    })),
    users: c.users.map((u) => ({ name: u.name, user: { token: u.token } })),
    contexts: c.contexts.map((x) => ({
      name: x.name,
      context: { cluster: x.cluster, user: x.user, namespace: x.namespace },
    })),
    'current-context': c.currentContext,
    preferences: {},
  };
  writeFileSync(file, stringify(doc), { mode: 0o600 });
}
