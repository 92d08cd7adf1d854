/**
 * The ReplicaSet controller: keeps `spec.replicas` active pods per ReplicaSet (`<rs>-<5 chars>`,
 * controller ownerReference), deleting the least valuable first (unbound, Pending, not ready,
 * ready for less time, newest), and writes the status the real controller writes.
 */
import type { JsonObject } from '../json';
import { type LabelSelector, matchesRequirements, selectorRequirements } from '../selectors';
import {
  type Ctx,
  isActivePod,
  isPodReady,
  meta,
  nameOf,
  obj,
  ownerRefTo,
  POD,
  REPLICA_SET,
  randomSuffix,
  spec,
  status,
  str,
  uidOf,
} from './context';

/** Ready for at least minReadySeconds now; otherwise asks for a wake-up when it will be. */
export function isAvailable(ctx: Ctx, pod: JsonObject, minReadySeconds: number): boolean {
  if (!isPodReady(pod) || !isActivePod(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const since = ctx.memo.podReadyAt.get(uidOf(pod)) ?? ctx.now();
  const at = since + minReadySeconds * 1000;
  if (ctx.now() >= at) return true;
  ctx.wakeAt(at);
  return false;
}

function rank(ctx: Ctx, pod: JsonObject): number[] {
  const phase = status(pod).phase;
  const readyAt = ctx.memo.podReadyAt.get(uidOf(pod)) ?? 0;
  const created = Date.parse(String(meta(pod).creationTimestamp ?? '')) || 0;
  return [
    str(spec(pod).nodeName) ? 1 : 0,
    phase === 'Pending' ? 0 : phase === 'Running' ? 2 : 1,
    isPodReady(pod) ? 1 : 0,
    -readyAt,
    -created,
  ];
}

/** Active pods in deletion order: the first ones go first. */
function deletionOrder(ctx: Ctx, pods: JsonObject[]): JsonObject[] {
  return [...pods].sort((a, b) => {
    const ra = rank(ctx, a);
    const rb = rank(ctx, b);
    for (let i = 0; i < ra.length; i += 1) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
    return nameOf(b).localeCompare(nameOf(a));
  });
}

export function reconcileReplicaSets(ctx: Ctx): void {
  for (const rs of ctx.work('replicaset-controller', REPLICA_SET)) {
    if (meta(rs).deletionTimestamp !== undefined) continue;
    const ns = String(meta(rs).namespace);
    const desired = typeof spec(rs).replicas === 'number' ? Number(spec(rs).replicas) : 1;
    const template = obj(spec(rs).template);
    let active = ctx.controlledBy(POD, rs).filter(isActivePod);
    if (active.length < desired) {
      const taken = new Set<string>();
      for (let i = active.length; i < desired; i += 1) {
        let name: string;
        do name = `${nameOf(rs)}-${randomSuffix(5)}`;
        while (taken.has(name) || ctx.get(POD, ns, name));
        taken.add(name);
        const tmeta = obj(template.metadata);
        const created = ctx.create(POD, {
          metadata: {
            name,
            generateName: `${nameOf(rs)}-`,
            namespace: ns,
            ...(tmeta.labels ? { labels: tmeta.labels } : {}),
            ...(tmeta.annotations ? { annotations: tmeta.annotations } : {}),
            ownerReferences: [ownerRefTo(rs, 'apps/v1', 'ReplicaSet')],
          },
          spec: obj(template.spec),
        });
        if (created) {
          ctx.record({
            object: `ReplicaSet ${ns}/${nameOf(rs)}`,
            type: 'Normal',
            reason: 'SuccessfulCreate',
            message: `Created pod: ${name}`,
            source: 'replicaset-controller',
          });
        }
      }
    } else if (active.length > desired) {
      for (const pod of deletionOrder(ctx, active).slice(0, active.length - desired)) {
        ctx.remove(POD, pod);
        ctx.record({
          object: `ReplicaSet ${ns}/${nameOf(rs)}`,
          type: 'Normal',
          reason: 'SuccessfulDelete',
          message: `Deleted pod: ${nameOf(pod)}`,
          source: 'replicaset-controller',
        });
      }
    }
    active = ctx.controlledBy(POD, rs).filter(isActivePod);
    const labels = obj(obj(template.metadata).labels) as Record<string, string>;
    const reqs = selectorRequirements({ matchLabels: labels } as LabelSelector);
    const minReady = Number(spec(rs).minReadySeconds ?? 0);
    const ready = active.filter(isPodReady).length;
    const available = active.filter((p) => isAvailable(ctx, p, minReady)).length;
    const fully = active.filter((p) =>
      matchesRequirements(reqs, obj(meta(p).labels) as Record<string, string>),
    ).length;
    const next: JsonObject = {
      replicas: active.length,
      ...(fully > 0 ? { fullyLabeledReplicas: fully } : {}),
      ...(ready > 0 ? { readyReplicas: ready } : {}),
      ...(available > 0 ? { availableReplicas: available } : {}),
      observedGeneration: meta(rs).generation,
    };
    ctx.updateStatus(REPLICA_SET, ctx.get(REPLICA_SET, ns, nameOf(rs)) ?? rs, next);
  }
}
