/**
 * What the apiserver adds to a stored object: defaults. Status is the controllers' (controllers/).
 */
import { isObject, type JsonObject } from './json';
import { podDefaults } from './pods';
import type { ResourceType } from './resources';

function setDefault(obj: JsonObject, field: string, value: unknown): void {
  if (obj[field] === undefined) obj[field] = value;
}

function objectField(obj: JsonObject, field: string): JsonObject {
  const v = obj[field];
  if (isObject(v)) return v;
  const created: JsonObject = {};
  obj[field] = created;
  return created;
}

/** The n-th address of 10.96.0.0/12, as a kubeadm cluster allocates Service IPs. */
export function clusterIp(n: number): string {
  return `10.96.${Math.floor(n / 250) % 256}.${(n % 250) + 1}`;
}

export function applyDefaults(
  resource: ResourceType,
  obj: JsonObject,
  previous: JsonObject | undefined,
  allocateClusterIp: () => string = () => clusterIp(0),
): void {
  switch (resource.kind) {
    case 'Namespace': {
      const meta = objectField(obj, 'metadata');
      const labels = objectField(meta, 'labels');
      labels['kubernetes.io/metadata.name'] = meta.name;
      setDefault(objectField(obj, 'spec'), 'finalizers', ['kubernetes']);
      obj.status = { phase: 'Active' };
      break;
    }
    case 'Deployment': {
      const spec = objectField(obj, 'spec');
      setDefault(spec, 'replicas', 1);
      const strategy = objectField(spec, 'strategy');
      setDefault(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') {
        const rolling = objectField(strategy, 'rollingUpdate');
        setDefault(rolling, 'maxUnavailable', '25%');
        setDefault(rolling, 'maxSurge', '25%');
      }
      setDefault(spec, 'revisionHistoryLimit', 10);
      setDefault(spec, 'progressDeadlineSeconds', 600);
      break;
    }
    case 'ReplicaSet': {
      setDefault(objectField(obj, 'spec'), 'replicas', 1);
      obj.status = previous?.status ?? { replicas: 0 };
      break;
    }
    case 'Pod':
      podDefaults(obj, previous);
      break;
    case 'Service': {
      const spec = objectField(obj, 'spec');
      setDefault(spec, 'type', 'ClusterIP');
      setDefault(spec, 'sessionAffinity', 'None');
      if (spec.type !== 'ExternalName' && spec.clusterIP === undefined) {
        const prevSpec = previous && isObject(previous.spec) ? previous.spec : {};
        // The allocated IP is immutable: an update that omits it keeps the one it had.
        spec.clusterIP = typeof prevSpec.clusterIP === 'string' ? prevSpec.clusterIP : allocateClusterIp();
        spec.clusterIPs = [spec.clusterIP];
      }
      if (Array.isArray(spec.ports)) {
        for (const p of spec.ports) {
          if (!isObject(p)) continue;
          setDefault(p, 'protocol', 'TCP');
          setDefault(p, 'targetPort', p.port);
        }
      }
      obj.status = previous?.status ?? { loadBalancer: {} };
      break;
    }
    case 'Secret': {
      setDefault(obj, 'type', 'Opaque');
      if (isObject(obj.stringData)) {
        const data = objectField(obj, 'data');
        for (const [k, v] of Object.entries(obj.stringData))
          data[k] = Buffer.from(String(v)).toString('base64');
        delete obj.stringData;
      }
      break;
    }
    case 'HorizontalPodAutoscaler': {
      setDefault(objectField(obj, 'spec'), 'minReplicas', 1);
      obj.status = previous?.status ?? { desiredReplicas: 0 };
      break;
    }
    case 'PodDisruptionBudget': {
      obj.status = previous?.status ?? {
        currentHealthy: 0,
        desiredHealthy: 0,
        disruptionsAllowed: 0,
        expectedPods: 0,
      };
      break;
    }
  }
}
