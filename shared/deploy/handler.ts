/**
 * deployModel: an object lands in the incoming bucket -> the model is validated, published to its
 * pool's Triton repository, its GPU pool and serving stack are made so, Triton loads it, and a
 * deployed or rejected event says how it went.
 *
 * parse -> decide -> apply:
 * - parse: the CloudEvent and the object's path (bad names are refused before anything is read);
 * - decide: observe the version directory, the manifest and the registry, then `decideDeployment`
 *   (pure) says deploy or why not; the model config and the cluster plan are built and checked
 *   against the guardrails, still without writing anything;
 * - apply: publish (config last), cluster, load and await readiness on every ready Triton pod of
 *   the pool. A load that fails on any pod is rolled back on all of them: the previous version
 *   keeps serving and the registry says why.
 */
import { randomBytes } from 'node:crypto';
import { buildOutboundEvent } from '../../events/outbound';
import { parseStorageObjectEvent } from '../../events/storage';
import { desiredPool, type PoolDesired, placementFor, tritonAdminSecretRefFor } from '../cluster/desired';
import { type SecretValues, secretValuesOf } from '../cluster/objects';
import { type KeyRing, makeKeyId } from '../domain/keys';
import { describePlan, type KubernetesObject, type NodePool, type Plan } from '../domain/plan';
import type { PoolIndexEntry, RegistryEntry } from '../domain/registry';
import { repositoryUri } from '../domain/repository';
import { parseTargetRecord, type TargetRecord, targetRecordName } from '../domain/target';
import {
  ActionsFailedError,
  type ExecuteOptions,
  type ExecutionResult,
  PlanExecutor,
} from '../execute/executor';
import { type KubeApplier, KubeRunner } from '../execute/kube-applier';
import { type NodePoolExecutor, NodePoolRunner } from '../execute/nodepool-executor';
import { StorageRunner } from '../execute/storage-runner';
import { TritonRunner } from '../execute/triton-runner';
import { readOnnxSignature } from '../onnx/reader';
import type { OnnxSignature } from '../onnx/types';
import { type ModelPolicy, resolveModelPolicy } from '../policy';
import type { KubeObjects, LiveObject } from '../ports/kubernetes';
import type { NodePools } from '../ports/nodepools';
import type { ObjectInfo } from '../ports/storage';
import type { TritonPod } from '../ports/triton';
import { LimitExceededError, limitIssue, PermanentError, RetryableError } from '../runtime/errors';
import type { OutboundCloudEvent } from '../runtime/events';
import type { InvocationContext, Outcome } from '../runtime/function';
import type { Lease, Leases } from '../runtime/lease';
import { registerSecret } from '../runtime/log';
import { holdScaledFields } from '../scaling/target';
import { keyRingOf, newKeyRing } from '../security/keys';
import { MANAGED_NETWORK_POLICIES } from '../security/network';
import { checkRolloutPosture } from '../security/posture';
import { formatModelConfig } from '../triton/config-codec';
import type { ModelConfig } from '../triton/model-config';
import type { SharedDeps } from '../wiring/shared-deps';
import { type DeployDecision, decideDeployment } from './decide';
import type { DeployLimits } from './limits';
import { applyManifestToPolicy, type Manifest, parseManifest } from './manifest';
import { buildModelConfig, gpusPerNode, parseUserConfig } from './model-config';
import {
  deferralFor,
  deployGuardrails,
  type ObservedPod,
  type PoolIndexObservation,
  planDeployment,
  planRollback,
  type RegistryObservation,
} from './plan';
import { configObject, type PublishRequest, type RepositoryObservation, versionPrefix } from './publish';
import { type Deferral, poolIndexFromRecords, type VersionFacts } from './records';
import type { ModelRegistry } from './registry';
import { classifyUpload, MANIFEST_FILE } from './upload';

export const FUNCTION_NAME = 'deployModel';

export interface DeployModelDeps extends SharedDeps {
  nodePools: NodePools;
  nodePoolExecutor: NodePoolExecutor;
  kubeObjects: KubeObjects;
  kube: KubeApplier;
  /**
   * The ready Triton pods of one GPU pool, each called with the pool's admin key. Every replica
   * loads models on its own, so a version is loaded on all of them.
   * @throws RetryableError TRITON_NOT_READY when none is ready yet.
   */
  tritonPods(args: { pool: string; namespace: string; keys: KeyRing }): Promise<TritonPod[]>;
  registry: ModelRegistry;
  /**
   * Serialises deploys across instances: one per model, and one change of a pool's serving
   * stack (repository config, loads on its pods) at a time. The loser gets LEASE_HELD (retried).
   */
  leases: Leases;
  /** Tests only: called after each plan action (the crash-at-every-step test kills the deploy here). */
  executeHooks?: Pick<ExecuteOptions, 'afterAction'>;
  limits: DeployLimits;
  /** Zones a new GPU pool spans (1 for a zonal cluster); read from the cluster on first use. */
  zones(): Promise<number>;
}

type DeployPlanned = Extract<DeployDecision, { action: 'deploy' }>;

interface PreparedDeployment {
  decision: DeployPlanned;
  modelPolicy: ModelPolicy & { name: string };
  config: ModelConfig;
  configText: string;
  notes: string[];
  pool: PoolDesired;
  publish: PublishRequest;
  facts: VersionFacts;
  plan: Plan;
  /** What the plan was made from. */
  observation: Observation;
  previousServing: number | undefined;
  aliases: string[];
  /** The pool's keys: each repository API call sends the key of the pod it goes to. */
  keys: KeyRing;
  /** Zones a new GPU pool spans, as the cluster reported them. */
  zones: number;
  /** The Secret values the plan's redacted Secrets stand for (never logged, never in the plan). */
  secrets: SecretValues;
}

function subjectOf(model: string, version: number): string {
  return `models/${model}/versions/${version}`;
}

export async function handleDeployModel(deps: DeployModelDeps, ctx: InvocationContext): Promise<Outcome> {
  // --- parse
  const event = parseStorageObjectEvent(ctx.event);
  const object = event.data;
  const incoming = deps.policy.cluster.incomingBucket;
  if (object.bucket !== incoming) {
    return { status: 'skipped', reason: `bucket ${object.bucket} is not the incoming bucket ${incoming}` };
  }
  const upload = classifyUpload(object.name, BigInt(object.size), deps.limits);
  if (upload.kind === 'ignore') return { status: 'skipped', reason: upload.reason };

  // --- observe, then decide
  const prefix = `${upload.model}/${upload.version}/`;
  const listing = await deps.objects.list(object.bucket, prefix);
  if (listing.length > deps.limits.maxFilesPerModel) {
    throw new LimitExceededError(`version directory ${prefix}`, [
      limitIssue(
        prefix,
        'maxFilesPerModel',
        listing.length,
        deps.limits.maxFilesPerModel,
        'the number of files',
      ),
    ]);
  }
  const manifest = await readManifest(deps, object.bucket, prefix, listing);
  const registry = await deps.registry.get(upload.model);
  const trigger = { bucket: object.bucket, name: object.name, generation: object.generation };
  const decide = (entry: RegistryEntry | undefined) =>
    decideDeployment({ trigger, upload, listing, manifest, registry: entry?.record });
  const first = decide(registry);
  if (first.action === 'skip') return { status: 'skipped', reason: first.reason };

  // Bad input (config, signature, limits) is refused here, before the lease's first write.
  const firstModel = await prepareModel(deps, ctx, first, trigger, manifest);
  if (deps.config.dryRun) {
    const prepared = await preparePool(deps, ctx, firstModel, registry);
    logPlanned(ctx, prepared);
    return {
      status: 'skipped',
      reason: 'dry run: nothing applied',
      details: { plan: describePlan(prepared.plan) },
    };
  }

  // --- apply, serialised: the model's lease, then its pool's. Each decision is made again under
  // the lease, from what the previous holder left (a newer version serving supersedes this one).
  return withLease(deps, ctx, modelLeaseName(upload.model), async (modelLease) => {
    const current = await deps.registry.get(upload.model);
    const decision = decide(current);
    if (decision.action === 'skip') return { status: 'skipped', reason: decision.reason };
    const model =
      JSON.stringify(decision) === JSON.stringify(first)
        ? firstModel
        : await prepareModel(deps, ctx, decision, trigger, manifest);
    return withLease(deps, ctx, poolLeaseName(model.placement.pool), async (poolLease) => {
      const prepared = await preparePool(deps, ctx, model, current);
      logPlanned(ctx, prepared);
      return apply(deps, ctx, prepared, [modelLease, poolLease]);
    });
  });
}

/** The lease every deploy of one model takes. */
export function modelLeaseName(model: string): string {
  return `deploy/model/${model}`;
}

/** The lease every change of one pool's serving stack takes (repository config, loads). */
export function poolLeaseName(pool: string): string {
  return `deploy/pool/${pool}`;
}

async function withLease(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  name: string,
  work: (lease: Lease) => Promise<Outcome>,
): Promise<Outcome> {
  return deps.leases.withLease(name, ctx.event.id, async (lease) => {
    ctx.log.debug('lease taken', { lease: name, holder: lease.holder });
    return work(lease);
  });
}

function logPlanned(ctx: InvocationContext, prepared: PreparedDeployment): void {
  ctx.log.info('deployment planned', {
    model: prepared.decision.model,
    version: prepared.decision.version,
    pool: prepared.pool.pool,
    plan: prepared.plan,
    notes: prepared.notes,
  });
}

async function readManifest(
  deps: DeployModelDeps,
  bucket: string,
  prefix: string,
  listing: readonly ObjectInfo[],
): Promise<Manifest | undefined> {
  const info = listing.find((o) => o.name === `${prefix}${MANIFEST_FILE}`);
  if (!info) return undefined;
  const found = await deps.objects.readText({ bucket, name: info.name });
  if (!found) return undefined;
  return parseManifest(found.text, deps.limits);
}

async function readSignature(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  decision: DeployPlanned,
): Promise<OnnxSignature | undefined> {
  const file = decision.onnxModelFile;
  if (!file) return undefined;
  // Pinned to the generation that was decided on: the bytes inspected are the bytes published.
  // Its size is known from the listing, so the reads start without a metadata request.
  const source = deps.objects.byteSource({ ...file.source, size: file.size });
  const signature = await readOnnxSignature(source, {
    maxTensors: deps.limits.maxTensorsPerModel,
    maxRank: deps.limits.maxRank,
  });
  ctx.log.info('model signature read', {
    object: `gs://${file.source.bucket}/${file.source.name}#${file.source.generation}`,
    bytesRead: source.bytesRead,
    inputs: signature.inputs.length,
    outputs: signature.outputs.length,
  });
  return signature;
}

/** What a deploy knows of the model before it touches its pool: policy, config, placement. */
interface PreparedModel {
  decision: DeployPlanned;
  trigger: { bucket: string; name: string; generation: string };
  manifest: Manifest | undefined;
  modelPolicy: ModelPolicy & { name: string };
  config: ModelConfig;
  configText: string;
  notes: string[];
  placement: ReturnType<typeof placementFor>;
}

/** The model's side, under the model's lease: its policy, its signature and its config. */
async function prepareModel(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  decision: DeployPlanned,
  trigger: { bucket: string; name: string; generation: string },
  manifest: Manifest | undefined,
): Promise<PreparedModel> {
  const modelPolicy = {
    ...applyManifestToPolicy(resolveModelPolicy(deps.policy, decision.model), manifest),
    name: decision.model,
  };
  const [signature, userConfig] = await Promise.all([
    readSignature(deps, ctx, decision),
    decision.userConfig
      ? readUserConfig(deps, decision.userConfig, decision.model)
      : Promise.resolve(undefined),
  ]);
  // The pool serves every model placed on its GPU class: its scaling covers all of them.
  const placement = placementFor(deps.policy, modelPolicy.gpuClass);
  const built = buildModelConfig({
    limits: deps.limits,
    gpusPerNode: gpusPerNode(placement.gpuClass),
    model: decision.model,
    version: decision.version,
    backend: decision.backend,
    ...(manifest ? { manifest } : {}),
    ...(userConfig ? { userConfig } : {}),
    ...(signature ? { onnxSignature: signature } : {}),
    policy: modelPolicy,
  });
  return {
    decision,
    trigger,
    manifest,
    modelPolicy,
    config: built.config,
    configText: formatModelConfig(built.config),
    notes: built.notes,
    placement,
  };
}

/** The pool's side, under the pool's lease: the models it serves, its stack, and the plan. */
async function preparePool(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  model: PreparedModel,
  registry: RegistryEntry | undefined,
): Promise<PreparedDeployment> {
  const { decision, modelPolicy, placement, trigger, manifest, configText } = model;
  // The pool serves every model placed on its GPU class: its scaling covers all of them.
  const [poolIndex, admin, networkPolicies, zones] = await Promise.all([
    poolIndexOf(deps, placement.pool, placement.gpuClass.id),
    adminKeyFor(deps, placement.pool),
    deps.kubeObjects.list(
      'networking.k8s.io/v1',
      'NetworkPolicy',
      deps.policy.cluster.namespace,
      MANAGED_NETWORK_POLICIES,
    ),
    deps.zones(),
  ]);
  // Versions waiting for the pool's restore are in the repository, and its pods load them too.
  const poolModels = [
    ...new Set([...Object.keys(poolIndex.index.models), ...Object.keys(poolIndex.index.deferred ?? {})]),
  ]
    .filter((m) => m !== decision.model)
    .sort()
    .map((m) => ({ ...resolveModelPolicy(deps.policy, m), name: m }));
  const pool = desiredPool({
    policy: deps.policy,
    gpuClassId: modelPolicy.gpuClass,
    models: [modelPolicy, ...poolModels],
    keys: admin.keys,
    // The first deploy lays down the namespace's NetworkPolicy set; rotateSecurity owns it after.
    networkPolicies: networkPolicies.length === 0,
    zones,
  });
  const publish: PublishRequest = {
    repository: pool.repository,
    model: decision.model,
    version: decision.version,
    files: decision.files,
    configText,
    emptyVersionDir: decision.backend === 'ensemble',
  };
  const facts: VersionFacts = {
    model: decision.model,
    version: decision.version,
    backend: decision.backend,
    gpuClass: pool.gpuClass.id,
    source: trigger,
    fingerprint: decision.fingerprint,
    files: Object.fromEntries(
      decision.files.map((f) => [
        f.relative,
        {
          size: f.size,
          ...(f.md5Hash ? { md5Hash: f.md5Hash } : {}),
          ...(f.crc32c ? { crc32c: f.crc32c } : {}),
        },
      ]),
    ),
  };
  const prepared: Omit<PreparedDeployment, 'plan' | 'observation'> = {
    decision,
    modelPolicy,
    config: model.config,
    configText,
    notes: model.notes,
    pool,
    publish,
    facts,
    previousServing: registry?.record.serving,
    aliases: manifest?.aliases ?? [],
    keys: admin.keys,
    zones,
    secrets: secretValuesOf(pool.objects),
  };
  // The registry record the decision was made on is not read again: a change since then fails
  // the record's conditional write, and the deploy is re-planned.
  const observation = await observe(deps, prepared, { admin, registry, poolIndex });
  return { ...prepared, observation, plan: planFrom(deps, ctx, prepared, observation) };
}

/** Everything the plan is made from, read now (again on a re-plan). */
interface Observation {
  nodePools: NodePool[];
  nodeCountPerZone: number | undefined;
  liveObjects: KubernetesObject[];
  repository: RepositoryObservation;
  registry: RegistryObservation;
  poolIndex: PoolIndexObservation;
  pods: ObservedPod[];
  /** The target's scaling record (scaleOnAlert, applySchedules), if any. */
  targetRecord: TargetRecord | undefined;
}

async function observe(
  deps: DeployModelDeps,
  p: Omit<PreparedDeployment, 'plan' | 'observation'>,
  /** Read moments ago by this delivery (the first observation only): not read again. */
  known?: {
    admin: { ref: { name: string }; secret: LiveObject | undefined };
    registry: RegistryEntry | undefined;
    poolIndex: PoolIndexObservation;
  },
): Promise<Observation> {
  const admin = known?.admin;
  const { pool, publish } = p;
  const configRef = configObject(publish.repository, publish.model);
  const registryObject = deps.registry.objectOf(publish.model);
  const [nodePools, liveObjects, config, versionFiles, registry, poolIndex, pods, targetRecord] =
    await Promise.all([
      deps.nodePools.list(),
      Promise.all(
        pool.objects.map((o) =>
          admin && o.kind === 'Secret' && o.metadata.name === admin.ref.name
            ? Promise.resolve(admin.secret)
            : deps.kubeObjects.get(refOf(o)),
        ),
      ),
      deps.objects.readText(configRef),
      deps.objects.list(
        publish.repository.bucket,
        versionPrefix(publish.repository, publish.model, publish.version),
      ),
      known ? Promise.resolve(known.registry) : deps.registry.get(publish.model),
      known ? Promise.resolve(known.poolIndex) : poolIndexOf(deps, pool.pool, pool.gpuClass.id),
      readyPodsOf(deps, pool.pool, p.keys, publish.model),
      readTargetRecord(deps, pool.pool),
    ]);
  const observedPool = nodePools.find((np) => np.name === pool.pool);
  return {
    nodePools,
    nodeCountPerZone: observedPool ? await deps.nodePools.nodeCountPerZone(observedPool) : undefined,
    liveObjects: liveObjects.filter((o): o is NonNullable<typeof o> => o !== undefined),
    repository: {
      config: config ? { text: config.text, generation: config.info.generation } : undefined,
      versionFiles,
    },
    registry: { object: registryObject, record: registry?.record, generation: registry?.generation },
    poolIndex,
    pods,
    targetRecord,
  };
}

/** A record that does not parse is the scaling functions' to report; a deploy goes on without it. */
async function readTargetRecord(deps: DeployModelDeps, pool: string): Promise<TargetRecord | undefined> {
  const found = await deps.objects.readText({
    bucket: deps.config.stateBucket,
    name: targetRecordName(deps.policy.cluster.name, pool),
  });
  if (!found) return undefined;
  const parsed = parseTargetRecord(found.text);
  return parsed.ok ? parsed.record : undefined;
}

/** The pool's ready pods and the model's state on each; none while the pool has no ready pod. */
async function readyPodsOf(
  deps: DeployModelDeps,
  pool: string,
  keys: KeyRing,
  model: string,
): Promise<ObservedPod[]> {
  let pods: TritonPod[];
  try {
    pods = await deps.tritonPods({ pool, namespace: deps.policy.cluster.namespace, keys });
  } catch (err) {
    if (err instanceof RetryableError && err.reason === 'TRITON_NOT_READY') return [];
    throw err;
  }
  return Promise.all(
    pods.map(async ({ pod, triton }) => {
      const entry = (await triton.index()).find((e) => e.name === model);
      return {
        pod,
        model: entry
          ? { state: entry.state ?? null, ...(entry.version ? { version: entry.version } : {}) }
          : null,
      };
    }),
  );
}

function planFrom(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  p: Omit<PreparedDeployment, 'plan' | 'observation'>,
  o: Observation,
): Plan {
  // While the scaling functions manage the target, its HPA bounds and autoscaling stay as live.
  const pool = holdScaledFields(
    p.pool,
    {
      nodePool: o.nodePools.find((np) => np.name === p.pool.pool),
      hpa: o.liveObjects.find((l) => l.kind === 'HorizontalPodAutoscaler'),
    },
    o.targetRecord,
  );
  return planDeployment({
    publish: p.publish,
    config: p.config,
    facts: p.facts,
    aliases: p.aliases,
    readinessTimeoutSeconds: p.modelPolicy.readinessTimeoutSeconds,
    pool,
    observedPools: o.nodePools,
    ...(o.nodeCountPerZone === undefined ? {} : { observedNodeCountPerZone: o.nodeCountPerZone }),
    liveObjects: o.liveObjects,
    repository: o.repository,
    registry: o.registry,
    poolIndex: o.poolIndex,
    pods: o.pods,
    ...deferralOf(deps, p, o),
    zones: p.zones,
    guardrails: deps.policy.guardrails,
    clock: deps.clock,
    planId: ctx.event.id,
  });
}

function deferralOf(
  deps: DeployModelDeps,
  p: Omit<PreparedDeployment, 'plan' | 'observation'>,
  o: Observation,
): { deferral?: Deferral } {
  const deferral = deferralFor(p.pool.pool, o.targetRecord, deps.clock.nowMs());
  return deferral ? { deferral } : {};
}

async function readUserConfig(deps: DeployModelDeps, info: ObjectInfo, model: string): Promise<ModelConfig> {
  const found = await deps.objects.readText({ bucket: info.bucket, name: info.name });
  if (!found) throw new RetryableError('SOURCE_CHANGED', `gs://${info.bucket}/${info.name} vanished`);
  return parseUserConfig(found.text, model, deps.limits);
}

/**
 * The pool's index of the models it serves: one read, whatever the number of models registered.
 * A pool whose index was never written (state from before the index existed) gets one built from
 * a scan of the records, which the deploy's plan then writes.
 */
async function poolIndexOf(
  deps: DeployModelDeps,
  pool: string,
  gpuClassId: string,
): Promise<PoolIndexObservation> {
  const object = deps.registry.poolIndexOf(pool);
  const found: PoolIndexEntry | undefined = await deps.registry.getPoolIndex(pool);
  if (found) return { object, index: found.index, generation: found.generation };
  const nowIso = new Date(deps.clock.nowMs()).toISOString();
  const records = await deps.registry.list();
  return { object, index: poolIndexFromRecords(pool, gpuClassId, records, nowIso), generation: undefined };
}

/**
 * The pool's keys: the live Secret's ring as it is (a deploy never rotates, adds or drops a key,
 * so it cannot undo a rotation), or a new ring the apply will store.
 */
async function adminKeyFor(deps: DeployModelDeps, pool: string) {
  const ref = tritonAdminSecretRefFor(pool);
  const secret = await deps.kubeObjects.get({
    apiVersion: 'v1',
    kind: 'Secret',
    name: ref.name,
    namespace: deps.policy.cluster.namespace,
  });
  const now = deps.clock.nowMs();
  const fresh = (purpose: 'admin' | 'inference') => ({
    id: makeKeyId(purpose, now, randomBytes(3).toString('hex')),
    value: randomBytes(24).toString('base64url'),
  });
  const keys =
    keyRingOf(secret) ??
    newKeyRing(
      { admin: fresh('admin'), inference: fresh('inference') },
      deps.policy.security.apiKeys.inferenceKey,
    );
  for (const value of Object.values(keys.keys)) registerSecret(value);
  return { keys, ref, secret };
}

function refOf(o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }) {
  return { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace };
}

function executorFor(deps: DeployModelDeps, keys: KeyRing): PlanExecutor {
  const namespace = deps.policy.cluster.namespace;
  return new PlanExecutor(
    [
      new NodePoolRunner(deps.nodePoolExecutor),
      new KubeRunner(deps.kube),
      new StorageRunner(deps.objects),
      new TritonRunner((pool) => deps.tritonPods({ pool, namespace, keys }), deps.clock),
    ],
    deps.log,
  );
}

async function apply(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  p: PreparedDeployment,
  leases: readonly Lease[],
): Promise<Outcome> {
  const { decision, pool } = p;
  const started = deps.clock.nowMs();
  const executor = executorFor(deps, p.keys);
  // Every action runs only while this deploy still holds its leases: a holder that stalled past
  // its expiry stops before its next write (the new holder plans from live state).
  const hooks: Pick<ExecuteOptions, 'beforeAction' | 'afterAction'> = {
    beforeAction: () => {
      for (const lease of leases) lease.assertHeld();
    },
    ...(deps.executeHooks?.afterAction ? { afterAction: deps.executeHooks.afterAction } : {}),
  };
  // Guardrails count capacity from the latest observation: a re-plan is checked against what it saw.
  let latest = p.observation;
  const guardrails = (plan: Plan) => {
    deployGuardrails({ observedPools: latest.nodePools, pool: p.pool, guardrails: deps.policy.guardrails })(
      plan,
    );
    checkRolloutPosture(plan, deps.policy.security.posture);
  };
  let executed: ExecutionResult;
  try {
    executed = await executor.execute(p.plan, {
      ...hooks,
      guardrails,
      secrets: p.secrets,
      replan: async (why) => {
        ctx.log.notice('re-planning the deploy from live state', { model: decision.model, why });
        latest = await observe(deps, p);
        return planFrom(deps, ctx, p, latest);
      },
    });
  } catch (err) {
    if (!(err instanceof ActionsFailedError) || !err.failures.every((f) => f.action.kind === 'loadModel'))
      throw err;
    // The rollback ends in the MODEL_LOAD_FAILED rejection.
    return rollBack(deps, ctx, p, executor, err, hooks);
  }
  if (!executed.plan.actions.some((a) => a.kind === 'loadModel')) {
    const deferral = deferralFor(pool.pool, latest.targetRecord, deps.clock.nowMs());
    if (deferral) return deferred(deps, p, deferral, executed);
    // Published and placed; the pool's first pod is still starting. A redelivery loads it.
    throw new RetryableError(
      'TRITON_NOT_READY',
      `no ready Triton pod for pool ${pool.pool} in namespace ${deps.policy.cluster.namespace} yet`,
      { details: { pool: pool.pool } },
    );
  }

  const durationMs = deps.clock.nowMs() - started;
  const deployed = deployedEvent(deps, ctx, p, p.facts.source, durationMs);
  const copies = executed.steps.filter((s) => s.action.kind === 'copyStorageObject');
  return {
    status: 'applied',
    message: `deployed ${decision.model} version ${decision.version} on ${pool.pool}`,
    events: [deployed],
    details: {
      model: decision.model,
      version: decision.version,
      pool: pool.pool,
      copied: copies.filter((s) => s.outcome === 'applied').length,
      skipped: decision.files.length - copies.filter((s) => s.outcome === 'applied').length,
      replans: executed.replans,
      durationMs,
    },
  };
}

/**
 * Published during the pool's scheduled downtime: the deploy ends here instead of being redelivered
 * until the window ends. The pool's pods load the version when they start, and the applySchedules
 * tick that sees every ready pod serve it marks it READY and publishes `model.deployed`.
 */
function deferred(
  deps: DeployModelDeps,
  p: PreparedDeployment,
  deferral: Deferral,
  executed: ExecutionResult,
): Outcome {
  const { decision, pool } = p;
  const copies = executed.steps.filter((s) => s.action.kind === 'copyStorageObject');
  const wake = `inferctl wake ${pool.pool} --for 2h`;
  return {
    status: 'applied',
    message:
      `published ${decision.model} version ${decision.version}; ${pool.pool} is in a scheduled downtime` +
      `${deferral.until ? ` until ${deferral.until}` : ''}, so it loads when the pool is restored (${wake} serves it now)`,
    details: {
      model: decision.model,
      version: decision.version,
      pool: pool.pool,
      deferred: { until: deferral.until },
      copied: copies.filter((s) => s.outcome === 'applied').length,
      replans: executed.replans,
      namespace: deps.policy.cluster.namespace,
    },
  };
}

/**
 * A load Triton refused on some pod: the previous version keeps serving. Its config comes back,
 * the failed files go and the registry says why (one plan), then every pod that was asked to load
 * the version reloads the restored config or drops the model (a second, best-effort plan).
 */
async function rollBack(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  p: PreparedDeployment,
  executor: PlanExecutor,
  failed: ActionsFailedError,
  hooks: Pick<ExecuteOptions, 'beforeAction' | 'afterAction'>,
): Promise<never> {
  const { decision, pool } = p;
  const loads = failed.plan.actions.filter((a) => a.kind === 'loadModel');
  const failures = failed.failures.map((f) => ({
    pod: f.action.kind === 'loadModel' ? f.action.after.pod : f.action.target,
    reason: f.error.message,
  }));
  const failure = describeFailures(failures, loads.length);
  const now = await observe(deps, p);
  const rollback = planRollback({
    unpublish: {
      repository: pool.repository,
      model: decision.model,
      version: decision.version,
      publishedConfigText: p.configText,
      previousConfigText: p.observation.repository.config?.text,
      keepVersionFiles: p.previousServing === decision.version,
    },
    repository: now.repository,
    registry: now.registry,
    facts: p.facts,
    failure,
    pool: pool.pool,
    pods: loads.flatMap((a) => (a.kind === 'loadModel' ? [a.after.pod] : [])),
    hadPrevious: p.previousServing !== undefined,
    clock: deps.clock,
    planId: ctx.event.id,
  });
  ctx.log.warn('rolling back a version Triton could not load', {
    model: decision.model,
    version: decision.version,
    failure,
    plan: rollback.repository,
  });
  const noGuardrail = () => undefined;
  await executor.execute(rollback.repository, { ...hooks, guardrails: noGuardrail });
  await executor.execute(rollback.pods, { ...hooks, guardrails: noGuardrail }).catch((err: unknown) => {
    ctx.log.warn('a pod could not restore the previous version; it reloads the repository when it restarts', {
      model: decision.model,
      error: err,
    });
  });
  throw new PermanentError(
    'MODEL_LOAD_FAILED',
    `Triton could not load ${decision.model} version ${decision.version}: ${failure}`,
    {
      details: {
        model: decision.model,
        version: decision.version,
        pods: failures.map((f) => f.pod),
        ...(p.previousServing === undefined ? {} : { stillServing: p.previousServing }),
      },
    },
  );
}

interface PodFailure {
  pod: string;
  reason: string;
}

function describeFailures(failures: readonly PodFailure[], pods: number): string {
  const sorted = [...failures].sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0));
  const list = sorted.map((f) => `${f.pod}: ${f.reason}`).join('; ');
  return `failed on ${failures.length} of ${pods} pod${pods === 1 ? '' : 's'}: ${list}`;
}

function deployedEvent(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  p: PreparedDeployment,
  object: { bucket: string; name: string; generation: string },
  durationMs: number,
): OutboundCloudEvent {
  return buildOutboundEvent('dev.inferplane.model.v1.deployed', {
    source: ctx.eventSource,
    subject: subjectOf(p.decision.model, p.decision.version),
    id: `${ctx.event.id}-deployed`,
    time: new Date(deps.clock.nowMs()),
    data: {
      model: p.decision.model,
      version: String(p.decision.version),
      repositoryUri: repositoryUri(p.pool.repository),
      gpuClass: p.pool.gpuClass.id,
      sourceObject: object,
      durationMs,
      namespace: deps.policy.cluster.namespace,
      deploymentName: p.pool.pool,
    },
  });
}
