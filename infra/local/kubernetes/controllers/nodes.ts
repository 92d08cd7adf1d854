/**
 * Node controller: one v1 Node per live GKE node of each pool (the pool view's nodeCountPerZone),
 * named and labelled as GKE names and labels them. A new Node registers NotReady (with the
 * `node.kubernetes.io/not-ready:NoSchedule` taint) and turns Ready `nodeStartupMs` later. When a
 * pool shrinks its Nodes go (the cluster autoscaler's chosen node first), and the pods bound to a
 * vanished Node are deleted, so their ReplicaSets recreate them elsewhere.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { JsonObject } from '../json';
import {
  arr,
  type Ctx,
  conditionOf,
  labelsOf,
  meta,
  NODE,
  nameOf,
  obj,
  POD,
  spec,
  status,
  str,
} from './context';
import { machineShape, nodeResources } from './machines';
import type { LocalNodePoolView } from './types';

export const POOL_LABEL = 'cloud.google.com/gke-nodepool';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
/** The cluster autoscaler's mark on a node it is removing. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';
export const GPU_TAINT = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' } as const;

const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** GKE's instance-group id in node names: 8 hex digits per (cluster, pool, zone). */
function groupId(cluster: string, pool: string, zone: string): string {
  return createHash('sha256').update(`${cluster}/${pool}/${zone}`).digest('hex').slice(0, 8);
}

/** `gke-<cluster>-<pool>-<8 hex>-<4 chars>`, cluster and pool cut so the name fits 63 characters. */
export function nodeName(cluster: string, pool: string, zone: string, taken: ReadonlySet<string>): string {
  const room = 63 - 'gke-'.length - '-xxxxxxxx-xxxx'.length - 1;
  const c = cluster.slice(
    0,
    Math.max(1, Math.min(cluster.length, room - Math.min(pool.length, Math.ceil(room / 2)))),
  );
  const p = pool.slice(0, room - c.length);
  for (;;) {
    let tail = '';
    for (let i = 0; i < 4; i += 1) tail += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
    const name = `gke-${c}-${p}-${groupId(cluster, pool, zone)}-${tail}`.replace(/-+/g, '-');
    if (!taken.has(name)) return name;
  }
}

/** The taints GKE puts on a pool's nodes: the pool's own, plus nvidia.com/gpu=present:NoSchedule on GPU pools. */
export function poolTaints(pool: LocalNodePoolView): JsonObject[] {
  const taints: JsonObject[] = pool.taints.map((t) => ({ key: t.key, value: t.value, effect: t.effect }));
  if (pool.accelerator && pool.accelerator.count > 0 && !taints.some((t) => t.key === GPU_TAINT.key)) {
    taints.push({ ...GPU_TAINT });
  }
  return taints;
}

/** Labels of a pool's node in a zone (GKE's, then the pool's own). */
export function poolNodeLabels(pool: LocalNodePoolView, zone: string, name: string): Record<string, string> {
  const region = zone.replace(/-[a-z]$/, '');
  return {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    ...(pool.accelerator && pool.accelerator.count > 0
      ? { 'cloud.google.com/gke-accelerator': pool.accelerator.type, 'cloud.google.com/gke-gpu': 'true' }
      : {}),
    'cloud.google.com/gke-boot-disk': 'pd-balanced',
    'cloud.google.com/gke-container-runtime': 'containerd',
    'cloud.google.com/gke-nodepool': pool.name,
    'cloud.google.com/gke-os-distribution': 'cos',
    ...(pool.spot ? { 'cloud.google.com/gke-spot': 'true' } : {}),
    'cloud.google.com/machine-family': pool.machineType.split('-')[0] ?? pool.machineType,
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'node.kubernetes.io/instance-type': pool.machineType,
    'topology.kubernetes.io/region': region,
    'topology.kubernetes.io/zone': zone,
    ...pool.labels,
  };
}

function nodeConditions(ready: boolean, prev: JsonObject, now: string): JsonObject[] {
  const keep = (type: string, state: string): { lastHeartbeatTime: unknown; lastTransitionTime: unknown } => {
    const c = conditionOf(prev, type);
    return c?.status === state
      ? { lastHeartbeatTime: c.lastHeartbeatTime, lastTransitionTime: c.lastTransitionTime }
      : { lastHeartbeatTime: now, lastTransitionTime: now };
  };
  return [
    {
      type: 'MemoryPressure',
      status: 'False',
      ...keep('MemoryPressure', 'False'),
      reason: 'KubeletHasSufficientMemory',
      message: 'kubelet has sufficient memory available',
    },
    {
      type: 'DiskPressure',
      status: 'False',
      ...keep('DiskPressure', 'False'),
      reason: 'KubeletHasNoDiskPressure',
      message: 'kubelet has no disk pressure',
    },
    {
      type: 'PIDPressure',
      status: 'False',
      ...keep('PIDPressure', 'False'),
      reason: 'KubeletHasSufficientPID',
      message: 'kubelet has sufficient PID available',
    },
    ready
      ? {
          type: 'Ready',
          status: 'True',
          ...keep('Ready', 'True'),
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
        }
      : {
          type: 'Ready',
          status: 'False',
          ...keep('Ready', 'False'),
          reason: 'KubeletNotReady',
          message:
            'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized',
        },
  ];
}

export function isNodeReady(node: JsonObject): boolean {
  return conditionOf(node, 'Ready')?.status === 'True';
}

/** Which of a shrinking zone's nodes go first: marked by the autoscaler, NotReady, fewest pods, newest. */
function removalOrder(nodes: JsonObject[], podsOn: (n: string) => number): JsonObject[] {
  const key = (n: JsonObject): [number, number, number, string] => [
    arr(spec(n).taints).some((t) => t.key === TO_BE_DELETED_TAINT) ? 0 : 1,
    isNodeReady(n) ? 1 : 0,
    podsOn(nameOf(n)),
    String(meta(n).creationTimestamp ?? ''),
  ];
  return [...nodes].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < 3; i += 1) if (ka[i] !== kb[i]) return Number(ka[i]) - Number(kb[i]);
    return ka[3] < kb[3] ? 1 : ka[3] > kb[3] ? -1 : 0;
  });
}

export function reconcileNodes(ctx: Ctx): void {
  const source = ctx.opts.nodePools;
  if (!source) return;
  const cluster = ctx.opts.cluster ?? 'inference';
  const project = ctx.opts.project ?? 'local-project';
  const pools = source.nodePools();
  const nodes = ctx.list(NODE);
  const pods = ctx.list(POD);
  const podsOn = (n: string) => pods.filter((p) => spec(p).nodeName === n).length;
  const taken = new Set(nodes.map(nameOf));
  const now = ctx.now();

  for (const node of nodes) {
    const pool = pools.find((p) => p.name === labelsOf(node)[POOL_LABEL]);
    const zone = labelsOf(node)[ZONE_LABEL] ?? '';
    if (!pool || !(zone in pool.nodeCountPerZone) || (pool.nodeCountPerZone[zone] ?? 0) <= 0) {
      if (labelsOf(node)[POOL_LABEL] !== undefined)
        removeNode(ctx, node, pool ? 'the pool shrank' : 'the pool is gone');
    }
  }
  for (const pool of pools) {
    for (const [zone, count] of Object.entries(pool.nodeCountPerZone)) {
      const here = ctx
        .list(NODE)
        .filter((n) => labelsOf(n)[POOL_LABEL] === pool.name && labelsOf(n)[ZONE_LABEL] === zone);
      if (here.length > count) {
        for (const n of removalOrder(here, podsOn).slice(0, here.length - count))
          removeNode(ctx, n, 'the pool shrank');
      }
      for (let i = here.length; i < count; i += 1) {
        const name = nodeName(cluster, pool.name, zone, taken);
        taken.add(name);
        ctx.memo.nodeBornAt.set(name, now);
        const cidr = podCidr(ctx);
        const created = ctx.create(
          NODE,
          {
            metadata: {
              name,
              labels: poolNodeLabels(pool, zone, name),
              annotations: {
                'container.googleapis.com/instance_id': String(
                  1000000000000000000 + Math.floor(Math.random() * 1e15),
                ),
                'node.alpha.kubernetes.io/ttl': '0',
              },
            },
            spec: {
              podCIDR: cidr,
              podCIDRs: [cidr],
              providerID: `gce://${project}/${zone}/${name}`,
              taints: [...poolTaints(pool), { key: NOT_READY_TAINT, effect: 'NoSchedule' }],
            },
          },
          'kubelet',
        );
        if (created) {
          ctx.record({
            object: `Node ${name}`,
            type: 'Normal',
            reason: 'RegisteredNode',
            message: `Node ${name} event: Registered Node ${name} in Controller`,
            source: 'node-controller',
          });
        }
      }
    }
  }
  // Status: capacity, addresses, and Ready once the start-up delay has passed.
  for (const node of ctx.list(NODE)) {
    const pool = pools.find((p) => p.name === labelsOf(node)[POOL_LABEL]);
    if (!pool) continue;
    const name = nameOf(node);
    const born = ctx.memo.nodeBornAt.get(name) ?? now - ctx.timings.nodeStartupMs;
    const readyAt = born + ctx.timings.nodeStartupMs;
    const ready = now >= readyAt;
    if (!ready) ctx.wakeAt(readyAt);
    const taints = arr(spec(node).taints);
    const hasNotReady = taints.some((t) => t.key === NOT_READY_TAINT);
    if (ready && hasNotReady) {
      ctx.update(NODE, {
        ...node,
        spec: { ...spec(node), taints: taints.filter((t) => t.key !== NOT_READY_TAINT) },
      });
    }
    const shape = machineShape(pool.machineType, pool.accelerator);
    const { capacity, allocatable } = nodeResources(shape);
    const iso = ctx.iso();
    const index = Number(str(spec(node).podCIDR)?.split('.')[2] ?? 0);
    const prev = status(node);
    const next: JsonObject = {
      capacity,
      allocatable,
      conditions: nodeConditions(ready, node, iso),
      addresses: [
        { type: 'InternalIP', address: `10.128.${Math.floor(index / 250)}.${(index % 250) + 2}` },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        architecture: 'amd64',
        bootID: obj(prev.nodeInfo).bootID ?? randomUUID(),
        containerRuntimeVersion: 'containerd://1.7.22',
        kernelVersion: '6.1.100+',
        kubeProxyVersion: 'v1.31.0-gke.1000',
        kubeletVersion: 'v1.31.0-gke.1000',
        machineID: obj(prev.nodeInfo).machineID ?? randomUUID().replace(/-/g, ''),
        operatingSystem: 'linux',
        osImage: 'Container-Optimized OS from Google',
        systemUUID: obj(prev.nodeInfo).systemUUID ?? randomUUID(),
      },
    };
    if (ready && !isNodeReady(node)) {
      ctx.record({
        object: `Node ${name}`,
        type: 'Normal',
        reason: 'NodeReady',
        message: `Node ${name} status is now: NodeReady`,
        source: 'kubelet',
      });
    }
    // The kubelet patches the fields it owns; others written to nodes/status stay.
    ctx.updateStatus(NODE, ctx.get(NODE, undefined, name) ?? node, { ...prev, ...next });
  }
  // Pod GC: pods bound to a node that no longer exists are deleted at once.
  const live = new Set(ctx.list(NODE).map(nameOf));
  for (const pod of ctx.list(POD)) {
    const n = str(spec(pod).nodeName);
    if (n && !live.has(n)) ctx.remove(POD, pod, 0);
  }
}

function removeNode(ctx: Ctx, node: JsonObject, why: string): void {
  const name = nameOf(node);
  ctx.remove(NODE, node);
  ctx.memo.nodeBornAt.delete(name);
  ctx.memo.nodeIdleSince.delete(name);
  ctx.record({
    object: `Node ${name}`,
    type: 'Normal',
    reason: 'RemovingNode',
    message: `Node ${name} event: Removing Node ${name} from Controller (${why})`,
    source: 'node-controller',
  });
}

/** The lowest free /24 of 10.244.0.0/16 for a new node. */
function podCidr(ctx: Ctx): string {
  const used = new Set(ctx.list(NODE).map((n) => str(spec(n).podCIDR)));
  let i = 1;
  while (used.has(`10.244.${i}.0/24`)) i += 1;
  return `10.244.${i}.0/24`;
}
