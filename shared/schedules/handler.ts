/**
 * applySchedules: a Cloud Scheduler tick (`reconcile-schedules`, through Pub/Sub) -> every target
 * the schedules name is made to match what should be true now: scaled to zero inside a downtime
 * window, restored warm a lead time before it ends, and its Triton pods serving what the registry
 * says. Level-triggered: a missed, late or doubled tick is harmless.
 *
 * parse -> decide -> apply, per target, `concurrency` targets at a time; one failing target does
 * not stop the others and is retried by the next tick:
 * - parse: the command (bad input is refused before anything is read);
 * - decide: observe the target, `decideTarget` (pure) sets or removes its downtime claim,
 *   `planTarget` (pure, shared with scaleOnAlert) turns the record into actions;
 * - apply: the one executor, each plan checked against the guardrails (capacity reserved across
 *   targets, so restores together cannot exceed them), re-planned from live state when it moved.
 * Then serving drift (loadModel actions), savings as a log line, an event and custom metrics.
 */
import { buildOutboundEvent, type OutboundEventData } from '../../events/outbound';
import { parseSchedulerCommandEvent } from '../../events/scheduler';
import { REPOSITORY_ROOT, tritonAdminSecretRefFor } from '../cluster/desired';
import { assertGuardrails } from '../cluster/guardrails';
import { K8S_LABELS, MANAGED_BY } from '../cluster/names';
import { observedCapacityOf } from '../cluster/nodepool';
import { indexServing, poolIndexText, recordDeferredServes, recordText } from '../deploy/records';
import type { ModelRegistry } from '../deploy/registry';
import type { KeyRing } from '../domain/keys';
import {
  capacityAfter,
  createPlan,
  type NodePool,
  type ObservedCapacity,
  type Plan,
  type PlanAction,
  storageTarget,
} from '../domain/plan';
import type { ModelRecord, PoolIndexEntry } from '../domain/registry';
import { repositoryUri } from '../domain/repository';
import { PlanExecutor } from '../execute/executor';
import { StorageRunner } from '../execute/storage-runner';
import { type KnownState, locationZones, observeTarget } from '../execute/targets';
import { TritonRunner } from '../execute/triton-runner';
import { resolveModelPolicy } from '../policy/load';
import type { Schedule } from '../policy/schema';
import type { PointToWrite } from '../ports/metrics';
import type { TritonPod } from '../ports/triton';
import { errorMessage, PermanentError, RetryableError } from '../runtime/errors';
import type { OutboundCloudEvent } from '../runtime/events';
import type { InvocationContext, Outcome } from '../runtime/function';
import { registerSecret } from '../runtime/log';
import type { ScalingDeps } from '../scaling/deps';
import { type ObservedTarget, planTarget } from '../scaling/target';
import { keyRingOf } from '../security/keys';
import { type DecideInput, decideTarget, FUNCTION_NAME, type TargetAction } from './decide';
import {
  type DriftFinding,
  deferredServed,
  planDrift,
  type ServingEntry,
  servedOn,
  servingFromIndexes,
  servingFromRecords,
} from './drift';
import { addSavings, downtimeSaving, gpuClassOfPool, NO_SAVING, roundSaving, type Saving } from './savings';
import { modelPoolsFrom, modelPoolsOf, type TargetUniverse, targetsBySchedule } from './targets';

export { FUNCTION_NAME };

export interface ApplySchedulesDeps extends ScalingDeps {
  /**
   * The model registry: its records (which version each model serves, on which GPU class), and
   * what completing a deferred deploy writes (the record and the pool's index, conditionally).
   */
  registry: Pick<
    ModelRegistry,
    'list' | 'listPoolIndexes' | 'get' | 'getPoolIndex' | 'objectOf' | 'poolIndexOf'
  >;
  /**
   * The ready Triton pods of one pool, each called with the pool's admin key.
   * @throws RetryableError TRITON_NOT_READY when none is ready.
   */
  /** The pool's ready pods; each call to one sends the key of the pod it goes to. */
  tritonPods(args: { pool: string; namespace: string; keys: KeyRing }): Promise<TritonPod[]>;
  /**
   * Targets reconciled at once: this many without a node pool, beside this many with one (whose
   * node-pool actions run one at a time per cluster).
   */
  concurrency: number;
  /**
   * Read each target alone (a GET of its Deployment, its HPA and its record), as tools that work
   * one object at a time do: the benchmark's baseline. Default: the namespace's Deployments and
   * HPAs and the records are listed once per tick and each target is observed from those lists.
   */
  observeEach?: boolean;
}

export const METRIC_PREFIX = 'custom.googleapis.com/inferplane/schedule';

export interface TargetResult {
  pool: string;
  schedule: string | null;
  action: TargetAction;
  reason: string;
  /** The plan (applied, or with dryRun what would be applied). */
  plan: Plan | null;
  outcome: 'applied' | 'planned' | 'unchanged' | 'failed';
  error?: string;
  /** Saved so far by a downtime in force. */
  saving: Saving;
  /** A warm restore that became Ready this tick: seconds after the window's end (< 0: before). */
  readyLateSeconds?: number;
  drift: string[];
  warnings: string[];
  inDowntime: boolean;
}

/** Runs `work` on each item, `limit` at a time, in order of the items; never rejects. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

function isGrowing(plan: Plan): boolean {
  return plan.actions.some(
    (a) =>
      a.costDeltaPerHour > 0 ||
      ((a.kind === 'setNodePoolSize' || a.kind === 'setNodePoolAutoscaling') &&
        (a.capacityAfter?.maxNodes ?? 0) > (a.capacityBefore?.maxNodes ?? 0)),
  );
}

export async function handleApplySchedules(
  deps: ApplySchedulesDeps,
  ctx: InvocationContext,
): Promise<Outcome> {
  // --- parse
  const event = parseSchedulerCommandEvent(ctx.event);
  const command = event.message.payload;
  if (command.command !== 'reconcile-schedules') {
    return { status: 'skipped', reason: `command ${command.command} is not applySchedules'` };
  }
  const policy = deps.policy;
  const known = new Set(policy.schedules.map((s) => s.name));
  const scoped = command.scope?.schedules;
  const unknown = (scoped ?? []).filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new PermanentError(
      'UNKNOWN_SCHEDULE',
      `scope names schedule(s) the policy does not have: ${unknown.join(', ')} (known: ${[...known].join(', ') || 'none'})`,
    );
  }
  const dryRun = command.dryRun || deps.config.dryRun;
  // `at` (the sandbox and `inferctl tick --at`; Cloud Scheduler never sets it): decide as of then.
  const nowMs = command.at === undefined ? deps.clock.nowMs() : Date.parse(command.at);
  const now = new Date(nowMs).toISOString();
  const { ports, location } = deps;

  // --- observe what the schedules name
  // One LIST per kind for every target (not a GET per target), unless each is read alone.
  const eachAlone = deps.observeEach === true;
  const selector = `${K8S_LABELS.name}=triton,${K8S_LABELS.managedBy}=${MANAGED_BY}`;
  const [listed, hpas, poolIndexes, nodePools, stored] = await Promise.all([
    ports.kube.list('apps/v1', 'Deployment', location.namespace, eachAlone ? selector : undefined),
    eachAlone ? undefined : ports.kube.list('autoscaling/v2', 'HorizontalPodAutoscaler', location.namespace),
    deps.registry.listPoolIndexes(),
    ports.nodePools.list(),
    ports.store.list(location.stateBucket, `targets/${location.cluster}/`),
  ]);
  const deployments = eachAlone
    ? listed
    : listed.filter(
        (d) =>
          d.metadata.labels?.[K8S_LABELS.name] === 'triton' &&
          d.metadata.labels?.[K8S_LABELS.managedBy] === MANAGED_BY,
      );
  const recordOf = (name: string) => /^targets\/[^/]+\/(.+)\.json$/.exec(name)?.[1];
  const lists: KnownState = eachAlone
    ? { nodePools }
    : {
        nodePools,
        deployments: new Map(listed.map((d) => [d.metadata.name, d])),
        hpas: new Map((hpas ?? []).map((h) => [h.metadata.name, h])),
        records: new Map(stored.flatMap((o) => (recordOf(o.name) ? [[recordOf(o.name) as string, o]] : []))),
      };
  const entries = await servingEntries(
    deps,
    poolIndexes,
    deployments.map((d) => d.metadata.name),
  );
  const indexByPool = new Map(poolIndexes.map((e) => [e.index.pool, e]));
  const universe: TargetUniverse = {
    pools: deployments.map((d) => d.metadata.name).sort(),
    modelPools: modelPoolsFrom(entries),
  };
  const bySchedule = targetsBySchedule(policy, universe);
  const scopedSchedules = scoped ? policy.schedules.filter((s) => scoped.includes(s.name)) : policy.schedules;
  const visit = new Set(targetsBySchedule(policy, universe, scopedSchedules).keys());
  // Unscoped, a record's pool is visited too: a schedule removed from the policy is restored.
  if (!scoped) {
    for (const o of stored) {
      const pool = recordOf(o.name);
      if (pool) visit.add(pool);
    }
  }
  const pools = [...visit].sort();

  // Guardrails: capacity as observed, reserved as each target's plan is accepted.
  const poolByName = new Map(nodePools.map((p) => [p.name ?? '', p]));
  const fixedCounts: Record<string, number> = {};
  await Promise.all(
    nodePools
      .filter((p) => p.autoscaling?.enabled !== true && p.name)
      .map(async (p) => {
        const n = await ports.nodePools.nodeCountPerZone(p);
        if (n !== undefined) fixedCounts[p.name as string] = n;
      }),
  );
  const gpuClassFor = (p: NodePool) => gpuClassOfPool(policy, p);
  let capacity: ObservedCapacity = observedCapacityOf(nodePools, {
    gpuClassFor,
    nodeCountPerZone: fixedCounts,
    zones: await locationZones(location),
  });
  const guardrails = (plan: Plan) => {
    if (isGrowing(plan)) assertGuardrails(plan, capacity, policy.guardrails);
    capacity = { pools: capacityAfter(plan, capacity) };
  };

  const planFor = (observed: ObservedTarget, schedules: readonly Schedule[]) => {
    const input: DecideInput = { observed, schedules, nowMs };
    const decision = decideTarget(input);
    const previous = observed.record?.record ?? null;
    const ours =
      decision.action !== 'none' ||
      (previous !== null &&
        (JSON.stringify(previous) !== JSON.stringify(decision.next) ||
          (previous.baseline !== null && previous.scaleOut === null)));
    const planned = ours
      ? planTarget(observed, decision.next, {
          stateBucket: location.stateBucket,
          cluster: location.cluster,
          now,
          gpuClassFor,
          reason: `${FUNCTION_NAME}: ${decision.reason}`,
        })
      : null;
    const plan = createPlan(
      deps.clock,
      `${FUNCTION_NAME} ${observed.pool}: ${decision.reason}`,
      planned?.actions ?? [],
      `${ctx.event.id}/${observed.pool}`,
    );
    return { decision, planned, plan };
  };

  const reconcile = async (pool: string): Promise<TargetResult> => {
    const schedules = bySchedule.get(pool) ?? [];
    const base = { pool, drift: [], warnings: [], saving: NO_SAVING, inDowntime: false };
    let observed: ObservedTarget;
    try {
      observed = await observeTarget(ports, location, pool, lists);
    } catch (err) {
      return {
        ...base,
        schedule: null,
        action: 'none',
        reason: 'could not be read',
        plan: null,
        outcome: 'failed',
        error: errorMessage(err),
      };
    }
    let current = planFor(observed, schedules);
    const { decision } = current;
    const result = (outcome: TargetResult['outcome'], error?: string): TargetResult => {
      const next = current.planned?.record ?? current.decision.next;
      const restored = next.schedules.lastRestore;
      const newlyReady =
        restored !== null &&
        JSON.stringify(restored) !== JSON.stringify(observed.record?.record.schedules.lastRestore ?? null);
      return {
        ...base,
        schedule: decision.window?.schedule ?? observed.record?.record.downtime?.schedule ?? null,
        action: decision.action,
        reason: decision.reason,
        plan: current.plan,
        outcome,
        ...(error === undefined ? {} : { error }),
        saving: roundSaving(
          downtimeSaving(
            next,
            observed.nodePool,
            observed.nodePool ? gpuClassFor(observed.nodePool) : undefined,
            nowMs,
          ),
        ),
        ...(newlyReady ? { readyLateSeconds: restored.lateSeconds } : {}),
        drift: (current.planned?.wanted.drift ?? []).map(
          (d) => `${d.field}: kept ${String(d.live)} (a change since we set ${String(d.applied)})`,
        ),
        warnings: decision.warnings,
        inDowntime: next.downtime !== null,
      };
    };
    if (current.plan.actions.length === 0) return result('unchanged');
    if (dryRun) return result('planned');
    try {
      await deps.executor.execute(current.plan, {
        guardrails,
        replan: async (why) => {
          ctx.log.notice('re-planning a target from live state', { pool, why });
          current = planFor(await observeTarget(ports, location, pool), schedules);
          return current.plan;
        },
      });
      return result('applied');
    } catch (err) {
      ctx.log.warn(`target ${pool} failed; the next tick retries it: ${errorMessage(err)}`, {
        pool,
        error: err,
      });
      return result('failed', errorMessage(err));
    }
  };

  // --- decide and apply, `concurrency` targets at a time
  // GKE runs one operation per cluster at a time, and so does the node-pool executor
  // (withClusterLock: no CLUSTER_ALREADY_HAS_OPERATION retries). Targets with a node pool wait
  // there, so they get their own lane beside the others: waiting, they hold none of its places.
  const withPool = pools.filter((p) => poolByName.has(p));
  const withoutPool = pools.filter((p) => !poolByName.has(p));
  const [poolLane, kubeLane] = await Promise.all([
    mapConcurrent(withPool, deps.concurrency, reconcile),
    mapConcurrent(withoutPool, deps.concurrency, reconcile),
  ]);
  const byPool = new Map([...poolLane, ...kubeLane].map((r) => [r.pool, r]));
  const results = pools.map((p) => byPool.get(p) as TargetResult);

  // --- serving drift on the pools that serve now
  const driftPools = [...new Set([...universe.modelPools.values()])]
    .filter((p) => poolByName.has(p) || universe.pools.includes(p))
    .filter((p) => !results.some((r) => r.pool === p && (r.inDowntime || r.outcome === 'failed')))
    .sort();
  const drift = await mapConcurrent(driftPools, deps.concurrency, (pool) =>
    repairDrift(deps, ctx, pool, entries, indexByPool.get(pool), dryRun).catch(
      (err: unknown): DriftResult => ({
        pool,
        findings: [] as DriftFinding[],
        error: errorMessage(err),
        loaded: 0,
        completed: [],
        events: [],
      }),
    ),
  );

  // --- report: log, events, metrics
  const saved = roundSaving(results.reduce((s, r) => addSavings(s, r.saving), NO_SAVING));
  const failed = results.filter((r) => r.outcome === 'failed');
  const changed = results.filter((r) => r.outcome === 'applied' || r.outcome === 'planned');
  const events = [...scheduleEvents(deps, ctx, results, dryRun), ...drift.flatMap((d) => d.events)];
  // Points carry the real time: Monitoring refuses points from the future.
  if (!dryRun) await writeMetrics(deps, ctx, results, deps.clock.nowMs());
  for (const r of results) {
    if (r.drift.length > 0)
      ctx.log.warn('target edited during downtime: the edit is kept', { pool: r.pool, drift: r.drift });
    for (const w of r.warnings) ctx.log.warn(`target ${r.pool}: ${w}`, { pool: r.pool });
    if (r.readyLateSeconds !== undefined) {
      ctx.log.notice('warm restore Ready', { pool: r.pool, lateSeconds: r.readyLateSeconds });
    }
  }
  const driftFound = drift.flatMap((d) => d.findings);
  if (driftFound.length > 0) ctx.log.warn('serving drift found', { drift: driftFound });
  const message =
    `${dryRun ? 'dry run: ' : ''}${pools.length} target(s): ${changed.length} ${dryRun ? 'to change' : 'changed'}, ` +
    `${results.filter((r) => r.inDowntime).length} in downtime, ${failed.length} failed; ` +
    `saved ${saved.gpuHours} GPU-hours, $${saved.usd} since the windows began; ` +
    `serving drift on ${driftFound.length} pod model(s)`;
  return {
    status: 'applied',
    message,
    events,
    details: {
      dryRun,
      saved,
      targets: results.map((r) => ({
        pool: r.pool,
        schedule: r.schedule,
        action: r.action,
        outcome: r.outcome,
        reason: r.reason,
        ...(r.error ? { error: r.error } : {}),
        ...(r.readyLateSeconds === undefined ? {} : { readyLateSeconds: r.readyLateSeconds }),
        ...(r.drift.length > 0 ? { drift: r.drift } : {}),
        ...(r.plan && r.plan.actions.length > 0
          ? { plan: r.plan.actions.map((a) => `${a.kind} ${a.target}: ${a.reason}`) }
          : {}),
      })),
      servingDrift: drift.map(({ events: _, ...d }) => d),
    },
  };
}

interface DriftResult {
  pool: string;
  findings: DriftFinding[];
  loaded: number;
  /** Deferred deploys completed: every ready pod serves the version published during the downtime. */
  completed: Array<{ model: string; version: number }>;
  events: OutboundCloudEvent[];
  error?: string;
}

/**
 * What the registry says each model serves, from the pools' indexes: one read per pool, however many
 * models are registered. A Triton pool without an index (state from before the indexes; its next
 * deploy writes one) is read from the model records, once per tick while any such pool exists.
 */
async function servingEntries(
  deps: ApplySchedulesDeps,
  indexes: readonly PoolIndexEntry[],
  tritonPools: readonly string[],
): Promise<ServingEntry[]> {
  const entries = servingFromIndexes(indexes.map((e) => e.index));
  const indexed = new Set(indexes.map((e) => e.index.pool));
  const unindexed = new Set(tritonPools.filter((p) => !indexed.has(p)));
  if (unindexed.size === 0) return entries;
  const records = await deps.registry.list();
  const pools = modelPoolsOf(deps.policy, records);
  return [
    ...entries,
    ...servingFromRecords(records, (m) => {
      const pool = pools.get(m);
      return pool !== undefined && unindexed.has(pool) ? pool : undefined;
    }),
  ];
}

async function repairDrift(
  deps: ApplySchedulesDeps,
  ctx: InvocationContext,
  pool: string,
  entries: readonly ServingEntry[],
  /** The pool's index as this tick listed it (a completion writes it, conditionally). */
  indexEntry: PoolIndexEntry | undefined,
  dryRun: boolean,
): Promise<DriftResult> {
  const none = { completed: [], events: [] };
  const policy = deps.policy;
  const namespace = deps.location.namespace;
  const ref = tritonAdminSecretRefFor(pool);
  const secret = await deps.ports.kube.get({ apiVersion: 'v1', kind: 'Secret', namespace, name: ref.name });
  const keys = keyRingOf(secret);
  if (!keys) return { pool, findings: [], loaded: 0, ...none };
  for (const value of Object.values(keys.keys)) registerSecret(value);
  let pods: TritonPod[];
  try {
    pods = await deps.tritonPods({ pool, namespace, keys });
  } catch (err) {
    if (err instanceof RetryableError && err.reason === 'TRITON_NOT_READY')
      return { pool, findings: [], loaded: 0, ...none };
    throw err;
  }
  const served = servedOn(pool, entries, (m) => resolveModelPolicy(policy, m).readinessTimeoutSeconds);
  if (served.length === 0) return { pool, findings: [], loaded: 0, ...none };
  const indexes = await Promise.all(pods.map(async (p) => ({ pod: p.pod, index: await p.triton.index() })));
  const { findings, actions } = planDrift(pool, served, indexes);
  // Served everywhere already: a deploy deferred by the downtime completes (a pod loaded by this
  // tick's repair completes it on the next tick).
  const servedNow = deferredServed(pool, entries, indexes);
  const completion =
    servedNow.length === 0 || dryRun
      ? { completed: [], events: [] }
      : await completeDeferred(deps, ctx, pool, servedNow, indexEntry).catch((err: unknown) => {
          ctx.log.warn(`pool ${pool}: a deferred deploy could not be completed; the next tick retries`, {
            pool,
            error: err,
          });
          return { completed: [], events: [] };
        });
  if (actions.length === 0 || dryRun) return { pool, findings, loaded: 0, ...completion };
  const plan = createPlan(
    deps.clock,
    `${FUNCTION_NAME} ${pool}: serving drift`,
    actions,
    `${ctx.event.id}/${pool}/drift`,
  );
  const executor = new PlanExecutor(
    [new TritonRunner((p) => deps.tritonPods({ pool: p, namespace, keys }), deps.clock)],
    deps.log,
  );
  const replan = async () => {
    const now = await deps.tritonPods({ pool, namespace, keys });
    const idx = await Promise.all(now.map(async (p) => ({ pod: p.pod, index: await p.triton.index() })));
    return createPlan(deps.clock, plan.reason, planDrift(pool, served, idx).actions, plan.id);
  };
  try {
    const run = await executor.execute(plan, { guardrails: () => undefined, replan });
    return { pool, findings, loaded: run.steps.filter((s) => s.outcome === 'applied').length, ...completion };
  } catch (err) {
    return { pool, findings, loaded: 0, error: errorMessage(err), ...completion };
  }
}

/**
 * Completes deploys deferred by the pool's downtime: the pool's index, then each record, READY,
 * written conditionally on the generations read now (a concurrent deploy's write wins; the next
 * tick looks again), and one `model.deployed` event per version.
 */
async function completeDeferred(
  deps: ApplySchedulesDeps,
  ctx: InvocationContext,
  pool: string,
  served: ReadonlyArray<{ model: string; version: number }>,
  listed: PoolIndexEntry | undefined,
): Promise<{ completed: Array<{ model: string; version: number }>; events: OutboundCloudEvent[] }> {
  const nowMs = deps.clock.nowMs();
  const nowIso = new Date(nowMs).toISOString();
  const [indexEntry, entries] = await Promise.all([
    // As the tick listed it: a deploy that changed it since fails the conditional write, and the
    // next tick completes from fresh state.
    listed ?? deps.registry.getPoolIndex(pool),
    Promise.all(served.map((s) => deps.registry.get(s.model))),
  ]);
  const writes: PlanAction[] = [];
  const completed: Array<{ model: string; version: number; record: ModelRecord }> = [];
  let index = indexEntry?.index;
  for (const [i, s] of served.entries()) {
    const entry = entries[i];
    const next = entry ? recordDeferredServes(entry.record, s.version, nowIso) : undefined;
    const gpuClass = entry?.record.versions[String(s.version)]?.gpuClass;
    if (!entry || !next || gpuClass === undefined) continue;
    if (index) index = indexServing(index, s.model, s.version, gpuClass, nowIso) ?? index;
    const ref = deps.registry.objectOf(s.model);
    writes.push({
      kind: 'writeStorageObject',
      target: storageTarget(ref),
      costDeltaPerHour: 0,
      reason: `${s.model} version ${s.version} serves on ${pool} (deployed during its downtime)`,
      before: { generation: entry.generation },
      after: { object: ref, text: recordText(next), contentType: 'application/json' },
    });
    completed.push({ ...s, record: next });
  }
  if (writes.length === 0) return { completed: [], events: [] };
  if (index && indexEntry && index !== indexEntry.index) {
    const ref = deps.registry.poolIndexOf(pool);
    writes.unshift({
      kind: 'writeStorageObject',
      target: storageTarget(ref),
      costDeltaPerHour: 0,
      reason: `${pool} serves ${completed.map((c) => `${c.model} version ${c.version}`).join(', ')}`,
      before: { generation: indexEntry.generation },
      after: { object: ref, text: poolIndexText(index), contentType: 'application/json' },
    });
  }
  const plan = createPlan(
    deps.clock,
    `${FUNCTION_NAME} ${pool}: deploys deferred by the downtime now serve`,
    writes,
    `${ctx.event.id}/${pool}/deferred`,
  );
  await new PlanExecutor([new StorageRunner(deps.objects)], deps.log).execute(plan, {
    guardrails: () => undefined,
  });
  const repository = repositoryUri({
    bucket: deps.policy.cluster.repositoryBucket,
    prefix: `${REPOSITORY_ROOT}/${pool}`,
  });
  const events = completed.map((c) => {
    const v = c.record.versions[String(c.version)];
    ctx.log.notice('a deploy deferred by the downtime now serves', {
      pool,
      model: c.model,
      version: c.version,
    });
    return buildOutboundEvent('dev.inferplane.model.v1.deployed', {
      source: ctx.eventSource,
      subject: `models/${c.model}/versions/${c.version}`,
      id: `${ctx.event.id}-${pool}-${c.model}-${c.version}-deployed`,
      time: new Date(nowMs),
      data: {
        model: c.model,
        version: String(c.version),
        repositoryUri: repository,
        gpuClass: v?.gpuClass ?? '',
        sourceObject: v?.source ?? { bucket: '', name: '', generation: '0' },
        durationMs: Math.max(0, Math.round(nowMs - Date.parse(v?.publishedAt ?? nowIso))),
        namespace: deps.location.namespace,
        deploymentName: pool,
      },
    });
  });
  return { completed: completed.map(({ model, version }) => ({ model, version })), events };
}

type ResourceChange = OutboundEventData<'dev.inferplane.schedule.v1.applied'>['actions'][number];

/** A plan's changes in the event's vocabulary. */
export function resourceChanges(actions: readonly PlanAction[], clusterName: string): ResourceChange[] {
  const out: ResourceChange[] = [];
  for (const a of actions) {
    if (a.kind === 'scaleWorkload') {
      out.push({
        kind: 'deployment-replicas',
        target: a.target.replace(/^Deployment\//, ''),
        from: a.before.replicas,
        to: a.after.replicas,
      });
    } else if (a.kind === 'applyObject' && a.after.kind === 'HorizontalPodAutoscaler') {
      const spec = (o: unknown) => (o as { spec?: { minReplicas?: number } } | null)?.spec?.minReplicas;
      out.push({
        kind: 'hpa-replicas',
        target: `${a.after.metadata.namespace}/${a.after.metadata.name}`,
        from: spec(a.before) ?? null,
        to: spec(a.after) ?? 0,
      });
    } else if (a.kind === 'setNodePoolSize') {
      out.push({
        kind: 'node-pool-size',
        target: `${clusterName}/nodePools/${a.target.split('/').pop()}`,
        from: a.before?.nodeCountPerZone ?? null,
        to: a.after.nodeCountPerZone,
      });
    } else if (a.kind === 'setNodePoolAutoscaling') {
      const min = (
        x: { totalMinNodeCount?: number | null; minNodeCount?: number | null } | null | undefined,
      ) => (x ? Number(x.totalMinNodeCount ?? x.minNodeCount ?? 0) : null);
      out.push({
        kind: 'node-pool-autoscaling',
        target: `${clusterName}/nodePools/${a.target.split('/').pop()}`,
        from: min(a.before),
        to: min(a.after) ?? 0,
      });
    } else if (a.kind === 'deleteNodePool') {
      // The on-demand pool scaleOnAlert added after a stockout goes when the downtime begins.
      out.push({
        kind: 'node-pool-deleted',
        target: `${clusterName}/nodePools/${a.target.split('/').pop()}`,
        from: a.capacityBefore?.maxNodes ?? null,
        to: 0,
      });
    }
  }
  return out;
}

/** One `dev.inferplane.schedule.v1.applied` per schedule that changed, holds or restored a target. */
function scheduleEvents(
  deps: ApplySchedulesDeps,
  ctx: InvocationContext,
  results: readonly TargetResult[],
  dryRun: boolean,
): OutboundCloudEvent[] {
  const bySchedule = new Map<string, TargetResult[]>();
  for (const r of results) {
    if (r.schedule === null || (r.action === 'none' && r.readyLateSeconds === undefined)) continue;
    bySchedule.set(r.schedule, [...(bySchedule.get(r.schedule) ?? []), r]);
  }
  const cluster = deps.ports.nodePools.clusterName;
  return [...bySchedule.entries()].map(([schedule, rs]) => {
    const saving = roundSaving(rs.reduce((s, r) => addSavings(s, r.saving), NO_SAVING));
    return buildOutboundEvent('dev.inferplane.schedule.v1.applied', {
      source: ctx.eventSource,
      id: `${ctx.event.id}-${schedule}`,
      subject: `schedules/${schedule}`,
      time: new Date(deps.clock.nowMs()),
      data: {
        schedule,
        windowState: rs.some((r) => r.inDowntime) ? 'downtime' : 'uptime',
        dryRun,
        actions: rs.flatMap((r) =>
          r.outcome === 'applied' || r.outcome === 'planned'
            ? resourceChanges(r.plan?.actions ?? [], cluster)
            : [],
        ),
        estimatedGpuHoursSaved: saving.gpuHours,
        estimatedUsdSaved: saving.usd,
        targets: rs.map((r) => ({
          pool: r.pool,
          action: r.action,
          outcome: r.outcome,
          ...(r.readyLateSeconds === undefined ? {} : { readyLateSeconds: r.readyLateSeconds }),
          ...(r.drift.length > 0 ? { drift: r.drift } : {}),
        })),
      },
    });
  });
}

/** Savings (and warm-restore lateness) as custom metrics; a Monitoring outage is logged, not retried. */
async function writeMetrics(
  deps: ApplySchedulesDeps,
  ctx: InvocationContext,
  results: readonly TargetResult[],
  nowMs: number,
): Promise<void> {
  const resource = {
    type: 'k8s_cluster',
    labels: {
      project_id: deps.config.project,
      location: deps.config.location,
      cluster_name: deps.location.cluster,
    },
  };
  const time = new Date(nowMs).toISOString();
  const points: PointToWrite[] = [];
  for (const r of results) {
    const labels = { schedule: r.schedule ?? '', pool: r.pool };
    if (r.inDowntime) {
      points.push(
        {
          metricType: `${METRIC_PREFIX}/gpu_hours_saved`,
          metricLabels: labels,
          resource,
          value: r.saving.gpuHours,
          time,
        },
        {
          metricType: `${METRIC_PREFIX}/usd_saved`,
          metricLabels: labels,
          resource,
          value: r.saving.usd,
          time,
        },
      );
    }
    if (r.readyLateSeconds !== undefined) {
      points.push({
        metricType: `${METRIC_PREFIX}/ready_late_seconds`,
        metricLabels: labels,
        resource,
        value: r.readyLateSeconds,
        time,
      });
    }
  }
  if (points.length === 0) return;
  try {
    await deps.metrics.writePoints(points);
  } catch (err) {
    ctx.log.warn(`savings metrics not written: ${errorMessage(err)}`, { error: err });
  }
}
