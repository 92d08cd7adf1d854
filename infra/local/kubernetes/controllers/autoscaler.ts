/**
 * The cluster autoscaler, for pools with autoscaling enabled. Scale-up: pods unschedulable for
 * `scaleUpDelayMs` that a new node of a pool would fit (and that no node still starting will
 * take) grow that pool by as many nodes as they need, within maxNodeCount per zone or
 * totalMaxNodeCount, in the zone with the fewest nodes. Scale-down: a Ready node without
 * non-DaemonSet pods for `scaleDownIdleMs` is tainted ToBeDeletedByClusterAutoscaler and its zone
 * shrunk by one, never below minNodeCount per zone / totalMinNodeCount. Every decision is
 * recorded (ClusterControllers.events()).
 */
import type { JsonObject } from '../json';
import {
  arr,
  type Ctx,
  controllerRef,
  labelsOf,
  meta,
  NODE,
  nameOf,
  POD,
  spec,
  status,
  str,
  uidOf,
} from './context';
import { machineShape, nodeResources } from './machines';
import {
  isNodeReady,
  NOT_READY_TAINT,
  POOL_LABEL,
  poolNodeLabels,
  poolTaints,
  TO_BE_DELETED_TAINT,
  ZONE_LABEL,
} from './nodes';
import { parseQuantity } from './quantity';
import { filterNode, isPendingUnbound, type NodeFit, nodeFits, take } from './scheduler';
import type { LocalNodePoolView } from './types';

function templateFit(pool: LocalNodePoolView, zone: string): NodeFit {
  const { allocatable } = nodeResources(machineShape(pool.machineType, pool.accelerator));
  const node: JsonObject = {
    metadata: {
      name: `template-node-for-${pool.name}`,
      labels: poolNodeLabels(pool, zone, `template-node-for-${pool.name}`),
    },
    spec: { taints: poolTaints(pool) },
    status: { allocatable },
  };
  const free: Record<string, number> = {};
  for (const [k, v] of Object.entries(allocatable)) free[k] = parseQuantity(v);
  return { node, free, pods: 0 };
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function canGrow(pool: LocalNodePoolView, counts: Record<string, number>, zone: string): boolean {
  const a = pool.autoscaling!;
  if (a.totalMaxNodeCount !== undefined && total(counts) >= a.totalMaxNodeCount) return false;
  if (
    a.totalMaxNodeCount === undefined &&
    a.maxNodeCount !== undefined &&
    (counts[zone] ?? 0) >= a.maxNodeCount
  )
    return false;
  return true;
}

function maxOf(pool: LocalNodePoolView): number {
  const a = pool.autoscaling!;
  return a.totalMaxNodeCount ?? (a.maxNodeCount ?? 0) * pool.zones.length;
}

function canShrink(pool: LocalNodePoolView, counts: Record<string, number>, zone: string): boolean {
  const a = pool.autoscaling!;
  if (a.totalMinNodeCount !== undefined) return total(counts) > a.totalMinNodeCount;
  return (counts[zone] ?? 0) > (a.minNodeCount ?? 0);
}

function isDaemonSetPod(pod: JsonObject): boolean {
  return (
    controllerRef(pod)?.kind === 'DaemonSet' ||
    obj2(meta(pod).annotations)['kubernetes.io/config.mirror'] !== undefined
  );
}

function obj2(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

export function autoscale(ctx: Ctx): void {
  const source = ctx.opts.nodePools;
  if (!source) return;
  const pools = source.nodePools().filter((p) => p.autoscaling?.enabled === true);
  if (pools.length === 0) return;
  const now = ctx.now();
  const nodes = ctx.list(NODE);
  const pods = ctx.list(POD);

  // Scale-up.
  const waiting = pods.filter((p) => {
    if (!isPendingUnbound(p)) return false;
    const since = ctx.memo.unschedulableSince.get(uidOf(p));
    if (since === undefined) return false;
    if (now < since + ctx.timings.scaleUpDelayMs) {
      ctx.wakeAt(since + ctx.timings.scaleUpDelayMs);
      return false;
    }
    return true;
  });
  if (waiting.length > 0) {
    // Nodes still starting will take some: simulate them as if Ready.
    const upcoming = nodes
      .filter((n) => !isNodeReady(n) && labelsOf(n)[POOL_LABEL] !== undefined)
      .map((n) => ({
        ...n,
        spec: { ...spec(n), taints: arr(spec(n).taints).filter((t) => t.key !== NOT_READY_TAINT) },
      }));
    const upcomingFits = [...nodeFits(upcoming, pods).values()];
    const growth = new Map<
      string,
      { pool: LocalNodePoolView; counts: Record<string, number>; added: NodeFit[]; pods: string[] }
    >();
    const blocked: string[] = [];
    for (const pod of waiting) {
      const onUpcoming = upcomingFits.find((f) => filterNode(pod, f).length === 0);
      if (onUpcoming) {
        take(onUpcoming, pod);
        continue;
      }
      let placed = false;
      for (const plan of growth.values()) {
        const fit = plan.added.find((f) => filterNode(pod, f).length === 0);
        if (fit) {
          take(fit, pod);
          plan.pods.push(nameOf(pod));
          placed = true;
          break;
        }
      }
      if (placed) continue;
      let reason = "pod didn't trigger scale-up: no node group would fit it";
      for (const pool of [...pools].sort((a, b) => a.name.localeCompare(b.name))) {
        // A resize asked for and not yet visible in the pool: wait for it rather than ask twice.
        // (A stockout may leave it short for good: after a minute, ask again.)
        const asked = ctx.memo.requestedTotal.get(pool.name);
        if (asked && total(pool.nodeCountPerZone) < asked.total && now < asked.at + 60_000) {
          ctx.wakeAt(asked.at + 60_000);
          reason = `pod didn't trigger scale-up: a scale-up of ${pool.name} is in progress`;
          continue;
        }
        ctx.memo.requestedTotal.delete(pool.name);
        const plan = growth.get(pool.name) ?? {
          pool,
          counts: { ...pool.nodeCountPerZone },
          added: [],
          pods: [],
        };
        const zones = pool.zones.length > 0 ? pool.zones : Object.keys(pool.nodeCountPerZone);
        const zone = [...zones].sort(
          (a, b) => (plan.counts[a] ?? 0) - (plan.counts[b] ?? 0) || a.localeCompare(b),
        )[0];
        if (zone === undefined) continue;
        const fit = templateFit(pool, zone);
        if (filterNode(pod, fit).length > 0) continue;
        if (!canGrow(pool, plan.counts, zone)) {
          reason = `pod didn't trigger scale-up: 1 max node group size reached (${pool.name})`;
          continue;
        }
        plan.counts[zone] = (plan.counts[zone] ?? 0) + 1;
        take(fit, pod);
        plan.added.push(fit);
        plan.pods.push(nameOf(pod));
        growth.set(pool.name, plan);
        placed = true;
        break;
      }
      if (!placed && ctx.memo.notTriggered.get(uidOf(pod)) !== reason) {
        ctx.memo.notTriggered.set(uidOf(pod), reason);
        blocked.push(`${String(meta(pod).namespace)}/${nameOf(pod)}: ${reason}`);
      }
    }
    for (const plan of growth.values()) {
      const before = total(plan.pool.nodeCountPerZone);
      const after = total(plan.counts);
      ctx.record({
        object: `NodePool ${plan.pool.name}`,
        type: 'Normal',
        reason: 'TriggeredScaleUp',
        message: `pod triggered scale-up: [{${plan.pool.name} ${before}->${after} (max: ${maxOf(plan.pool)})}] for ${plan.pods.join(', ')}`,
        source: 'cluster-autoscaler',
      });
      ctx.memo.requestedTotal.set(plan.pool.name, { total: after, at: now });
      source.autoscale(plan.pool.name, plan.counts);
    }
    for (const b of blocked) {
      const [object, ...why] = b.split(': ');
      ctx.record({
        object: `Pod ${object}`,
        type: 'Normal',
        reason: 'NotTriggerScaleUp',
        message: why.join(': '),
        source: 'cluster-autoscaler',
      });
    }
  }

  // Scale-down.
  const fresh = source.nodePools().filter((p) => p.autoscaling?.enabled === true);
  // Sizes this pass already asked for (the views are the source's: never written to).
  const shrunk = new Map<string, Record<string, number>>();
  for (const node of ctx.list(NODE)) {
    const name = nameOf(node);
    const pool = fresh.find((p) => p.name === labelsOf(node)[POOL_LABEL]);
    if (!pool || !isNodeReady(node) || arr(spec(node).taints).some((t) => t.key === TO_BE_DELETED_TAINT)) {
      ctx.memo.nodeIdleSince.delete(name);
      continue;
    }
    const busy = pods.some(
      (p) =>
        str(spec(p).nodeName) === name &&
        !isDaemonSetPod(p) &&
        status(p).phase !== 'Succeeded' &&
        status(p).phase !== 'Failed',
    );
    if (busy) {
      ctx.memo.nodeIdleSince.delete(name);
      continue;
    }
    const since = ctx.memo.nodeIdleSince.get(name) ?? now;
    ctx.memo.nodeIdleSince.set(name, since);
    const due = since + ctx.timings.scaleDownIdleMs;
    if (now < due) {
      ctx.wakeAt(due);
      continue;
    }
    const zone = labelsOf(node)[ZONE_LABEL] ?? '';
    const counts = { ...(shrunk.get(pool.name) ?? pool.nodeCountPerZone) };
    if (!canShrink(pool, counts, zone)) continue;
    counts[zone] = Math.max(0, (counts[zone] ?? 0) - 1);
    ctx.update(NODE, {
      ...node,
      spec: {
        ...spec(node),
        unschedulable: true,
        taints: [
          ...arr(spec(node).taints),
          { key: TO_BE_DELETED_TAINT, value: String(Math.floor(now / 1000)), effect: 'NoSchedule' },
        ],
      },
    });
    ctx.record({
      object: `Node ${name}`,
      type: 'Normal',
      reason: 'ScaleDown',
      message: `node removed by cluster autoscaler: empty for ${Math.round((now - since) / 1000)}s (pool ${pool.name} ${total(pool.nodeCountPerZone)}->${total(counts)})`,
      source: 'cluster-autoscaler',
    });
    ctx.memo.nodeIdleSince.delete(name);
    source.autoscale(pool.name, counts);
    shrunk.set(pool.name, counts);
  }
}
