/**
 * Pods, synthesized from Deployments: no kubelet runs here, so every Deployment is taken to run
 * `spec.replicas` pods at once, all Running and Ready, each with a stable fake pod IP. They are
 * read-only (get and list): scaling the Deployment is how their number changes.
 *
 * Names are `<deployment>-<suffix>-<i>`: the suffix comes from the Deployment's uid, so the same
 * Deployment keeps the same pod names across spec changes and restarts of a persisted server
 * (real pods get a new ReplicaSet hash on template changes; nothing here depends on that).
 */
import { createHash } from 'node:crypto';
import { clone, isObject, type JsonObject } from './json';
import { metaOf } from './store';

function digestOf(uid: string): string {
  return createHash('sha256').update(uid).digest('hex');
}

/** The pods one Deployment runs. */
export function podsOf(deployment: JsonObject): JsonObject[] {
  const meta = metaOf(deployment);
  const spec = isObject(deployment.spec) ? deployment.spec : {};
  const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
  const template = isObject(spec.template) ? spec.template : {};
  const templateMeta = isObject(template.metadata) ? template.metadata : {};
  const labels = isObject(templateMeta.labels) ? clone(templateMeta.labels) : {};
  const digest = digestOf(String(meta.uid ?? meta.name));
  const suffix = digest.slice(0, 10);
  const subnet = Number.parseInt(digest.slice(10, 12), 16);
  const pods: JsonObject[] = [];
  for (let i = 0; i < replicas; i += 1) {
    const name = `${String(meta.name)}-${suffix}-${i}`;
    const podIP = `10.244.${subnet}.${i + 1}`;
    const created = meta.creationTimestamp;
    pods.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: meta.namespace,
        uid: uidOf(digestOf(`${String(meta.uid)}/${i}`)),
        resourceVersion: meta.resourceVersion,
        creationTimestamp: created,
        labels,
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: `${String(meta.name)}-${suffix}`,
            uid: uidOf(digestOf(`${String(meta.uid)}/rs`)),
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: isObject(template.spec) ? clone(template.spec) : {},
      status: {
        phase: 'Running',
        conditions: [
          { type: 'Initialized', status: 'True', lastTransitionTime: created },
          { type: 'Ready', status: 'True', lastTransitionTime: created },
          { type: 'ContainersReady', status: 'True', lastTransitionTime: created },
          { type: 'PodScheduled', status: 'True', lastTransitionTime: created },
        ],
        podIP,
        podIPs: [{ ip: podIP }],
        startTime: created,
      },
    });
  }
  return pods;
}

function uidOf(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
