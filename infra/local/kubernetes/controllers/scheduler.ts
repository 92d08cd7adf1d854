/**
 * The scheduler: binds each Pending pod to a node that passes the default filters in their real
 * order (NodeUnschedulable, TaintToleration, NodeAffinity incl. nodeSelector, NodeResourcesFit),
 * preferring the least allocated node. A pod no node fits stays Pending with `PodScheduled=False`,
 * reason `Unschedulable` and kube-scheduler's message. Without a node pool source every pod is
 * bound to `local-node` at once, without checks.
 */
import type { JsonObject } from '../json';
import {
  arr,
  type Ctx,
  conditionOf,
  isTerminating,
  labelsOf,
  meta,
  NODE,
  nameOf,
  obj,
  POD,
  podRequests,
  spec,
  status,
  str,
  uidOf,
} from './context';
import { parseQuantity } from './quantity';

export const LOCAL_NODE = 'local-node';

export interface NodeFit {
  node: JsonObject;
  /** Allocatable minus what bound pods request. */
  free: Record<string, number>;
  pods: number;
}

function tolerates(tolerations: JsonObject[], taint: JsonObject): boolean {
  return tolerations.some((t) => {
    if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return t.key === undefined || t.key === '' || t.key === taint.key;
    return t.key === taint.key && String(t.value ?? '') === String(taint.value ?? '');
  });
}

function matchExpression(e: JsonObject, labels: Record<string, string>): boolean {
  const key = String(e.key ?? '');
  const values = Array.isArray(e.values) ? e.values.map(String) : [];
  const v = labels[key];
  switch (e.operator) {
    case 'In':
      return v !== undefined && values.includes(v);
    case 'NotIn':
      return v === undefined || !values.includes(v);
    case 'Exists':
      return v !== undefined;
    case 'DoesNotExist':
      return v === undefined;
    case 'Gt':
      return v !== undefined && Number(v) > Number(values[0]);
    case 'Lt':
      return v !== undefined && Number(v) < Number(values[0]);
    default:
      return false;
  }
}

/** nodeSelector and required node affinity (terms ORed, expressions ANDed). */
export function matchesNodeAffinity(pod: JsonObject, node: JsonObject): boolean {
  const labels = labelsOf(node);
  const selector = obj(spec(pod).nodeSelector);
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== String(v)) return false;
  const required = obj(
    obj(obj(spec(pod).affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution,
  );
  if (!Array.isArray(required.nodeSelectorTerms)) return true;
  return arr(required.nodeSelectorTerms).some((term) => {
    const exprs = arr(term.matchExpressions);
    const fields = arr(term.matchFields);
    if (exprs.length === 0 && fields.length === 0) return false;
    return (
      exprs.every((e) => matchExpression(e, labels)) &&
      fields.every((e) => matchExpression(e, { 'metadata.name': nameOf(node) }))
    );
  });
}

/** Why a node does not fit a pod, in kube-scheduler's words (empty: it fits). */
export function filterNode(pod: JsonObject, fit: NodeFit): string[] {
  const node = fit.node;
  if (spec(node).unschedulable === true) return ['node(s) were unschedulable'];
  const tolerations = arr(spec(pod).tolerations);
  const untolerated = arr(spec(node).taints).find(
    (t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(tolerations, t),
  );
  if (untolerated)
    return [`node(s) had untolerated taint {${String(untolerated.key)}: ${String(untolerated.value ?? '')}}`];
  if (!matchesNodeAffinity(pod, node)) return ["node(s) didn't match Pod's node affinity/selector"];
  const reasons: string[] = [];
  if ((fit.free.pods ?? 0) < 1) reasons.push('Too many pods');
  for (const [k, want] of Object.entries(podRequests(pod))) {
    if (want <= 0 || k === 'pods') continue;
    if (want > (fit.free[k] ?? 0) + 1e-9) reasons.push(`Insufficient ${k}`);
  }
  return reasons;
}

/** The scheduler's view of every node: free resources after the pods bound to it. */
export function nodeFits(nodes: JsonObject[], pods: JsonObject[]): Map<string, NodeFit> {
  const fits = new Map<string, NodeFit>();
  for (const node of nodes) {
    const free: Record<string, number> = {};
    for (const [k, v] of Object.entries(obj(status(node).allocatable))) free[k] = parseQuantity(v);
    fits.set(nameOf(node), { node, free, pods: 0 });
  }
  for (const pod of pods) {
    const fit = fits.get(String(spec(pod).nodeName ?? ''));
    const phase = status(pod).phase;
    if (!fit || phase === 'Succeeded' || phase === 'Failed') continue;
    take(fit, pod);
  }
  return fits;
}

export function take(fit: NodeFit, pod: JsonObject): void {
  for (const [k, v] of Object.entries(podRequests(pod))) fit.free[k] = (fit.free[k] ?? 0) - v;
  fit.free.pods = (fit.free.pods ?? 0) - 1;
  fit.pods += 1;
}

/** kube-scheduler's FitError message: sorted "<count> <reason>" items, then the preemption verdict. */
export function unschedulableMessage(total: number, reasons: string[][]): string {
  if (total === 0) return 'no nodes available to schedule pods';
  const histogram = new Map<string, number>();
  const preemption = new Map<string, number>();
  for (const r of reasons) {
    for (const reason of new Set(r)) histogram.set(reason, (histogram.get(reason) ?? 0) + 1);
    const verdict = r.every((x) => x.startsWith('Insufficient ') || x === 'Too many pods')
      ? 'No preemption victims found for incoming pod'
      : 'Preemption is not helpful for scheduling';
    preemption.set(verdict, (preemption.get(verdict) ?? 0) + 1);
  }
  const sorted = (m: Map<string, number>) =>
    [...m]
      .map(([k, n]) => `${n} ${k}`)
      .sort()
      .join(', ');
  return `0/${total} nodes are available: ${sorted(histogram)}. preemption: 0/${total} nodes are available: ${sorted(preemption)}.`;
}

function score(pod: JsonObject, fit: NodeFit): number {
  const req = podRequests(pod);
  const alloc = obj(status(fit.node).allocatable);
  let sum = 0;
  for (const k of ['cpu', 'memory']) {
    const a = parseQuantity(alloc[k]);
    if (!(a > 0)) continue;
    sum += ((fit.free[k] ?? 0) - (req[k] ?? 0)) / a;
  }
  return sum / 2;
}

export function isPendingUnbound(pod: JsonObject): boolean {
  return (
    str(spec(pod).nodeName) === undefined &&
    !isTerminating(pod) &&
    (spec(pod).schedulerName ?? 'default-scheduler') === 'default-scheduler'
  );
}

export function schedule(ctx: Ctx): void {
  const candidates = ctx.work('scheduler', POD);
  // A pod no node fitted waits for any change in the cluster: it is looked at on every pass.
  const seen = new Set(candidates.map(uidOf));
  for (const uid of ctx.memo.unschedulableSince.keys()) {
    const at = seen.has(uid) ? undefined : ctx.store.locate(uid);
    const pod = at?.plural === POD.plural ? ctx.get(POD, at.namespace, at.name) : undefined;
    if (pod) candidates.push(pod);
  }
  const pending = candidates
    .filter(isPendingUnbound)
    .sort(
      (a, b) =>
        String(meta(a).creationTimestamp).localeCompare(String(meta(b).creationTimestamp)) ||
        nameOf(a).localeCompare(nameOf(b)),
    );
  if (pending.length === 0) return;
  const pods = ctx.list(POD);
  const nodes = ctx.opts.nodePools ? ctx.list(NODE) : undefined;
  const fits = nodes ? nodeFits(nodes, pods) : undefined;
  const now = ctx.now();
  for (const pod of pending) {
    let chosen: NodeFit | undefined;
    const reasons: string[][] = [];
    if (fits) {
      for (const fit of fits.values()) {
        const r = filterNode(pod, fit);
        if (r.length > 0) reasons.push(r);
        else if (!chosen || score(pod, fit) > score(pod, chosen)) chosen = fit;
      }
    }
    const id = `${String(meta(pod).namespace)}/${nameOf(pod)}`;
    if (fits && !chosen) {
      const message = unschedulableMessage(fits.size, reasons);
      const prev = conditionOf(pod, 'PodScheduled');
      if (!ctx.memo.unschedulableSince.has(uidOf(pod))) ctx.memo.unschedulableSince.set(uidOf(pod), now);
      if (prev?.message !== message || prev.status !== 'False') {
        ctx.record({
          object: `Pod ${id}`,
          type: 'Warning',
          reason: 'FailedScheduling',
          message,
          source: 'default-scheduler',
        });
        ctx.updateStatus(POD, pod, {
          ...status(pod),
          phase: 'Pending',
          conditions: [
            {
              type: 'PodScheduled',
              status: 'False',
              lastProbeTime: null,
              lastTransitionTime: prev?.status === 'False' ? prev.lastTransitionTime : ctx.iso(),
              reason: 'Unschedulable',
              message,
            },
          ],
        });
      }
      continue;
    }
    const nodeName = chosen ? nameOf(chosen.node) : LOCAL_NODE;
    if (chosen) take(chosen, pod);
    const bound = ctx.update(POD, { ...pod, spec: { ...spec(pod), nodeName } });
    if (!bound) continue;
    ctx.memo.unschedulableSince.delete(uidOf(pod));
    ctx.memo.podBoundAt.set(uidOf(pod), now);
    ctx.record({
      object: `Pod ${id}`,
      type: 'Normal',
      reason: 'Scheduled',
      message: `Successfully assigned ${id} to ${nodeName}`,
      source: 'default-scheduler',
    });
    ctx.updateStatus(POD, bound, {
      ...status(bound),
      phase: 'Pending',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: ctx.iso() },
      ],
    });
  }
}
