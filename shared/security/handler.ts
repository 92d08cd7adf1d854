/**
 * rotateSecurity: a Cloud Scheduler tick (Pub/Sub, command `rotate-security`) or a security bundle
 * uploaded to the security bucket (`bundles/<name>.yaml`) -> the namespace's NetworkPolicies, the
 * pools' API keys and their exposure are made as the policy (or the bundle in force) says, the
 * posture checks are run, and a `security.rotated` event says what changed and what was found.
 *
 * parse -> observe -> decide -> apply:
 * - parse: the command, or the bundle (every problem named; a bad bundle changes nothing);
 * - observe: Deployments, pods, key Secrets, NetworkPolicies, exposure objects, the service
 *   account, GKE node pools and cluster;
 * - decide: `decideSecurity` (pure) returns the plan and the findings;
 * - apply: the one executor runs the plan (dry run: printed, nothing applied).
 */
import { randomBytes } from 'node:crypto';
import { buildOutboundEvent } from '../../events/outbound';
import { parseSchedulerCommandEvent } from '../../events/scheduler';
import { parseStorageObjectEvent } from '../../events/storage';
import { tritonAdminSecretRefFor } from '../cluster/desired';
import { K8S_LABELS, MANAGED_BY } from '../cluster/names';
import { secretValuesOf } from '../cluster/objects';
import { type KeyPurpose, makeKeyId } from '../domain/keys';
import { describePlan, type Plan } from '../domain/plan';
import { PlanExecutor } from '../execute/executor';
import { type KubeApplier, KubeRunner } from '../execute/kube-applier';
import { StorageRunner } from '../execute/storage-runner';
import type { KubeObjects, LiveObject } from '../ports/kubernetes';
import type { NodePools } from '../ports/nodepools';
import { errorMessage, PermanentError } from '../runtime/errors';
import type { OutboundCloudEvent } from '../runtime/events';
import type { InvocationContext, Outcome } from '../runtime/function';
import { registerSecret } from '../runtime/log';
import type { SharedDeps } from '../wiring/shared-deps';
import {
  ACTIVE_BUNDLE_OBJECT,
  type ActiveBundleRecord,
  activeBundleRecordSchema,
  classifyBundleObject,
  InvalidBundleError,
  MAX_BUNDLE_BYTES,
  parseSecurityBundle,
  type SecurityBundle,
} from './bundle';
import {
  decideSecurity,
  type SecurityDecision,
  type SecurityDecisionInput,
  type SecurityObservation,
} from './decide';
import { EXPOSURE_KINDS } from './exposure';
import type { FreshKeys } from './keys';

export const FUNCTION_NAME = 'rotateSecurity';

const STORAGE_FINALIZED = 'google.cloud.storage.object.v1.finalized';

export interface RotateSecurityDeps extends SharedDeps {
  nodePools: NodePools;
  kubeObjects: KubeObjects;
  kube: KubeApplier;
  /** Key material: a new key value and the random suffix of its id (tests record every key). */
  keyMaterial: { value(): string; suffix(): string };
}

export const cryptoKeyMaterial: RotateSecurityDeps['keyMaterial'] = {
  value: () => randomBytes(32).toString('base64url'),
  suffix: () => randomBytes(3).toString('hex'),
};

interface Trigger {
  kind: 'schedule' | 'bundle';
  dryRun: boolean;
  force: boolean;
  bundle?: {
    source: string;
    spec: SecurityBundle;
    object: { bucket: string; name: string; generation: string };
  };
}

export async function handleRotateSecurity(
  deps: RotateSecurityDeps,
  ctx: InvocationContext,
): Promise<Outcome> {
  // --- parse
  const parsed = await parseTrigger(deps, ctx);
  if ('skip' in parsed) return { status: 'skipped', reason: parsed.skip };
  const trigger = parsed;

  // --- observe the bundle in force
  const record = await readRecord(deps);
  const bundle = trigger.bundle ?? (await recordedBundle(deps, ctx, record?.record));
  const recordBundle: SecurityDecisionInput['recordBundle'] = trigger.bundle
    ? {
        object: { bucket: deps.config.stateBucket, name: ACTIVE_BUNDLE_OBJECT },
        before: record ? { generation: record.generation } : null,
        record: {
          ...trigger.bundle.object,
          appliedAt: new Date(deps.clock.nowMs()).toISOString(),
        },
      }
    : undefined;

  // --- observe, then decide
  const now = deps.clock.nowMs();
  const fresh = freshKeys(deps, now);
  const decide = async (): Promise<SecurityDecision> =>
    decideSecurity({
      policy: deps.policy,
      observed: await observe(deps),
      ...(bundle ? { bundle: { source: bundle.source, spec: bundle.spec } } : {}),
      ...(recordBundle ? { recordBundle } : {}),
      nowMs: now,
      fresh,
      force: trigger.force,
      planId: ctx.event.id,
    });
  let decision = await decide();
  ctx.log.info('security plan', {
    trigger: trigger.kind,
    plan: decision.plan,
    findings: decision.findings,
    keys: decision.keys,
    notes: decision.notes,
  });
  const dryRun = deps.config.dryRun || trigger.dryRun;
  if (dryRun) {
    return {
      status: 'skipped',
      reason: 'dry run: nothing applied',
      events: [rotatedEvent(deps, ctx, trigger, bundle?.source, decision, true, 0)],
      details: { plan: describePlan(decision.plan), findings: decision.findings.length },
    };
  }

  // --- apply
  const executor = new PlanExecutor([new KubeRunner(deps.kube), new StorageRunner(deps.objects)], deps.log);
  // The values the plan's redacted Secrets stand for; a re-plan adds its own.
  const secrets = new Map<string, string>();
  const remember = (d: SecurityDecision) => {
    for (const [k, v] of secretValuesOf(d.secretObjects)) secrets.set(k, v);
  };
  remember(decision);
  const executed = await executor.execute(decision.plan, {
    guardrails: securityGuardrails,
    secrets,
    replan: async (why) => {
      ctx.log.notice('re-planning the security tick from live state', { why });
      decision = await decide();
      remember(decision);
      return decision.plan;
    },
  });
  const applied = executed.steps.filter((s) => s.outcome === 'applied').length;
  const event = rotatedEvent(deps, ctx, trigger, bundle?.source, decision, false, applied);
  const details = {
    trigger: trigger.kind,
    networkPolicySet: decision.networkPolicySet,
    applied,
    replans: executed.replans,
    findings: decision.findings.map((f) => `${f.check} ${f.target}`),
    keys: decision.keys.map((k) => ({
      pool: k.pool,
      active: k.activeKeyIds,
      rotated: k.rotated,
      retired: k.retired,
    })),
  };
  if (applied === 0) {
    return {
      status: 'skipped',
      reason: 'security already as the policy says: nothing changed',
      events: [event],
      details,
    };
  }
  return {
    status: 'applied',
    message: `security tick applied ${applied} change(s) with ${decision.findings.length} finding(s)`,
    events: [event],
    details,
  };
}

/** Only Kubernetes objects and the bundle record: a security plan never touches capacity. */
function securityGuardrails(plan: Plan): void {
  const foreign = plan.actions.filter(
    (a) => a.kind !== 'applyObject' && a.kind !== 'deleteObject' && a.kind !== 'writeStorageObject',
  );
  if (foreign.length > 0) {
    throw new PermanentError(
      'GUARDRAIL_VIOLATION',
      `a security plan may change only Kubernetes objects and its bundle record, not ${foreign.map((a) => a.kind).join(', ')}`,
    );
  }
}

async function parseTrigger(
  deps: RotateSecurityDeps,
  ctx: InvocationContext,
): Promise<Trigger | { skip: string }> {
  if (ctx.event.type === STORAGE_FINALIZED) return parseBundleTrigger(deps, ctx);
  const event = parseSchedulerCommandEvent(ctx.event);
  const command = event.message.payload;
  if (command.command !== 'rotate-security') {
    return { skip: `command ${command.command} is not for ${FUNCTION_NAME}` };
  }
  return { kind: 'schedule', dryRun: command.dryRun, force: command.force ?? false };
}

async function parseBundleTrigger(
  deps: RotateSecurityDeps,
  ctx: InvocationContext,
): Promise<Trigger | { skip: string }> {
  const object = parseStorageObjectEvent(ctx.event).data;
  const bucket = deps.config.securityBucket;
  if (bucket === undefined) return { skip: 'INFERPLANE_SECURITY_BUCKET is unset: the bundle trigger is off' };
  if (object.bucket !== bucket)
    return { skip: `bucket ${object.bucket} is not the security bucket ${bucket}` };
  const kind = classifyBundleObject(object.name);
  if (kind.kind === 'ignore') return { skip: kind.reason };
  const source = `gs://${object.bucket}/${object.name}#${object.generation}`;
  const record = await readRecord(deps);
  if (record?.record.name === object.name && BigInt(record.record.generation) >= BigInt(object.generation)) {
    return {
      skip: `${source} is not newer than the bundle in force (generation ${record.record.generation})`,
    };
  }
  if (BigInt(object.size) > BigInt(MAX_BUNDLE_BYTES)) {
    throw new InvalidBundleError(source, [
      { path: '', message: `a bundle is at most ${MAX_BUNDLE_BYTES} bytes` },
    ]);
  }
  const text = await readPinned(deps, {
    bucket: object.bucket,
    name: object.name,
    generation: object.generation,
  });
  if (text === undefined) return { skip: `${source} is gone` };
  const spec = parseSecurityBundle(text, source);
  ctx.log.info('security bundle accepted', { bundle: source, name: spec.metadata?.name });
  return {
    kind: 'bundle',
    dryRun: false,
    force: false,
    bundle: {
      source,
      spec,
      object: { bucket: object.bucket, name: object.name, generation: object.generation },
    },
  };
}

async function readPinned(
  deps: RotateSecurityDeps,
  ref: { bucket: string; name: string; generation: string },
): Promise<string | undefined> {
  const source = deps.objects.byteSource(ref);
  try {
    const size = await source.size();
    if (size > MAX_BUNDLE_BYTES) {
      throw new InvalidBundleError(`gs://${ref.bucket}/${ref.name}#${ref.generation}`, [
        { path: '', message: `a bundle is at most ${MAX_BUNDLE_BYTES} bytes` },
      ]);
    }
    return Buffer.from(await source.read(0, size)).toString('utf8');
  } catch (err) {
    if (err instanceof InvalidBundleError) throw err;
    if (/not ?found|404|No such object/i.test(errorMessage(err))) return undefined;
    throw err;
  } finally {
    await source.close?.();
  }
}

async function readRecord(
  deps: RotateSecurityDeps,
): Promise<{ record: ActiveBundleRecord; generation: string } | undefined> {
  const found = await deps.objects.readText({ bucket: deps.config.stateBucket, name: ACTIVE_BUNDLE_OBJECT });
  if (!found) return undefined;
  const parsed = activeBundleRecordSchema.safeParse(safeJson(found.text));
  // A record that does not parse is rewritten by the next bundle; until then the policy file rules.
  return parsed.success ? { record: parsed.data, generation: found.info.generation } : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The recorded bundle, read at its generation; a bundle that is gone leaves the policy file in force. */
async function recordedBundle(
  deps: RotateSecurityDeps,
  ctx: InvocationContext,
  record: ActiveBundleRecord | undefined,
): Promise<{ source: string; spec: SecurityBundle } | undefined> {
  if (!record) return undefined;
  const source = `gs://${record.bucket}/${record.name}#${record.generation}`;
  try {
    const text = await readPinned(deps, record);
    if (text === undefined) {
      ctx.log.warn('the bundle in force is gone: the policy file applies', { bundle: source });
      return undefined;
    }
    return { source, spec: parseSecurityBundle(text, source) };
  } catch (err) {
    if (!(err instanceof InvalidBundleError)) throw err;
    ctx.log.warn('the bundle in force no longer parses: the policy file applies', {
      bundle: source,
      error: err,
    });
    return undefined;
  }
}

/** Fresh keys per pool, made once per delivery (a re-plan reuses them), each registered as secret. */
function freshKeys(deps: RotateSecurityDeps, nowMs: number): (pool: string) => FreshKeys {
  const made = new Map<string, FreshKeys>();
  return (pool) => {
    let keys = made.get(pool);
    if (!keys) {
      const one = (purpose: KeyPurpose) => {
        const value = deps.keyMaterial.value();
        registerSecret(value);
        return { id: makeKeyId(purpose, nowMs, deps.keyMaterial.suffix()), value };
      };
      keys = { admin: one('admin'), inference: one('inference') };
      made.set(pool, keys);
    }
    return keys;
  };
}

/** The Triton Deployments this product manages: one per pool. */
const TRITON_DEPLOYMENT_LABELS: ReadonlyArray<[string, string]> = [
  [K8S_LABELS.managedBy, MANAGED_BY],
  [K8S_LABELS.component, 'inference-server'],
];

async function observe(deps: RotateSecurityDeps): Promise<SecurityObservation> {
  const ns = deps.policy.cluster.namespace;
  const gatewayMode = deps.policy.security.exposure.mode === 'gateway';
  const listOptional = async (apiVersion: string, kind: string): Promise<LiveObject[]> => {
    try {
      return await deps.kubeObjects.list(apiVersion, kind, ns);
    } catch (err) {
      // Without the Gateway API in the cluster there is nothing of these kinds to check (internal mode).
      if (!gatewayMode && apiVersion !== 'v1') return [];
      throw err;
    }
  };
  const [allDeployments, pods, networkPolicies, exposure, serviceAccounts, nodePools, cluster] =
    await Promise.all([
      deps.kubeObjects.list('apps/v1', 'Deployment', ns),
      deps.kubeObjects.list('v1', 'Pod', ns),
      deps.kubeObjects.list('networking.k8s.io/v1', 'NetworkPolicy', ns),
      Promise.all(EXPOSURE_KINDS.map((k) => listOptional(k.apiVersion, k.kind))).then((lists) =>
        lists.flat(),
      ),
      deps.kubeObjects.list('v1', 'ServiceAccount', ns),
      deps.nodePools.list(),
      deps.nodePools.getCluster(),
    ]);
  const deployments = allDeployments.filter((d) =>
    TRITON_DEPLOYMENT_LABELS.every(([k, v]) => d.metadata.labels?.[k] === v),
  );
  const pools = deployments
    .map((d) => d.metadata.labels?.['inferplane.dev/pool'])
    .filter((p): p is string => !!p);
  const secrets: Record<string, LiveObject | undefined> = {};
  await Promise.all(
    pools.map(async (pool) => {
      const ref = tritonAdminSecretRefFor(pool);
      secrets[pool] = await deps.kubeObjects.get({
        apiVersion: 'v1',
        kind: 'Secret',
        name: ref.name,
        namespace: ns,
      });
    }),
  );
  return {
    deployments,
    allDeployments,
    pods,
    secrets,
    networkPolicies,
    exposure,
    serviceAccounts,
    nodePools,
    cluster: {
      name: cluster.name || deps.policy.cluster.name,
      ...(cluster.binaryAuthorization
        ? {
            binaryAuthorizationMode: cluster.binaryAuthorization.evaluationMode,
            binaryAuthorizationEnabled: cluster.binaryAuthorization.enabled,
          }
        : {}),
    },
  };
}

function rotatedEvent(
  deps: RotateSecurityDeps,
  ctx: InvocationContext,
  trigger: Trigger,
  /** The bundle in force (this trigger's or the recorded one), if any. */
  bundleSource: string | undefined,
  decision: SecurityDecision,
  dryRun: boolean,
  applied: number,
): OutboundCloudEvent {
  const first = decision.keys[0];
  const previous = first?.previousKeyIds[0];
  return buildOutboundEvent('dev.inferplane.security.v1.rotated', {
    source: ctx.eventSource,
    subject: `namespaces/${deps.policy.cluster.namespace}`,
    id: `${ctx.event.id}-rotated`,
    time: new Date(deps.clock.nowMs()),
    data: {
      networkPolicies: decision.networkPolicies,
      ...(first ? { secretName: first.secretName } : {}),
      ...(first?.activeKeyIds[0]
        ? { keyIds: { current: first.activeKeyIds[0], ...(previous ? { previous } : {}) } }
        : {}),
      trigger: trigger.kind,
      dryRun,
      ...(bundleSource ? { bundle: bundleSource } : {}),
      networkPolicySet: decision.networkPolicySet,
      pruned: decision.pruned,
      pools: decision.keys.map((k) => ({
        pool: k.pool,
        secretName: k.secretName,
        activeKeyIds: k.activeKeyIds,
        rotated: k.rotated,
        retired: k.retired,
        rolling: k.rolls,
      })),
      exposure: { mode: deps.policy.security.exposure.mode, repaired: decision.exposureRepairs },
      findings: decision.findings,
      actions: applied,
    },
  });
}
