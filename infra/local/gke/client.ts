import { ClusterManagerClient } from '@google-cloud/container';
import { PassThroughClient } from 'google-auth-library';

type ClientOptions = NonNullable<ConstructorParameters<typeof ClusterManagerClient>[0]>;

/**
 * The official client pointed at a local server (`http://127.0.0.1:PORT`): REST fallback mode,
 * plain HTTP, and an auth client that adds no credentials. `validateStatus` lets google-gax decode
 * Google's error body itself (googleapis/gax-nodejs#1803), so errors keep their gRPC code and
 * ErrorInfo. Built here, not with the product's factory: the local cloud imports no product code.
 */
export function localContainerClient(url: string): ClusterManagerClient {
  const u = new URL(url);
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
