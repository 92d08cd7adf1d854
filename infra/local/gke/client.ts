import type { ClusterManagerClient } from '@google-cloud/container';
import { createContainerClient } from '../../../shared/adapters/gke';

/**
 * The official client pointed at a local server (`http://127.0.0.1:PORT`): REST fallback mode,
 * plain HTTP, and an auth client that adds no credentials; the same factory the control plane
 * uses for a local endpoint, so tests exercise exactly what production-local wiring builds.
 */
export function localContainerClient(url: string): ClusterManagerClient {
  return createContainerClient({ endpoint: url });
}
