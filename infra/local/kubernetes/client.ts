import { KubeConfig } from '@kubernetes/client-node';

/**
 * A KubeConfig for the local API server: plain HTTP, no credentials. The context namespace is
 * `default`, so `KubernetesObjectApi` fills it in for namespaced objects that name none, as it
 * does against a real cluster.
 */
export function localKubeConfig(url: string, namespace = 'default'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: url, skipTLSVerify: true }],
    users: [{ name: 'local' }],
    contexts: [{ name: 'local', cluster: 'local', user: 'local', namespace }],
    currentContext: 'local',
  });
  return kc;
}
