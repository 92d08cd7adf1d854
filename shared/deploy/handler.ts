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
import { awaitModelReady } from '../adapters/triton';
import { desiredPool, type PoolDesired, placementFor, tritonAdminSecretRefFor } from '../cluster/desired';
import { adminKeyOf } from '../cluster/reconcile';
import { describePlan, type Plan } from '../domain/plan';
import type { ModelRecord } from '../domain/registry';
import { repositoryUri } from '../domain/repository';
import type { KubeApplier } from '../execute/kube-applier';
import type { NodePoolExecutor } from '../execute/nodepool-executor';
import { readOnnxSignature } from '../onnx/reader';
import type { OnnxSignature } from '../onnx/types';
import { type ModelPolicy, resolveModelPolicy } from '../policy';
import type { OutboundCloudEvent } from '../ports/events';
import type { KubeObjects } from '../ports/kubernetes';
import type { NodePools } from '../ports/nodepools';
import type { ObjectInfo } from '../ports/storage';
import type { TritonPod } from '../ports/triton';
import { PermanentError, RetryableError } from '../runtime/errors';
import type { InvocationContext, Outcome } from '../runtime/function';
import { registerSecret } from '../runtime/log';
import { formatModelConfig, parseModelConfig } from '../triton/config-codec';
import type { ModelConfig } from '../triton/model-config';
import type { SharedDeps } from '../wiring/shared-deps';
import { type DeployDecision, decideDeployment } from './decide';
import type { DeployLimits } from './limits';
import { applyManifestToPolicy, type Manifest, parseManifest } from './manifest';
import { buildModelConfig } from './model-config';
import { planDeployment } from './plan';
import { publishVersion, rollbackVersion } from './publish';
import type { ModelRegistry } from './registry';
import { classifyUpload, MANIFEST_FILE } from './upload';

export const FUNCTION_NAME = 'deployModel';

export interface DeployModelDeps extends SharedDeps {
  nodePools: NodePools;
  executor: NodePoolExecutor;
  kubeObjects: KubeObjects;
  kube: KubeApplier;
  /**
   * The ready Triton pods of one GPU pool, each called with the pool's admin key. Every replica
   * loads models on its own, so a version is loaded on all of them.
   * @throws RetryableError TRITON_NOT_READY when none is ready yet.
   */
  tritonPods(args: { pool: string; namespace: string; adminKey: string }): Promise<TritonPod[]>;
  registry: ModelRegistry;
  limits: DeployLimits;
  /** Zones a new GPU pool spans (1 for a zonal cluster). */
  zones: number;
}

type DeployPlanned = Extract<DeployDecision, { action: 'deploy' }>;

interface PreparedDeployment {
  decision: DeployPlanned;
  modelPolicy: ModelPolicy & { name: string };
  config: ModelConfig;
  configText: string;
  notes: string[];
  pool: PoolDesired;
  plan: Plan;
  previousServing: number | undefined;
  aliases: string[];
  /** Sent on repository API calls: Triton restricts them to the control plane. */
  adminKey: string;
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
  const manifest = await readManifest(deps, object.bucket, prefix, listing);
  const registry = (await deps.registry.get(upload.model))?.record;
  const decision = decideDeployment({
    trigger: { bucket: object.bucket, name: object.name, generation: object.generation },
    upload,
    listing,
    manifest,
    registry,
  });
  if (decision.action === 'skip') return { status: 'skipped', reason: decision.reason };

  const prepared = await prepare(deps, ctx, decision, manifest, registry);
  ctx.log.info('deployment planned', {
    model: decision.model,
    version: decision.version,
    pool: prepared.pool.pool,
    plan: prepared.plan,
    notes: prepared.notes,
  });
  if (deps.config.dryRun) {
    return {
      status: 'skipped',
      reason: 'dry run: nothing applied',
      details: { plan: describePlan(prepared.plan) },
    };
  }

  // --- apply
  return apply(deps, ctx, prepared, {
    bucket: object.bucket,
    name: object.name,
    generation: object.generation,
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
  const source = deps.objects.byteSource(file.source);
  const signature = await readOnnxSignature(source);
  ctx.log.info('model signature read', {
    object: `gs://${file.source.bucket}/${file.source.name}#${file.source.generation}`,
    bytesRead: source.bytesRead,
    inputs: signature.inputs.length,
    outputs: signature.outputs.length,
  });
  return signature;
}

async function prepare(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  decision: DeployPlanned,
  manifest: Manifest | undefined,
  registry: ModelRecord | undefined,
): Promise<PreparedDeployment> {
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
  const built = buildModelConfig({
    model: decision.model,
    version: decision.version,
    backend: decision.backend,
    ...(manifest ? { manifest } : {}),
    ...(userConfig ? { userConfig } : {}),
    ...(signature ? { onnxSignature: signature } : {}),
    policy: modelPolicy,
  });
  const configText = formatModelConfig(built.config);

  // The pool serves every model placed on its GPU class: its scaling covers all of them.
  const placement = placementFor(deps.policy, modelPolicy.gpuClass);
  const [poolModels, admin] = await Promise.all([
    modelsOnPool(deps, placement.gpuClass.id, decision.model),
    adminKeyFor(deps, placement.pool),
  ]);
  const adminKey = admin.key;
  const pool = desiredPool({
    policy: deps.policy,
    gpuClassId: modelPolicy.gpuClass,
    models: [modelPolicy, ...poolModels],
    adminKey,
    zones: deps.zones,
  });

  // The plan: every change, checked against the guardrails as a whole before anything happens.
  // The admin Secret was just read; every other object of the stack is read once here.
  const [observedPools, liveObjects] = await Promise.all([
    deps.nodePools.list(),
    Promise.all(
      pool.objects.map((o) =>
        o.kind === 'Secret' && o.metadata.name === admin.ref.name
          ? Promise.resolve(admin.secret)
          : deps.kubeObjects.get(refOf(o)),
      ),
    ),
  ]);
  const previousServing = registry?.serving;
  const plan = planDeployment({
    model: decision.model,
    version: decision.version,
    fingerprint: decision.fingerprint,
    incomingBucket: deps.policy.cluster.incomingBucket,
    config: built.config,
    pool,
    observedPools,
    liveObjects: liveObjects.filter((o): o is NonNullable<typeof o> => o !== undefined),
    previousServing,
    zones: deps.zones,
    guardrails: deps.policy.guardrails,
    clock: deps.clock,
    planId: ctx.event.id,
  });
  return {
    decision,
    modelPolicy,
    config: built.config,
    configText,
    notes: built.notes,
    pool,
    plan,
    previousServing,
    aliases: manifest?.aliases ?? [],
    adminKey,
  };
}

async function readUserConfig(deps: DeployModelDeps, info: ObjectInfo, model: string): Promise<ModelConfig> {
  const found = await deps.objects.readText({ bucket: info.bucket, name: info.name });
  if (!found) throw new RetryableError('SOURCE_CHANGED', `gs://${info.bucket}/${info.name} vanished`);
  return parseModelConfig(found.text, { defaultName: model });
}

/** Policies of the other models the registry says are served by this GPU class. */
async function modelsOnPool(
  deps: DeployModelDeps,
  gpuClassId: string,
  except: string,
): Promise<Array<ModelPolicy & { name: string }>> {
  const records = await deps.registry.list();
  return records
    .filter((r) => r.model !== except && r.serving !== undefined)
    .filter((r) => r.versions[String(r.serving)]?.gpuClass === gpuClassId)
    .map((r) => resolveModelPolicy(deps.policy, r.model));
}

/** The pool's Triton admin key: the live Secret's, or a new one the apply will store. */
async function adminKeyFor(deps: DeployModelDeps, pool: string) {
  const ref = tritonAdminSecretRefFor(pool);
  const secret = await deps.kubeObjects.get({
    apiVersion: 'v1',
    kind: 'Secret',
    name: ref.name,
    namespace: deps.policy.cluster.namespace,
  });
  const key = adminKeyOf(secret, ref.key) ?? randomBytes(24).toString('base64url');
  registerSecret(key);
  return { key, ref, secret };
}

function refOf(o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }) {
  return { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace };
}

async function apply(
  deps: DeployModelDeps,
  ctx: InvocationContext,
  p: PreparedDeployment,
  object: { bucket: string; name: string; generation: string },
): Promise<Outcome> {
  const { decision, pool } = p;
  const nowIso = () => new Date(deps.clock.nowMs()).toISOString();
  const started = deps.clock.nowMs();

  // 1. Cluster: the GPU pool and the serving stack. Every step is idempotent; a crash resumes.
  await deps.executor.reconcileNodePool(pool.nodePool, { gpuClass: pool.gpuClass, zones: deps.zones });
  await deps.kube.applyAll(pool.objects);

  // 2. Repository: version files, then config.pbtxt last.
  const published = await publishVersion(deps.objects, {
    repository: pool.repository,
    model: decision.model,
    version: decision.version,
    files: decision.files,
    configText: p.configText,
    emptyVersionDir: decision.backend === 'ensemble',
  });
  const files = Object.fromEntries(
    published.files.map((f) => [
      f.name.slice(`${pool.repository.prefix}/${decision.model}/${decision.version}/`.length),
      {
        size: f.size.toString(),
        ...(f.md5Hash ? { md5Hash: f.md5Hash } : {}),
        ...(f.crc32c ? { crc32c: f.crc32c } : {}),
      },
    ]),
  );
  const wasServing = p.previousServing === decision.version;
  await deps.registry.update(decision.model, nowIso(), (r) => {
    r.versions[String(decision.version)] = {
      version: decision.version,
      state: 'PUBLISHED',
      backend: decision.backend,
      gpuClass: pool.gpuClass.id,
      source: object,
      fingerprint: decision.fingerprint,
      files,
      publishedAt: nowIso(),
    };
    return r;
  });

  // 3. Every ready Triton pod loads it; readiness is polled with a deadline (load errors can
  // surface as timeouts). Pods that start later load the published config by `--load-model=*`.
  const pods = await deps.tritonPods({
    pool: pool.pool,
    namespace: deps.policy.cluster.namespace,
    adminKey: p.adminKey,
  });
  const outcome = await loadOnPods(deps, pods, decision.model, decision.version, p.config, {
    deadlineMs: p.modelPolicy.readinessTimeoutSeconds * 1000,
  });

  if (outcome.failures.length > 0) {
    const failure = describeFailures(outcome.failures, pods.length);
    // The previous version keeps serving: its config comes back, the failed files go, and every
    // pod that took the new version reloads from the restored repository.
    await rollbackVersion(
      deps.objects,
      { repository: pool.repository, model: decision.model, version: decision.version },
      published,
      { keepVersionFiles: wasServing },
    );
    await restorePods(outcome.loaded, decision.model, p.previousServing !== undefined);
    await deps.registry.update(decision.model, nowIso(), (r) => {
      const v = r.versions[String(decision.version)];
      if (v) {
        v.state = 'FAILED';
        v.reason = failure;
        v.failedAt = nowIso();
      }
      return r;
    });
    throw new PermanentError(
      'MODEL_LOAD_FAILED',
      `Triton could not load ${decision.model} version ${decision.version}: ${failure}`,
      {
        details: {
          model: decision.model,
          version: decision.version,
          pods: outcome.failures.map((f) => f.pod),
          ...(p.previousServing === undefined ? {} : { stillServing: p.previousServing }),
        },
      },
    );
  }

  await deps.registry.update(decision.model, nowIso(), (r) => {
    const v = r.versions[String(decision.version)];
    if (!v) return undefined;
    v.state = 'READY';
    v.readyAt = nowIso();
    delete v.reason;
    const previous = r.serving;
    if (previous !== undefined && previous !== decision.version) {
      const old = r.versions[String(previous)];
      if (old) old.state = 'SUPERSEDED';
    }
    r.serving = decision.version;
    for (const alias of p.aliases) r.aliases[alias] = decision.version;
    return r;
  });

  const durationMs = deps.clock.nowMs() - started;
  const deployed = deployedEvent(deps, ctx, p, object, durationMs);
  return {
    status: 'applied',
    message: `deployed ${decision.model} version ${decision.version} on ${pool.pool}`,
    events: [deployed],
    details: {
      model: decision.model,
      version: decision.version,
      pool: pool.pool,
      copied: published.copied,
      skipped: published.skipped,
      durationMs,
    },
  };
}

interface PodFailure {
  pod: string;
  reason: string;
}

/**
 * Loads a model on every pod and awaits its readiness on each, in parallel. A pod's load refusal
 * or readiness failure is a failure of the deployment; anything else (Triton unreachable, 503) is
 * rethrown once all pods are done, so the event is redelivered.
 */
async function loadOnPods(
  deps: DeployModelDeps,
  pods: readonly TritonPod[],
  model: string,
  version: number,
  config: ModelConfig,
  options: { deadlineMs: number },
): Promise<{ loaded: TritonPod[]; failures: PodFailure[] }> {
  const loaded: TritonPod[] = [];
  const failures: PodFailure[] = [];
  const settled = await Promise.allSettled(
    pods.map(async (pod) => {
      try {
        await pod.triton.load(model, config);
      } catch (err) {
        if (!(err instanceof PermanentError)) throw err;
        failures.push({ pod: pod.pod, reason: err.message });
        return;
      }
      loaded.push(pod);
      const ready = await awaitModelReady(pod.triton, deps.clock, model, version, options);
      if (!ready.ready) failures.push({ pod: pod.pod, reason: ready.reason });
    }),
  );
  const unexpected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (unexpected && failures.length === 0) throw unexpected.reason;
  return { loaded, failures: failures.sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0)) };
}

/**
 * After a rollback: pods that took the new version reload the model from the restored repository
 * (a load without config), or drop it when no version served before. Best effort: a pod that
 * cannot be reached now reloads the repository when it restarts.
 */
async function restorePods(pods: readonly TritonPod[], model: string, hadPrevious: boolean): Promise<void> {
  await Promise.all(
    pods.map(({ triton }) =>
      (hadPrevious ? triton.load(model) : triton.unload(model)).catch(() => undefined),
    ),
  );
}

function describeFailures(failures: readonly PodFailure[], pods: number): string {
  const list = failures.map((f) => `${f.pod}: ${f.reason}`).join('; ');
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
