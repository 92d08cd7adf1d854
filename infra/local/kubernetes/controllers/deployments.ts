/**
 * The Deployment controller: one ReplicaSet per pod template (`<deploy>-<pod-template-hash>`),
 * rolled per strategy (RollingUpdate with maxSurge/maxUnavailable, or Recreate) the way
 * kube-controller-manager's rolling.go/recreate.go do, old ReplicaSets pruned past
 * revisionHistoryLimit, and the status `kubectl rollout status` reads.
 */
import type { JsonObject } from '../json';
import {
  arr,
  type Ctx,
  DEPLOYMENT,
  intOrPercent,
  isTerminating,
  labelsOf,
  meta,
  msOf,
  nameOf,
  obj,
  ownerRefTo,
  POD,
  REPLICA_SET,
  safeEncode,
  spec,
  status,
} from './context';

export const HASH_LABEL = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';
const DESIRED = 'deployment.kubernetes.io/desired-replicas';
const MAX = 'deployment.kubernetes.io/max-replicas';

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as JsonObject;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** fnv-32a of the template, spelled as the real controller spells it. */
export function podTemplateHash(template: unknown): string {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(canonical(template))) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return safeEncode(String(h));
}

function replicasOf(o: JsonObject): number {
  return typeof spec(o).replicas === 'number' ? Number(spec(o).replicas) : 1;
}

function revisionOf(rs: JsonObject): number {
  return Number(obj(meta(rs).annotations)[REVISION] ?? 0) || 0;
}

function num(o: JsonObject, k: string): number {
  return typeof status(o)[k] === 'number' ? Number(status(o)[k]) : 0;
}

/** maxSurge (rounded up) and maxUnavailable (rounded down); both 0 means maxUnavailable 1. */
export function rollingBounds(d: JsonObject): { surge: number; unavailable: number } {
  const strategy = obj(spec(d).strategy);
  const replicas = replicasOf(d);
  if (strategy.type === 'Recreate') return { surge: 0, unavailable: 0 };
  const ru = obj(strategy.rollingUpdate);
  const surge = intOrPercent(ru.maxSurge ?? '25%', replicas, true);
  let unavailable = intOrPercent(ru.maxUnavailable ?? '25%', replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable: Math.min(unavailable, replicas) };
}

function setCondition(conditions: JsonObject[], next: JsonObject): JsonObject[] {
  const current = conditions.find((c) => c.type === next.type);
  if (current && current.status === next.status && current.reason === next.reason) return conditions;
  const c =
    current && current.status === next.status
      ? { ...next, lastTransitionTime: current.lastTransitionTime }
      : next;
  return [...conditions.filter((x) => x.type !== next.type), c];
}

function condition(type: string, s: boolean, reason: string, message: string, now: string): JsonObject {
  return {
    type,
    status: s ? 'True' : 'False',
    lastUpdateTime: now,
    lastTransitionTime: now,
    reason,
    message,
  };
}

function scaleRs(ctx: Ctx, d: JsonObject, rs: JsonObject, replicas: number, surge: number): JsonObject {
  const annotations = {
    ...obj(meta(rs).annotations),
    [DESIRED]: String(replicasOf(d)),
    [MAX]: String(replicasOf(d) + surge),
  };
  if (
    replicasOf(rs) === replicas &&
    obj(meta(rs).annotations)[DESIRED] === annotations[DESIRED] &&
    obj(meta(rs).annotations)[MAX] === annotations[MAX]
  )
    return rs;
  const written = ctx.update(REPLICA_SET, {
    ...rs,
    metadata: { ...meta(rs), annotations },
    spec: { ...spec(rs), replicas },
  });
  if (written && replicasOf(rs) !== replicas) {
    const ns = String(meta(d).namespace);
    const verb = replicas > replicasOf(rs) ? 'up' : 'down';
    ctx.record({
      object: `Deployment ${ns}/${nameOf(d)}`,
      type: 'Normal',
      reason: 'ScalingReplicaSet',
      message: `Scaled ${verb} replica set ${nameOf(rs)} from ${replicasOf(rs)} to ${replicas}`,
      source: 'deployment-controller',
    });
  }
  return written ?? rs;
}

export function reconcileDeployments(ctx: Ctx): void {
  for (const d of ctx.work('deployment-controller', DEPLOYMENT)) {
    if (isTerminating(d)) continue;
    syncDeployment(ctx, d);
  }
}

function syncDeployment(ctx: Ctx, d: JsonObject): void {
  const ns = String(meta(d).namespace);
  const now = ctx.iso();
  const template = obj(spec(d).template);
  const hash = podTemplateHash(template);
  const replicas = replicasOf(d);
  const { surge, unavailable } = rollingBounds(d);
  const recreate = obj(spec(d).strategy).type === 'Recreate';
  let all = ctx.controlledBy(REPLICA_SET, d);
  let newRs = all.find((rs) => labelsOf(rs)[HASH_LABEL] === hash);
  const old = () =>
    all
      .filter((rs) => rs !== newRs)
      .sort((a, b) => String(meta(a).creationTimestamp).localeCompare(String(meta(b).creationTimestamp)));
  const maxOldRevision = Math.max(0, ...old().map(revisionOf));
  let conditions = arr(status(d).conditions);

  // The new ReplicaSet, created when absent (Recreate: once the old pods are gone).
  const oldPodsRunning = old().some((rs) => ctx.controlledBy(POD, rs).length > 0);
  if (!newRs && !(recreate && (oldPodsRunning || old().some((rs) => replicasOf(rs) > 0)))) {
    const sum = all.reduce((n, rs) => n + replicasOf(rs), 0);
    const initial = recreate ? replicas : Math.max(0, Math.min(replicas + surge - sum, replicas));
    const labels = { ...obj(obj(template.metadata).labels), [HASH_LABEL]: hash };
    const selector = obj(spec(d).selector);
    const name = `${nameOf(d)}-${hash}`;
    const created = ctx.create(REPLICA_SET, {
      metadata: {
        name,
        namespace: ns,
        labels,
        annotations: {
          [DESIRED]: String(replicas),
          [MAX]: String(replicas + surge),
          [REVISION]: String(maxOldRevision + 1),
        },
        ownerReferences: [ownerRefTo(d, 'apps/v1', 'Deployment')],
      },
      spec: {
        replicas: initial,
        ...(spec(d).minReadySeconds !== undefined ? { minReadySeconds: spec(d).minReadySeconds } : {}),
        selector: { ...selector, matchLabels: { ...obj(selector.matchLabels), [HASH_LABEL]: hash } },
        template: { ...template, metadata: { ...obj(template.metadata), labels } },
      },
    });
    if (created) {
      newRs = created;
      all = [...all, created];
      conditions = setCondition(
        conditions,
        condition('Progressing', true, 'NewReplicaSetCreated', `Created new replica set "${name}"`, now),
      );
      if (initial > 0) {
        ctx.record({
          object: `Deployment ${ns}/${nameOf(d)}`,
          type: 'Normal',
          reason: 'ScalingReplicaSet',
          message: `Scaled up replica set ${name} from 0 to ${initial}`,
          source: 'deployment-controller',
        });
      }
    }
  } else if (newRs && revisionOf(newRs) <= maxOldRevision) {
    // Rolled back to an older template: its ReplicaSet takes the next revision.
    newRs =
      ctx.update(REPLICA_SET, {
        ...newRs,
        metadata: {
          ...meta(newRs),
          annotations: { ...obj(meta(newRs).annotations), [REVISION]: String(maxOldRevision + 1) },
        },
      }) ?? newRs;
    all = all.map((rs) => (nameOf(rs) === nameOf(newRs!) ? newRs! : rs));
  }

  if (recreate) {
    for (const rs of old()) if (replicasOf(rs) > 0) scaleRs(ctx, d, rs, 0, surge);
    if (newRs && !oldPodsRunning) newRs = scaleRs(ctx, d, newRs, replicas, surge);
  } else if (newRs) {
    // reconcileNewReplicaSet
    const current = replicasOf(newRs);
    if (current > replicas) newRs = scaleRs(ctx, d, newRs, replicas, surge);
    else if (current < replicas) {
      const total = all.reduce((n, rs) => n + replicasOf(rs), 0);
      const up = Math.min(replicas + surge - total, replicas - current);
      if (up > 0) newRs = scaleRs(ctx, d, newRs, current + up, surge);
    }
    all = all.map((rs) => (nameOf(rs) === nameOf(newRs!) ? newRs! : rs));
    // reconcileOldReplicaSets
    const olds = old();
    if (olds.some((rs) => replicasOf(rs) > 0)) {
      const allPods = all.reduce((n, rs) => n + replicasOf(rs), 0);
      const minAvailable = replicas - unavailable;
      const newUnavailable = replicasOf(newRs) - num(newRs, 'availableReplicas');
      let maxScaledDown = allPods - minAvailable - newUnavailable;
      if (maxScaledDown > 0) {
        // cleanupUnhealthyReplicas: old pods that are not available go first.
        for (const rs of olds) {
          if (maxScaledDown <= 0) break;
          const unhealthy = replicasOf(rs) - num(rs, 'availableReplicas');
          if (unhealthy <= 0 || replicasOf(rs) === 0) continue;
          const down = Math.min(maxScaledDown, unhealthy);
          scaleRs(ctx, d, rs, replicasOf(rs) - down, surge);
          maxScaledDown -= down;
        }
        // scaleDownOldReplicaSetsForRollingUpdate: only as far as availability allows.
        const fresh = ctx.controlledBy(REPLICA_SET, d);
        const available = fresh.reduce((n, rs) => n + num(rs, 'availableReplicas'), 0);
        let budget = available - minAvailable;
        for (const rs of fresh
          .filter((r) => labelsOf(r)[HASH_LABEL] !== hash)
          .sort((a, b) =>
            String(meta(a).creationTimestamp).localeCompare(String(meta(b).creationTimestamp)),
          )) {
          if (budget <= 0) break;
          if (replicasOf(rs) === 0) continue;
          const down = Math.min(replicasOf(rs), budget);
          scaleRs(ctx, d, rs, replicasOf(rs) - down, surge);
          budget -= down;
        }
      }
    }
  }

  all = ctx.controlledBy(REPLICA_SET, d);
  newRs = all.find((rs) => labelsOf(rs)[HASH_LABEL] === hash);
  cleanupHistory(ctx, d, all, newRs);

  // The Deployment's revision annotation follows its new ReplicaSet.
  if (newRs) {
    const rev = String(revisionOf(newRs));
    if (obj(meta(d).annotations)[REVISION] !== rev) {
      ctx.update(DEPLOYMENT, {
        ...d,
        metadata: { ...meta(d), annotations: { ...obj(meta(d).annotations), [REVISION]: rev } },
      });
    }
  }

  // calculateStatus + syncRolloutStatus
  const prev = status(d);
  const total = all.reduce((n, rs) => n + replicasOf(rs), 0);
  const actual = all.reduce((n, rs) => n + num(rs, 'replicas'), 0);
  const updated = newRs ? num(newRs, 'replicas') : 0;
  const ready = all.reduce((n, rs) => n + num(rs, 'readyReplicas'), 0);
  const available = all.reduce((n, rs) => n + num(rs, 'availableReplicas'), 0);
  const unavailableNow = Math.max(0, total - available);
  const generation = meta(d).generation;
  conditions = setCondition(
    conditions,
    available >= replicas - (recreate || replicas === 0 ? 0 : unavailable)
      ? condition('Available', true, 'MinimumReplicasAvailable', 'Deployment has minimum availability.', now)
      : condition(
          'Available',
          false,
          'MinimumReplicasUnavailable',
          'Deployment does not have minimum availability.',
          now,
        ),
  );
  const next: JsonObject = {
    observedGeneration: generation,
    ...(actual > 0 ? { replicas: actual } : {}),
    ...(updated > 0 ? { updatedReplicas: updated } : {}),
    ...(ready > 0 ? { readyReplicas: ready } : {}),
    ...(available > 0 ? { availableReplicas: available } : {}),
    ...(unavailableNow > 0 ? { unavailableReplicas: unavailableNow } : {}),
  };
  const rsName = newRs ? nameOf(newRs) : nameOf(d);
  const complete = updated === replicas && actual === replicas && available === replicas;
  const progressed =
    updated > num(d, 'updatedReplicas') ||
    actual < num(d, 'replicas') ||
    ready > num(d, 'readyReplicas') ||
    available > num(d, 'availableReplicas');
  const progressing = conditions.find((c) => c.type === 'Progressing');
  if (complete) {
    conditions = setCondition(
      conditions,
      condition(
        'Progressing',
        true,
        'NewReplicaSetAvailable',
        `ReplicaSet "${rsName}" has successfully progressed.`,
        now,
      ),
    );
  } else if (progressed) {
    const c = condition(
      'Progressing',
      true,
      'ReplicaSetUpdated',
      `ReplicaSet "${rsName}" is progressing.`,
      now,
    );
    if (progressing?.status === 'True') c.lastTransitionTime = progressing.lastTransitionTime;
    conditions = [...conditions.filter((x) => x.type !== 'Progressing'), c];
  } else if (
    progressing &&
    progressing.reason !== 'NewReplicaSetAvailable' &&
    progressing.status === 'True'
  ) {
    const deadline = Number(spec(d).progressDeadlineSeconds ?? 600) * 1000;
    const since = msOf(progressing.lastUpdateTime) ?? ctx.now();
    if (ctx.now() >= since + deadline) {
      conditions = setCondition(
        conditions,
        condition(
          'Progressing',
          false,
          'ProgressDeadlineExceeded',
          `ReplicaSet "${rsName}" has timed out progressing.`,
          now,
        ),
      );
    } else ctx.wakeAt(since + deadline);
  } else if (!progressing && newRs) {
    conditions = setCondition(
      conditions,
      condition('Progressing', true, 'FoundNewReplicaSet', `Found new replica set "${rsName}"`, now),
    );
  }
  next.conditions = conditions;
  if (prev.collisionCount !== undefined) next.collisionCount = prev.collisionCount;
  ctx.updateStatus(DEPLOYMENT, ctx.get(DEPLOYMENT, ns, nameOf(d)) ?? d, next);
}

/** Old ReplicaSets scaled to 0 with no pods, beyond revisionHistoryLimit, oldest first. */
function cleanupHistory(ctx: Ctx, d: JsonObject, all: JsonObject[], newRs: JsonObject | undefined): void {
  const limit = Number(spec(d).revisionHistoryLimit ?? 10);
  const idle = all
    .filter((rs) => rs !== newRs && replicasOf(rs) === 0 && num(rs, 'replicas') === 0)
    .sort((a, b) => revisionOf(a) - revisionOf(b));
  for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) ctx.remove(REPLICA_SET, rs);
}
