/**
 * A HorizontalPodAutoscaler controller for the local apiserver, following the real one
 * (kubernetes/kubernetes pkg/controller/podautoscaler, horizontal.go and replica_calculator.go):
 * every sync period it reads each autoscaling/v2 HPA's target through the scale subresource,
 * computes the replicas each metric asks for, keeps the highest, stabilizes and rate-limits the
 * result (spec.behavior, or the legacy rules when behavior is absent), clamps it to
 * min/maxReplicas, writes the scale and then the HPA status with the real condition reasons.
 *
 * Only External metrics are read, from an injected source (values as the Custom Metrics
 * Stackdriver Adapter returns them); Resource, Pods, Object and ContainerResource metrics fail
 * the way they fail on a cluster without those metrics APIs. Recommendations and scale events
 * are kept in memory, as the real controller keeps them: a restart forgets them.
 */
import { parseQuantity as parseQuantityOrNaN } from './controllers/quantity';
import type { ControllerApi, KubeObject } from './index';
import { matchesRequirements, parseLabelSelector } from './selectors';

export interface ExternalMetricSource {
  /** The current values of the matching series, or undefined (or []) when there are none. */
  external(args: {
    namespace: string;
    metricName: string;
    selector?: { matchLabels?: Record<string, string> };
  }): Promise<number[] | undefined>;
}

/** What the controller needs of the local apiserver; a `KubernetesServer` fits. */
export interface HpaKubernetes {
  objects(kind?: string): KubeObject[];
  pods(namespace?: string): KubeObject[];
  readonly controllers: ControllerApi;
}

export interface HpaControllerOptions {
  kubernetes: HpaKubernetes;
  metrics: ExternalMetricSource;
  /** Timestamps and windows; a manual clock makes stabilization testable without waiting. */
  clock?: { nowMs(): number };
  /** How often every HPA is reconciled (kube-controller-manager default: 15 s). 0 = only `sync()`. */
  syncPeriodMs?: number;
  /** `--horizontal-pod-autoscaler-downscale-stabilization` (default 5 min). */
  downscaleStabilizationMs?: number;
  /** `--horizontal-pod-autoscaler-tolerance` (default 0.1). */
  tolerance?: number;
  /** Called with an error a sync could not put into an HPA's status (default: ignored). */
  onError?: (err: unknown) => void;
}

export interface HpaController {
  /** Reconciles every HPA once, now; resolves when done. */
  sync(): Promise<void>;
  /** Stops the periodic sync and waits for one in flight. */
  stop(): Promise<void>;
}

export const FIELD_MANAGER = 'horizontal-pod-autoscaler';

// ---- spec shapes (as stored: parsed JSON, so every field is checked before use) ----

type ConditionType = 'AbleToScale' | 'ScalingActive' | 'ScalingLimited';

interface Condition {
  type: ConditionType;
  status: 'True' | 'False';
  lastTransitionTime: string;
  reason: string;
  message: string;
}

interface Policy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

interface Rules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: Policy[];
}

interface Recommendation {
  replicas: number;
  atMs: number;
}

interface ScaleEvent {
  change: number;
  atMs: number;
}

interface HpaMemory {
  recommendations: Recommendation[];
  scaleUpEvents: ScaleEvent[];
  scaleDownEvents: ScaleEvent[];
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** The defaults the apiserver fills into a partial `behavior` (GenerateHPAScale{Up,Down}Rules). */
function rulesOf(v: unknown, direction: 'up' | 'down', defaultDownWindowSeconds: number): Rules {
  const r = obj(v);
  const policies = Array.isArray(r.policies)
    ? r.policies.map(obj).flatMap((p): Policy[] => {
        const value = int(p.value);
        const periodSeconds = int(p.periodSeconds);
        if ((p.type !== 'Pods' && p.type !== 'Percent') || value === undefined || periodSeconds === undefined)
          return [];
        return [{ type: p.type, value, periodSeconds }];
      })
    : undefined;
  const select = r.selectPolicy === 'Min' || r.selectPolicy === 'Disabled' ? r.selectPolicy : 'Max';
  return {
    stabilizationWindowSeconds:
      int(r.stabilizationWindowSeconds) ?? (direction === 'up' ? 0 : defaultDownWindowSeconds),
    selectPolicy: select,
    policies:
      policies ??
      (direction === 'up'
        ? [
            { type: 'Pods', value: 4, periodSeconds: 15 },
            { type: 'Percent', value: 100, periodSeconds: 15 },
          ]
        : [{ type: 'Percent', value: 100, periodSeconds: 15 }]),
  };
}

// ---- quantities ----

/** A resource.Quantity (`500m`, `2`, `1.5k`, `1Gi`, `1e3`) as a number; undefined if malformed. */
export function parseQuantity(v: unknown): number | undefined {
  const n = parseQuantityOrNaN(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Quantity.MilliValue(): rounds up. */
function milli(value: number): number {
  return Math.ceil(value * 1000 - 1e-9);
}

/** resource.NewMilliQuantity(n, DecimalSI).String(). */
export function formatMilli(n: number): string {
  if (n % 1000 !== 0) return `${n}m`;
  const units = n / 1000;
  for (const [suffix, f] of [
    ['E', 1e18],
    ['P', 1e15],
    ['T', 1e12],
    ['G', 1e9],
    ['M', 1e6],
    ['k', 1e3],
  ] as const) {
    if (units !== 0 && units % f === 0) return `${units / f}${suffix}`;
  }
  return String(units);
}

/** Go's `%+v` of a *metav1.LabelSelector, as the real controller prints it in messages. */
function goSelector(selector: Json | undefined): string {
  if (!selector) return '<nil>';
  const labels = Object.entries(obj(selector.matchLabels))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}: ${String(v)},`)
    .join('');
  return `&LabelSelector{MatchLabels:map[string]string{${labels}},MatchExpressions:[]LabelSelectorRequirement{},}`;
}

function rfc3339(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

// ---- the controller ----

/** What the metrics clients answer on a cluster without metrics-server or a custom metrics adapter. */
const NO_RESOURCE_METRICS =
  'unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)';
const NO_CUSTOM_METRICS =
  'unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered';

/** A metric that could not be computed: the condition reason and the error the condition quotes. */
class MetricError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

interface MetricResult {
  replicas: number;
  name: string;
  status: Json;
}

export function startHpaController(options: HpaControllerOptions): HpaController {
  const kube = options.kubernetes;
  const clock = options.clock ?? { nowMs: () => Date.now() };
  const tolerance = options.tolerance ?? 0.1;
  const downscaleWindowMs = options.downscaleStabilizationMs ?? 5 * 60_000;
  const syncPeriodMs = options.syncPeriodMs ?? 15_000;
  const memory = new Map<string, HpaMemory>();
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function syncAll(): Promise<void> {
    const hpas = kube.objects('HorizontalPodAutoscaler');
    const keys = new Set(hpas.map((h) => `${h.metadata.namespace}/${h.metadata.name}`));
    for (const key of [...memory.keys()]) if (!keys.has(key)) memory.delete(key);
    for (const hpa of hpas) {
      try {
        await reconcile(hpa);
      } catch (err) {
        options.onError?.(err);
      }
    }
  }

  function sync(): Promise<void> {
    // One sync at a time, as the real controller works one HPA key at a time.
    const next = (running ?? Promise.resolve()).then(syncAll);
    running = next.finally(() => {
      if (running === next) running = undefined;
    });
    return next;
  }

  function schedule(): void {
    if (stopped || syncPeriodMs <= 0) return;
    timer = setTimeout(() => {
      void sync().finally(schedule);
    }, syncPeriodMs);
    timer.unref();
  }
  schedule();

  async function reconcile(hpa: KubeObject): Promise<void> {
    const namespace = String(hpa.metadata.namespace ?? 'default');
    const name = hpa.metadata.name;
    const key = `${namespace}/${name}`;
    const spec = obj(hpa.spec);
    const previous = obj(hpa.status);
    const conditions: Condition[] = Array.isArray(previous.conditions)
      ? (previous.conditions.map(obj) as unknown as Condition[]).map((c) => ({ ...c }))
      : [];
    const nowMs = clock.nowMs();
    const setCondition = (type: ConditionType, status: 'True' | 'False', reason: string, message: string) => {
      let c = conditions.find((x) => x.type === type);
      if (!c) {
        c = { type, status, lastTransitionTime: rfc3339(nowMs), reason, message };
        conditions.push(c);
      }
      if (c.status !== status) c.lastTransitionTime = rfc3339(nowMs);
      c.status = status;
      c.reason = reason;
      c.message = message;
    };
    const writeStatus = (status: Json) =>
      kube.controllers.writeStatus('HorizontalPodAutoscaler', namespace, name, {
        ...(hpa.metadata.generation === undefined ? {} : { observedGeneration: hpa.metadata.generation }),
        ...status,
        conditions,
      });
    const statusOf = (
      currentReplicas: number,
      desiredReplicas: number,
      metrics: Json[] | undefined,
      lastScaleTime: unknown,
    ) => ({
      ...(lastScaleTime === undefined ? {} : { lastScaleTime }),
      currentReplicas,
      desiredReplicas,
      ...(metrics && metrics.length > 0 ? { currentMetrics: metrics } : {}),
    });

    // The scale target.
    const ref = obj(spec.scaleTargetRef);
    let scale: KubeObject;
    try {
      if (ref.kind !== 'Deployment' || (ref.apiVersion !== undefined && ref.apiVersion !== 'apps/v1')) {
        throw new Error(
          `unable to determine resource for scale target reference: no matches for kind "${String(ref.kind)}" in group "${String(ref.apiVersion ?? '').split('/')[0]}"`,
        );
      }
      scale = kube.controllers.scale(namespace, String(ref.name ?? ''));
    } catch (err) {
      setCondition(
        'AbleToScale',
        'False',
        'FailedGetScale',
        `the HPA controller was unable to get the target's current scale: ${messageOf(err)}`,
      );
      writeStatus(
        statusOf(
          int(previous.currentReplicas) ?? 0,
          int(previous.desiredReplicas) ?? 0,
          undefined,
          previous.lastScaleTime,
        ),
      );
      return;
    }
    setCondition(
      'AbleToScale',
      'True',
      'SucceededGetScale',
      "the HPA controller was able to get the target's current scale",
    );

    const scaleSpec = obj(scale.spec);
    const scaleStatus = obj(scale.status);
    const currentReplicas = int(scaleSpec.replicas) ?? 0;
    const statusReplicas = int(scaleStatus.replicas) ?? 0;
    const selector = typeof scaleStatus.selector === 'string' ? scaleStatus.selector : '';
    const mem = memory.get(key) ?? { recommendations: [], scaleUpEvents: [], scaleDownEvents: [] };
    if (!memory.has(key)) {
      // recordInitialRecommendation: the current size counts as the first recommendation.
      mem.recommendations.push({ replicas: currentReplicas, atMs: nowMs });
      memory.set(key, mem);
    }
    const minReplicas = int(spec.minReplicas) ?? 1;
    const maxReplicas = int(spec.maxReplicas) ?? minReplicas;
    const behavior = spec.behavior === undefined || spec.behavior === null ? undefined : obj(spec.behavior);

    let desiredReplicas = 0;
    let rescale = true;
    let metricStatuses: Json[] | undefined;
    if (currentReplicas === 0 && minReplicas !== 0) {
      desiredReplicas = 0;
      rescale = false;
      setCondition(
        'ScalingActive',
        'False',
        'ScalingDisabled',
        'scaling is disabled since the replica count of the target is zero',
      );
    } else if (currentReplicas > maxReplicas) {
      desiredReplicas = maxReplicas;
    } else if (currentReplicas < minReplicas) {
      desiredReplicas = minReplicas;
    } else {
      const computed = await computeReplicasForMetrics(
        namespace,
        spec,
        currentReplicas,
        statusReplicas,
        selector,
        setCondition,
      );
      metricStatuses = computed.statuses;
      if (computed.replicas === -1) {
        // Every metric failed (or some did and the rest would scale down): keep the size.
        writeStatus(
          statusOf(
            currentReplicas,
            int(previous.desiredReplicas) ?? currentReplicas,
            metricStatuses,
            previous.lastScaleTime,
          ),
        );
        return;
      }
      desiredReplicas = computed.replicas;
      desiredReplicas = behavior
        ? normalizeWithBehaviors(
            mem,
            behavior,
            currentReplicas,
            desiredReplicas,
            minReplicas,
            maxReplicas,
            nowMs,
            setCondition,
          )
        : normalizeLegacy(
            mem,
            currentReplicas,
            desiredReplicas,
            minReplicas,
            maxReplicas,
            nowMs,
            setCondition,
          );
      rescale = desiredReplicas !== currentReplicas;
    }

    let lastScaleTime = previous.lastScaleTime;
    if (rescale) {
      try {
        kube.controllers.setScale(namespace, String(ref.name), desiredReplicas, FIELD_MANAGER);
      } catch (err) {
        setCondition(
          'AbleToScale',
          'False',
          'FailedUpdateScale',
          `the HPA controller was unable to update the target scale: ${messageOf(err)}`,
        );
        writeStatus(
          statusOf(
            currentReplicas,
            int(previous.desiredReplicas) ?? currentReplicas,
            metricStatuses,
            previous.lastScaleTime,
          ),
        );
        return;
      }
      setCondition(
        'AbleToScale',
        'True',
        'SucceededRescale',
        `the HPA controller was able to update the target scale to ${desiredReplicas}`,
      );
      if (behavior) storeScaleEvent(mem, behavior, currentReplicas, desiredReplicas, nowMs);
      lastScaleTime = rfc3339(nowMs);
    } else {
      desiredReplicas = currentReplicas;
    }
    writeStatus(statusOf(currentReplicas, desiredReplicas, metricStatuses, lastScaleTime));
  }

  async function computeReplicasForMetrics(
    namespace: string,
    spec: Json,
    specReplicas: number,
    statusReplicas: number,
    selector: string,
    setCondition: (type: ConditionType, status: 'True' | 'False', reason: string, message: string) => void,
  ): Promise<{ replicas: number; statuses: Json[] }> {
    const metrics = Array.isArray(spec.metrics) ? spec.metrics.map(obj) : [];
    if (selector === '') {
      setCondition(
        'ScalingActive',
        'False',
        'InvalidSelector',
        "the HPA target's scale is missing a selector",
      );
      return { replicas: -1, statuses: [] };
    }
    const statuses: Json[] = [];
    let replicas = 0;
    let metricName = '';
    let invalid = 0;
    let firstError: MetricError | undefined;
    for (const metric of metrics) {
      try {
        const r = await computeReplicasForMetric(namespace, metric, specReplicas, statusReplicas, selector);
        statuses.push(r.status);
        if (replicas === 0 || r.replicas > replicas) {
          replicas = r.replicas;
          metricName = r.name;
        }
      } catch (err) {
        statuses.push({ type: '' });
        invalid += 1;
        firstError ??=
          err instanceof MetricError ? err : new MetricError('FailedGetExternalMetric', messageOf(err));
      }
    }
    if (metrics.length === 0 || invalid >= metrics.length || (invalid > 0 && replicas < specReplicas)) {
      const e = firstError ?? new MetricError('InvalidMetricSourceType', 'no metrics are specified');
      setCondition(
        'ScalingActive',
        'False',
        e.reason,
        `the HPA was unable to compute the replica count: ${e.message}`,
      );
      return { replicas: -1, statuses };
    }
    setCondition(
      'ScalingActive',
      'True',
      'ValidMetricFound',
      `the HPA was able to successfully calculate a replica count from ${metricName}`,
    );
    return { replicas, statuses };
  }

  async function computeReplicasForMetric(
    namespace: string,
    metric: Json,
    specReplicas: number,
    statusReplicas: number,
    podSelector: string,
  ): Promise<MetricResult> {
    switch (metric.type) {
      case 'External':
        return external(namespace, obj(metric.external), specReplicas, statusReplicas, podSelector);
      case 'Resource': {
        const r = obj(metric.resource);
        const what = obj(r.target).type === 'AverageValue' ? 'usage' : 'utilization';
        throw new MetricError(
          'FailedGetResourceMetric',
          `failed to get ${String(r.name)} ${what}: unable to get metrics for resource ${String(r.name)}: ${NO_RESOURCE_METRICS}`,
        );
      }
      case 'ContainerResource': {
        const r = obj(metric.containerResource);
        throw new MetricError(
          'FailedGetContainerResourceMetric',
          `failed to get ${String(r.name)} utilization: unable to get metrics for resource ${String(r.name)}: ${NO_RESOURCE_METRICS}`,
        );
      }
      case 'Pods': {
        const m = obj(obj(metric.pods).metric);
        throw new MetricError(
          'FailedGetPodsMetric',
          `unable to get metric ${String(m.name)}: ${NO_CUSTOM_METRICS}`,
        );
      }
      case 'Object': {
        const m = obj(obj(metric.object).metric);
        throw new MetricError(
          'FailedGetObjectMetric',
          `unable to get metric ${String(m.name)}: ${NO_CUSTOM_METRICS}`,
        );
      }
      default:
        throw new MetricError(
          'InvalidMetricSourceType',
          `unknown metric source type "${String(metric.type)}"`,
        );
    }
  }

  async function external(
    namespace: string,
    source: Json,
    specReplicas: number,
    statusReplicas: number,
    podSelector: string,
  ): Promise<MetricResult> {
    const metric = obj(source.metric);
    const metricName = String(metric.name ?? '');
    const selector =
      metric.selector === undefined || metric.selector === null ? undefined : obj(metric.selector);
    const target = obj(source.target);
    const label = `external metric ${metricName}(${goSelector(selector)})`;
    const averageValue = target.averageValue === undefined ? undefined : parseQuantity(target.averageValue);
    const value = target.value === undefined ? undefined : parseQuantity(target.value);
    if (averageValue === undefined && value === undefined) {
      throw new MetricError(
        'FailedGetExternalMetric',
        'invalid external metric source: neither a value target nor an average value target was set',
      );
    }
    let values: number[] | undefined;
    try {
      values = await options.metrics.external({
        namespace,
        metricName,
        ...(selector
          ? { selector: { matchLabels: obj(selector.matchLabels) as Record<string, string> } }
          : {}),
      });
    } catch (err) {
      throw new MetricError(
        'FailedGetExternalMetric',
        `unable to get external metric ${namespace}/${metricName}/${goSelector(selector)}: unable to fetch metrics from external metrics API: ${messageOf(err)}`,
      );
    }
    if (!values || values.length === 0) {
      throw new MetricError(
        'FailedGetExternalMetric',
        `unable to get external metric ${namespace}/${metricName}/${goSelector(selector)}: no metrics returned from external metrics API`,
      );
    }
    const usage = values.reduce((n, v) => n + milli(v), 0);
    const identity = { name: metricName, ...(selector ? { selector } : {}) };
    if (averageValue !== undefined) {
      // GetExternalPerPodMetricReplicas
      const targetPerPod = milli(averageValue);
      let replicas = statusReplicas;
      const ratio = usage / (targetPerPod * replicas);
      if (Math.abs(1 - ratio) > tolerance) replicas = Math.ceil(usage / targetPerPod);
      const perPod = Math.ceil(usage / statusReplicas);
      return {
        replicas,
        name: label,
        status: {
          type: 'External',
          external: { metric: identity, current: { averageValue: formatMilli(perPod) } },
        },
      };
    }
    // GetExternalMetricReplicas
    const ratio = usage / milli(value ?? 0);
    let replicas: number;
    if (specReplicas !== 0) {
      if (Math.abs(1 - ratio) <= tolerance) replicas = specReplicas;
      else replicas = Math.ceil(ratio * readyPods(namespace, podSelector));
    } else {
      replicas = Math.ceil(ratio);
    }
    return {
      replicas,
      name: label,
      status: { type: 'External', external: { metric: identity, current: { value: formatMilli(usage) } } },
    };
  }

  function readyPods(namespace: string, selector: string): number {
    const requirements = parseLabelSelector(selector);
    return kube.pods(namespace).filter((p) => {
      const labels = (p.metadata.labels ?? {}) as Record<string, string>;
      const conditions = Array.isArray(obj(p.status).conditions)
        ? (obj(p.status).conditions as unknown[]).map(obj)
        : [];
      return (
        matchesRequirements(requirements, labels) &&
        conditions.some((c) => c.type === 'Ready' && c.status === 'True')
      );
    }).length;
  }

  /** normalizeDesiredReplicas: no behavior, so the downscale window and the 2x/4 scale-up limit. */
  function normalizeLegacy(
    mem: HpaMemory,
    current: number,
    desired: number,
    min: number,
    max: number,
    nowMs: number,
    setCondition: (type: ConditionType, status: 'True' | 'False', reason: string, message: string) => void,
  ): number {
    let stabilized = desired;
    let oldIndex = -1;
    for (const [i, rec] of mem.recommendations.entries()) {
      if (rec.atMs < nowMs - downscaleWindowMs) oldIndex = i;
      else if (rec.replicas > stabilized) stabilized = rec.replicas;
    }
    recordRecommendation(mem, oldIndex, desired, nowMs);
    if (stabilized !== desired) {
      setCondition(
        'AbleToScale',
        'True',
        'ScaleDownStabilized',
        'recent recommendations were higher than current one, applying the highest recent recommendation',
      );
    } else {
      setCondition('AbleToScale', 'True', 'ReadyForNewScale', 'recommended size matches current size');
    }
    const scaleUpLimit = Math.max(2 * current, 4);
    let maxAllowed: number;
    let reason: string;
    let message: string;
    if (max > scaleUpLimit) {
      maxAllowed = scaleUpLimit;
      reason = 'ScaleUpLimit';
      message = 'the desired replica count is increasing faster than the maximum scale rate';
    } else {
      maxAllowed = max;
      reason = 'TooManyReplicas';
      message = 'the desired replica count is more than the maximum replica count';
    }
    let result = stabilized;
    if (stabilized < min) {
      result = min;
      reason = 'TooFewReplicas';
      message = 'the desired replica count is less than the minimum replica count';
    } else if (stabilized > maxAllowed) {
      result = maxAllowed;
    } else {
      reason = 'DesiredWithinRange';
      message = 'the desired count is within the acceptable range';
    }
    setCondition('ScalingLimited', result === stabilized ? 'False' : 'True', reason, message);
    return result;
  }

  /** normalizeDesiredReplicasWithBehaviors: windows per direction, then the policies' rate limits. */
  function normalizeWithBehaviors(
    mem: HpaMemory,
    behavior: Json,
    current: number,
    desired: number,
    min: number,
    max: number,
    nowMs: number,
    setCondition: (type: ConditionType, status: 'True' | 'False', reason: string, message: string) => void,
  ): number {
    const up = rulesOf(behavior.scaleUp, 'up', downscaleWindowMs / 1000);
    const down = rulesOf(behavior.scaleDown, 'down', downscaleWindowMs / 1000);
    const upCutoff = nowMs - up.stabilizationWindowSeconds * 1000;
    const downCutoff = nowMs - down.stabilizationWindowSeconds * 1000;
    let upRecommendation = desired;
    let downRecommendation = desired;
    let oldIndex = -1;
    for (const [i, rec] of mem.recommendations.entries()) {
      if (rec.atMs > upCutoff) upRecommendation = Math.min(rec.replicas, upRecommendation);
      if (rec.atMs > downCutoff) downRecommendation = Math.max(rec.replicas, downRecommendation);
      if (rec.atMs < upCutoff && rec.atMs < downCutoff) oldIndex = i;
    }
    let stabilized = current;
    if (stabilized < upRecommendation) stabilized = upRecommendation;
    if (stabilized > downRecommendation) stabilized = downRecommendation;
    recordRecommendation(mem, oldIndex, desired, nowMs);
    if (stabilized !== desired) {
      if (desired >= current) {
        setCondition(
          'AbleToScale',
          'True',
          'ScaleUpStabilized',
          'recent recommendations were lower than current one, applying the lowest recent recommendation',
        );
      } else {
        setCondition(
          'AbleToScale',
          'True',
          'ScaleDownStabilized',
          'recent recommendations were higher than current one, applying the highest recent recommendation',
        );
      }
    } else {
      setCondition('AbleToScale', 'True', 'ReadyForNewScale', 'recommended size matches current size');
    }

    let result = stabilized;
    let reason = 'DesiredWithinRange';
    let message = 'the desired count is within the acceptable range';
    if (stabilized > current) {
      const limit = Math.max(current, scaleUpLimit(current, mem, up, nowMs));
      let maxAllowed = max;
      if (maxAllowed > limit) {
        maxAllowed = limit;
        reason = 'ScaleUpLimit';
        message = 'the desired replica count is increasing faster than the maximum scale rate';
      } else {
        reason = 'TooManyReplicas';
        message = 'the desired replica count is more than the maximum replica count';
      }
      if (stabilized > maxAllowed) result = maxAllowed;
      else {
        reason = 'DesiredWithinRange';
        message = 'the desired count is within the acceptable range';
      }
    } else if (stabilized < current) {
      const limit = Math.min(current, scaleDownLimit(current, mem, down, nowMs));
      let minAllowed = min;
      if (minAllowed < limit) {
        minAllowed = limit;
        reason = 'ScaleDownLimit';
        message = 'the desired replica count is decreasing faster than the maximum scale rate';
      } else {
        reason = 'TooFewReplicas';
        message = 'the desired replica count is less than the minimum replica count';
      }
      if (stabilized < minAllowed) result = minAllowed;
      else {
        reason = 'DesiredWithinRange';
        message = 'the desired count is within the acceptable range';
      }
    }
    setCondition('ScalingLimited', result === stabilized ? 'False' : 'True', reason, message);
    return result;
  }

  function recordRecommendation(mem: HpaMemory, oldIndex: number, replicas: number, nowMs: number): void {
    const rec = { replicas, atMs: nowMs };
    if (oldIndex >= 0) mem.recommendations[oldIndex] = rec;
    else mem.recommendations.push(rec);
  }

  function changeInPeriod(events: readonly ScaleEvent[], periodSeconds: number, nowMs: number): number {
    const cutoff = nowMs - periodSeconds * 1000;
    return events.filter((e) => e.atMs > cutoff).reduce((n, e) => n + e.change, 0);
  }

  function scaleUpLimit(current: number, mem: HpaMemory, rules: Rules, nowMs: number): number {
    if (rules.selectPolicy === 'Disabled') return current;
    const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
    let result = rules.selectPolicy === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
    for (const p of rules.policies) {
      const start =
        current -
        changeInPeriod(mem.scaleUpEvents, p.periodSeconds, nowMs) +
        changeInPeriod(mem.scaleDownEvents, p.periodSeconds, nowMs);
      const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
      result = pick(result, proposed);
    }
    return result;
  }

  function scaleDownLimit(current: number, mem: HpaMemory, rules: Rules, nowMs: number): number {
    if (rules.selectPolicy === 'Disabled') return current;
    const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
    let result = rules.selectPolicy === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
    for (const p of rules.policies) {
      const start =
        current -
        changeInPeriod(mem.scaleUpEvents, p.periodSeconds, nowMs) +
        changeInPeriod(mem.scaleDownEvents, p.periodSeconds, nowMs);
      const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
      result = pick(result, proposed);
    }
    return result;
  }

  /** storeScaleEvent: events older than the longest policy period are dropped. */
  function storeScaleEvent(
    mem: HpaMemory,
    behavior: Json,
    previous: number,
    next: number,
    nowMs: number,
  ): void {
    const up = next > previous;
    const rules = rulesOf(
      up ? behavior.scaleUp : behavior.scaleDown,
      up ? 'up' : 'down',
      downscaleWindowMs / 1000,
    );
    const longest = Math.max(0, ...rules.policies.map((p) => p.periodSeconds));
    const events = up ? mem.scaleUpEvents : mem.scaleDownEvents;
    const kept = events.filter((e) => e.atMs > nowMs - longest * 1000);
    kept.push({ change: Math.abs(next - previous), atMs: nowMs });
    if (up) mem.scaleUpEvents = kept;
    else mem.scaleDownEvents = kept;
  }

  return {
    sync,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
