/**
 * What `inferctl status` and the sandbox's status page show, from one place: the model registry,
 * the GKE node pools, the Triton Deployments, HPAs and NetworkPolicies, and the target records
 * scaleOnAlert and applySchedules keep (`targets/<cluster>/<pool>.json` in the state bucket).
 * Observing reads only; `assembleStatus` and `savingsOf` are pure, so they are tested alone.
 */
import { connectCluster } from '../shared/adapters/cluster';
import { createStorageClient, GcsObjectStore } from '../shared/adapters/storage';
import { clusterTargetOf } from '../shared/deploy/deps';
import { ModelRegistry } from '../shared/deploy/registry';
import type { NodePool } from '../shared/domain/plan';
import type { ModelRecord } from '../shared/domain/registry';
import { parseTargetRecord, type TargetRecord } from '../shared/domain/target';
import {
  builtinClassForMachineType,
  type GpuClassOverrides,
  gpusPerMachine,
  resolveGpuClass,
} from '../shared/gpu/catalog';
import { readPolicy } from '../shared/policy/source';
import type { LiveObject } from '../shared/ports/kubernetes';
import type { NodePoolAutoscaling } from '../shared/ports/nodepools';
import type { Config } from '../shared/runtime/config';

/** `inferctl status --json`: these top-level keys, in this order. */
export interface StatusReport {
  models: Array<{ name: string; versions: Array<{ version: number; state: string }> }>;
  nodePools: Array<{ name: string; nodeCount: number | null; autoscaling: NodePoolAutoscaling | null }>;
  deployments: Array<{ name: string; namespace: string; replicas: number }>;
  hpas: Array<{ name: string; namespace: string; minReplicas: number; maxReplicas: number }>;
  networkPolicies: Array<{ name: string; namespace: string }>;
  decisions: Array<{ time: string; function: string; target: string; action: string; reason: string }>;
  savings: { gpuHours: number; dollars: number };
}

export interface ObservedState {
  registry: ModelRecord[];
  nodePools: NodePool[];
  /** Live nodes per zone of each pool (absent: could not be told). */
  nodeCountPerZone: Record<string, number | undefined>;
  /** Zones of the cluster (a pool without its own `locations` spans these). */
  clusterZones: number;
  deployments: LiveObject[];
  hpas: LiveObject[];
  networkPolicies: LiveObject[];
  targets: TargetRecord[];
  /** Price overrides from the policy's `gpuClasses`. */
  gpuClasses: GpuClassOverrides;
}

const MAX_DECISIONS = 50;

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function zonesOf(pool: NodePool, clusterZones: number): number {
  return Math.max(1, pool.locations?.length || clusterZones);
}

/** GPUs and the per-GPU hourly price of one machine of a pool; zero where the pool is unknown. */
function gpuPriceOf(
  pool: NodePool | undefined,
  overrides: GpuClassOverrides,
): { gpus: number; perGpuHour: number } {
  const machineType = pool?.config?.machineType ?? '';
  const builtin = builtinClassForMachineType(machineType);
  if (!pool || !builtin) return { gpus: 0, perGpuHour: 0 };
  const cls = resolveGpuClass(builtin.id, overrides);
  const spot = pool.config?.spot === true || pool.config?.preemptible === true;
  return {
    gpus: gpusPerMachine(machineType),
    perGpuHour: spot ? cls.spotPerGpuHour : cls.onDemandPerGpuHour,
  };
}

/**
 * GPU-hours and dollars saved by the downtime windows in force: for each target with a downtime
 * claim, the time since the claim's `since` x the GPUs its node pool had at baseline x the
 * catalog's per-GPU price (spot or on-demand as the pool is; the policy's price overrides apply).
 * Windows already ended are not counted: their claims are gone from the records. The time is
 * counted up to now, or up to the target's newest decision where that is later: a tick evaluated
 * as of a later time (`inferctl tick --at`, the sandbox's `--time-offset`) moves the target's clock
 * there, and a night reached that way has saved what it has saved by then.
 */
export function savingsOf(
  targets: readonly TargetRecord[],
  nodePools: readonly NodePool[],
  nowMs: number,
  overrides: GpuClassOverrides = {},
): { gpuHours: number; dollars: number } {
  let gpuHours = 0;
  let dollars = 0;
  for (const t of targets) {
    if (!t.downtime) continue;
    const asOf = Math.max(nowMs, ...t.decisions.map((d) => Date.parse(d.time)).filter(Number.isFinite));
    const hours = Math.max(0, asOf - Date.parse(t.downtime.since)) / 3_600_000;
    const base = t.baseline?.settings.nodePool;
    if (!base) continue;
    const nodes =
      base.nodeCountPerZone !== null
        ? base.nodeCountPerZone * base.zones
        : base.autoscaling.enabled
          ? base.autoscaling.totalMinNodeCount
          : 0;
    const { gpus, perGpuHour } = gpuPriceOf(
      nodePools.find((p) => p.name === t.pool),
      overrides,
    );
    gpuHours += hours * nodes * gpus;
    dollars += hours * nodes * gpus * perGpuHour;
  }
  return { gpuHours: round(gpuHours, 3), dollars: round(dollars, 2) };
}

const meta = (o: LiveObject) => ({ name: o.metadata.name, namespace: o.metadata.namespace ?? '' });
const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);
const byName = <T extends { name: string; namespace?: string }>(a: T, b: T) =>
  `${a.namespace ?? ''}/${a.name}`.localeCompare(`${b.namespace ?? ''}/${b.name}`);

/** deployModel keeps no decision list: its registry records say what it did to each version. */
function deployDecisions(registry: readonly ModelRecord[]): StatusReport['decisions'] {
  const out: StatusReport['decisions'] = [];
  for (const m of registry) {
    for (const v of Object.values(m.versions)) {
      const target = `${m.model}/${v.version}`;
      const at = (time: string, action: string, reason: string) => ({
        time,
        function: 'deployModel',
        target,
        action,
        reason,
      });
      if (v.failedAt) out.push(at(v.failedAt, 'fail', v.reason ?? 'load failed'));
      if (v.readyAt) out.push(at(v.readyAt, 'serve', `ready on ${v.gpuClass}`));
      if (v.deferred)
        out.push(
          at(
            v.deferred.since,
            'defer',
            `${v.deferred.pool} is in a scheduled downtime${v.deferred.until ? ` until ${v.deferred.until}` : ''}: loads when it is restored`,
          ),
        );
      out.push(at(v.publishedAt, 'publish', `${v.backend} from ${v.source.name}`));
    }
  }
  return out;
}

/** The report from what was observed (pure). */
export function assembleStatus(o: ObservedState, nowMs: number): StatusReport {
  const models = o.registry
    .map((m) => ({
      name: m.model,
      versions: Object.values(m.versions)
        .map((v) => ({ version: v.version, state: v.state }))
        .sort((a, b) => a.version - b.version),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const nodePools = o.nodePools
    .map((p) => {
      const perZone = o.nodeCountPerZone[p.name ?? ''];
      return {
        name: p.name ?? '',
        nodeCount: perZone === undefined ? null : perZone * zonesOf(p, o.clusterZones),
        autoscaling: p.autoscaling ?? null,
      };
    })
    .sort(byName);
  const deployments = o.deployments
    .map((d) => ({ ...meta(d), replicas: num((d.spec as { replicas?: unknown } | undefined)?.replicas, 1) }))
    .sort(byName);
  const hpas = o.hpas
    .map((h) => {
      const spec = h.spec as { minReplicas?: unknown; maxReplicas?: unknown } | undefined;
      return { ...meta(h), minReplicas: num(spec?.minReplicas, 1), maxReplicas: num(spec?.maxReplicas, 1) };
    })
    .sort(byName);
  const networkPolicies = o.networkPolicies.map(meta).sort(byName);
  const decisions = [
    ...o.targets.flatMap((t) =>
      t.decisions.map((d) => ({
        time: d.time,
        function: d.function,
        target: t.pool,
        action: d.action,
        reason: d.reason,
      })),
    ),
    ...deployDecisions(o.registry),
  ]
    .sort((a, b) => Date.parse(b.time) - Date.parse(a.time))
    .slice(0, MAX_DECISIONS);
  return {
    models,
    nodePools,
    deployments,
    hpas,
    networkPolicies,
    decisions,
    savings: savingsOf(o.targets, o.nodePools, nowMs, o.gpuClasses),
  };
}

/** Reads everything the report shows; writes nothing. */
export interface StatusSource {
  observe(): Promise<ObservedState>;
  close(): Promise<void>;
}

export async function openStatusSource(config: Config): Promise<StatusSource> {
  const storage = createStorageClient({ projectId: config.project, endpoint: config.endpoints.storage });
  const objects = new GcsObjectStore(storage);
  const registry = new ModelRegistry(objects, config.stateBucket);
  const cluster = await connectCluster(clusterTargetOf(config));
  const ns = config.namespace;
  const targets = async (): Promise<TargetRecord[]> => {
    const prefix = `targets/${config.cluster}/`;
    const out: TargetRecord[] = [];
    for (const info of await objects.list(config.stateBucket, prefix)) {
      if (!info.name.endsWith('.json')) continue;
      const found = await objects.readText({ bucket: config.stateBucket, name: info.name });
      const parsed = found ? parseTargetRecord(found.text) : undefined;
      if (parsed?.ok) out.push(parsed.record);
    }
    return out;
  };
  return {
    observe: async () => {
      const [policy, models, pools, info, deployments, hpas, networkPolicies, records] = await Promise.all([
        readPolicy(config, objects).catch(() => undefined),
        registry.list(),
        cluster.nodePools.list(),
        cluster.nodePools.getCluster(),
        cluster.kubeObjects.list('apps/v1', 'Deployment', ns),
        cluster.kubeObjects.list('autoscaling/v2', 'HorizontalPodAutoscaler', ns),
        cluster.kubeObjects.list('networking.k8s.io/v1', 'NetworkPolicy', ns),
        targets(),
      ]);
      const nodeCountPerZone: Record<string, number | undefined> = {};
      for (const p of pools) {
        if (p.name) nodeCountPerZone[p.name] = await cluster.nodePools.nodeCountPerZone(p);
      }
      return {
        registry: models,
        nodePools: pools,
        nodeCountPerZone,
        clusterZones: Math.max(1, info.locations.length),
        deployments,
        hpas,
        networkPolicies,
        targets: records,
        gpuClasses: (policy?.gpuClasses ?? {}) as GpuClassOverrides,
      };
    },
    close: () => cluster.close(),
  };
}
