/**
 * The kubelets: a bound pod gets a host IP and start time, its containers come up
 * `containerStartMs` later (Running, pod IP), and it turns Ready when the readiness hook says so
 * (asked every `readinessPeriodMs`; no hook: at once). A deleted pod stays Terminating for
 * `podTerminationMs` (capped by its grace period), then its kubelet removes it.
 */
import { createHash } from 'node:crypto';
import type { JsonObject } from '../json';
import {
  arr,
  type Ctx,
  conditionOf,
  isTerminating,
  meta,
  msOf,
  NODE,
  nameOf,
  POD,
  spec,
  status,
  str,
  uidOf,
} from './context';
import { isNodeReady } from './nodes';
import { LOCAL_NODE } from './scheduler';

function hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function podCondition(
  pod: JsonObject,
  type: string,
  value: boolean,
  now: string,
  extra: JsonObject = {},
): JsonObject {
  const prev = conditionOf(pod, type);
  const s = value ? 'True' : 'False';
  return {
    type,
    status: s,
    lastProbeTime: null,
    lastTransitionTime: prev?.status === s ? prev.lastTransitionTime : now,
    ...(value ? {} : extra),
  };
}

/** The lowest free address of the node's pod range (10.244.<n>.0/24), or of 10.244.0.0/16 for `local-node`. */
function allocatePodIp(node: JsonObject | undefined, used: Set<string>): string {
  const cidr = node ? str(spec(node).podCIDR) : undefined;
  if (cidr) {
    const [a, b, c] = cidr.split('.');
    for (let i = 2; i < 255; i += 1) {
      const ip = `${a}.${b}.${c}.${i}`;
      if (!used.has(ip)) return ip;
    }
  }
  for (let n = 0; ; n += 1) {
    const ip = `10.244.${Math.floor(n / 250)}.${(n % 250) + 2}`;
    if (!used.has(ip)) return ip;
  }
}

function readiness(ctx: Ctx, pod: JsonObject): boolean {
  const hook = ctx.opts.readiness;
  if (!hook) return true;
  const uid = uidOf(pod);
  const now = ctx.now();
  const probe = ctx.memo.probes.get(uid) ?? { nextAt: now, inFlight: false };
  ctx.memo.probes.set(uid, probe);
  if (!probe.inFlight && now >= probe.nextAt) {
    probe.nextAt = now + ctx.timings.readinessPeriodMs;
    let answer: boolean | Promise<boolean>;
    try {
      answer = hook(structuredClone(pod)); // the cached object is shared: the hook gets its own
    } catch {
      answer = false;
    }
    if (typeof answer === 'boolean') {
      probe.ready = answer;
    } else {
      probe.inFlight = true;
      answer
        .then(
          (ok) => ok === true,
          () => false,
        )
        .then((ok) => {
          probe.inFlight = false;
          probe.ready = ok;
          // Always: the pass that started this probe could not ask for the next one.
          ctx.kick();
        });
    }
  }
  if (!probe.inFlight) ctx.wakeAt(probe.nextAt);
  return probe.ready === true;
}

export function runKubelets(ctx: Ctx): void {
  const nodes = new Map(ctx.list(NODE).map((n) => [nameOf(n), n]));
  const pods = ctx.work('kubelet', POD);
  let used: Set<string> | undefined;
  const usedIps = () => {
    used ??= new Set(
      ctx
        .list(POD)
        .map((p) => str(status(p).podIP))
        .filter((ip): ip is string => ip !== undefined),
    );
    return used;
  };
  const now = ctx.now();
  const iso = ctx.iso();
  for (const pod of pods) {
    const nodeName = str(spec(pod).nodeName);
    if (!nodeName) continue;
    const uid = uidOf(pod);
    const node = nodes.get(nodeName);
    if (!node && nodeName !== LOCAL_NODE) continue; // the node controller deletes it
    if (node && !isNodeReady(node)) continue;
    const st = status(pod);
    const containers = arr(spec(pod).containers);

    if (isTerminating(pod)) {
      let stopAt = ctx.memo.podStopAt.get(uid);
      if (stopAt === undefined) {
        const grace = Number(meta(pod).deletionGracePeriodSeconds ?? 30) * 1000;
        stopAt = now + Math.min(ctx.timings.podTerminationMs, grace);
        ctx.memo.podStopAt.set(uid, stopAt);
      }
      if (now >= stopAt) {
        ctx.remove(POD, pod, 0);
        ctx.memo.podStopAt.delete(uid);
        ctx.memo.probes.delete(uid);
        ctx.memo.podReadyAt.delete(uid);
        ctx.memo.podBoundAt.delete(uid);
        continue;
      }
      ctx.wakeAt(stopAt);
      if (isPodReadyCondition(pod)) {
        ctx.updateStatus(POD, pod, {
          ...st,
          conditions: arr(st.conditions).map((c) =>
            c.type === 'Ready' || c.type === 'ContainersReady'
              ? { ...c, status: 'False', lastTransitionTime: iso }
              : c,
          ),
          containerStatuses: arr(st.containerStatuses).map((c) => ({ ...c, ready: false })),
        });
      }
      continue;
    }
    if (st.phase === 'Succeeded' || st.phase === 'Failed') continue;

    const boundAt =
      ctx.memo.podBoundAt.get(uid) ?? msOf(conditionOf(pod, 'PodScheduled')?.lastTransitionTime) ?? now;
    if (!ctx.memo.podBoundAt.has(uid)) ctx.memo.podBoundAt.set(uid, boundAt);
    const runAt = boundAt + ctx.timings.containerStartMs;
    const running = st.phase === 'Running' || now >= runAt;
    if (!running) ctx.wakeAt(runAt);
    const ready = running && readiness(ctx, pod);
    if (ready && !ctx.memo.podReadyAt.has(uid)) ctx.memo.podReadyAt.set(uid, now);
    if (!ready) ctx.memo.podReadyAt.delete(uid);

    const hostIP = node
      ? String(arr(status(node).addresses).find((a) => a.type === 'InternalIP')?.address ?? '')
      : '10.128.0.2';
    let podIP = str(st.podIP);
    if (running && !podIP) {
      podIP = allocatePodIp(node, usedIps());
      usedIps().add(podIP);
    }
    const startTime = st.startTime ?? iso;
    const names = containers.map((c) => String(c.name));
    const notReady = {
      reason: 'ContainersNotReady',
      message: `containers with unready status: [${names.join(' ')}]`,
    };
    const prevStatuses = arr(st.containerStatuses);
    const next: JsonObject = {
      phase: running ? 'Running' : 'Pending',
      conditions: [
        podCondition(pod, 'PodReadyToStartContainers', running, iso),
        podCondition(pod, 'Initialized', true, iso),
        podCondition(pod, 'Ready', ready, iso, notReady),
        podCondition(pod, 'ContainersReady', ready, iso, notReady),
        podCondition(pod, 'PodScheduled', true, iso),
      ],
      hostIP,
      hostIPs: [{ ip: hostIP }],
      ...(podIP ? { podIP, podIPs: [{ ip: podIP }] } : {}),
      startTime,
      containerStatuses: containers.map((c) => {
        const prev = prevStatuses.find((p) => p.name === c.name);
        const startedAt = obj2(obj2(prev?.state).running).startedAt ?? iso;
        return {
          name: c.name,
          state: running ? { running: { startedAt } } : { waiting: { reason: 'ContainerCreating' } },
          lastState: {},
          ready,
          restartCount: 0,
          image: c.image,
          imageID: running
            ? prev?.imageID || `${String(c.image).split(':')[0]}@sha256:${hex(String(c.image))}`
            : '',
          ...(running
            ? { containerID: prev?.containerID ?? `containerd://${hex(`${uid}/${String(c.name)}`)}` }
            : {}),
          started: running,
        };
      }),
      ...(st.qosClass !== undefined ? { qosClass: st.qosClass } : {}),
    };
    ctx.updateStatus(POD, pod, next);
  }
}

function obj2(v: unknown): JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonObject) : {};
}

function isPodReadyCondition(pod: JsonObject): boolean {
  return conditionOf(pod, 'Ready')?.status === 'True';
}
