import { ClusterManagerClient } from '@google-cloud/container';
import { PassThroughClient } from 'google-auth-library';

type ClientOptions = NonNullable<ConstructorParameters<typeof ClusterManagerClient>[0]>;

/**
 * The official client pointed at a local server (`http://127.0.0.1:PORT`): REST fallback mode,
 * plain HTTP, and an auth client that adds no credentials.
 */
export function localContainerClient(url: string): ClusterManagerClient {
  const u = new URL(url);
  // google-gax bundles its own google-auth-library; the classes are the same at runtime but
  // TypeScript sees two declarations of AuthClient.
  const authClient = new PassThroughClient({
    transporterOptions: { validateStatus: () => true },
  }) as unknown as ClientOptions['authClient'];
  return new ClusterManagerClient({
    fallback: true,
    protocol: u.protocol.replace(/:$/, ''),
    apiEndpoint: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    authClient,
  });
}
