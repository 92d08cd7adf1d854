/**
 * The official `@google-cloud/monitoring` clients aimed at a local server: REST fallback over
 * plain HTTP and an auth client that adds no credentials. `validateStatus: () => true` lets
 * google-gax decode Google's error body into a GoogleError with the gRPC code (see
 * ../gke/README.md, googleapis/gax-nodejs#1803).
 */
import monitoring from '@google-cloud/monitoring';
import { PassThroughClient } from 'google-auth-library';

type MetricServiceClient = InstanceType<typeof monitoring.MetricServiceClient>;
type AlertPolicyServiceClient = InstanceType<typeof monitoring.AlertPolicyServiceClient>;
type NotificationChannelServiceClient = InstanceType<typeof monitoring.NotificationChannelServiceClient>;
type ClientOptions = NonNullable<ConstructorParameters<typeof monitoring.MetricServiceClient>[0]>;

export interface LocalMonitoringClients {
  metrics: MetricServiceClient;
  alertPolicies: AlertPolicyServiceClient;
  notificationChannels: NotificationChannelServiceClient;
  close(): Promise<void>;
}

function clientOptions(url: string): ClientOptions {
  const u = new URL(url);
  return {
    fallback: true,
    protocol: u.protocol.replace(':', ''),
    apiEndpoint: u.hostname,
    port: Number(u.port),
    // google-gax bundles its own google-auth-library; the pass-through client is the same at runtime.
    authClient: new PassThroughClient({
      transporterOptions: { validateStatus: () => true },
    }) as unknown as ClientOptions['authClient'],
  };
}

export function localMonitoringClients(url: string): LocalMonitoringClients {
  const metrics = new monitoring.MetricServiceClient(clientOptions(url));
  const alertPolicies = new monitoring.AlertPolicyServiceClient(clientOptions(url));
  const notificationChannels = new monitoring.NotificationChannelServiceClient(clientOptions(url));
  return {
    metrics,
    alertPolicies,
    notificationChannels,
    close: async () => {
      await Promise.all([metrics.close(), alertPolicies.close(), notificationChannels.close()]);
    },
  };
}
