/**
 * Alert policies and notification channels (the AlertPolicyService and
 * NotificationChannelService resources), and the evaluator that runs the policies against the
 * stored series, opens and closes incidents and publishes schema-1.2 notifications to Pub/Sub
 * channels through an injected `publish`.
 */
import { randomBytes } from 'node:crypto';
import { type Aggregation, aggregate, type ResultSeries, validateAggregation } from './aggregate';
import { invalidArgument, invalidField, MonitoringApiError, notFound } from './errors';
import { parseFilter } from './filter';
import { evaluatePromQL, parsePromQL } from './promql';
import type { MetricStore } from './store';
import {
  ALIGNERS,
  COMBINERS,
  COMPARISONS,
  type Comparison,
  enumName,
  formatTimestamp,
  isRecord,
  MISSING_DATA,
  NOTIFICATION_PROMPTS,
  numericValue,
  parseDuration,
  REDUCERS,
  SEVERITIES,
  stringMap,
} from './types';

export type Publish = (topic: string, data: Buffer, attributes: Record<string, string>) => Promise<void>;

type Json = Record<string, unknown>;

export interface Incident {
  incidentId: string;
  policyName: string;
  conditionName: string;
  seriesKey: string;
  state: 'open' | 'closed';
  startedMs: number;
  endedMs?: number;
  observedValue: number;
  metric: { type: string; labels: Record<string, string> };
  resource: { type: string; labels: Record<string, string> };
  lastDataMs: number;
  lastNotifiedMs: number;
}

export interface SentNotification {
  topic: string;
  channel: string;
  payload: Json;
  attributes: Record<string, string>;
  delivered: boolean;
  error?: string;
}

interface SeriesState {
  sinceMs?: number;
  lastDataMs: number;
  value: number;
  violating: boolean;
  metric: Incident['metric'];
  resource: Incident['resource'];
}

export interface AlertsOptions {
  store: MetricStore;
  nowMs: () => number;
  publish?: Publish;
  /** `scoping_project_number` in notifications (the real one is the project's number). */
  projectNumber?: number;
  /** Incidents with no data for this long close, when the policy sets no `autoClose`. */
  defaultAutoCloseMs?: number;
  /** Evaluation interval of PromQL conditions that set none. */
  defaultPromQLEvaluationIntervalMs?: number;
}

const PROMPT_DEFAULT = ['OPENED'];
const RAW_LOOKBACK_MS = 5 * 60_000;

export class Alerts {
  readonly #o: AlertsOptions;
  readonly #policies = new Map<string, Json>();
  readonly #channels = new Map<string, Json>();
  readonly #state = new Map<string, Map<string, SeriesState>>();
  readonly #lastEvalMs = new Map<string, number>();
  readonly #incidents: Incident[] = [];
  readonly #pending: { topic: string; channel: string; payload: Json; attempts: number }[] = [];
  readonly sent: SentNotification[] = [];
  /** Why a condition could not be evaluated at its last evaluation, by condition name. */
  readonly conditionErrors = new Map<string, string>();
  #nextId = 1;
  #evaluating: Promise<void> = Promise.resolve();
  publish: Publish | undefined;

  constructor(opts: AlertsOptions) {
    this.#o = opts;
    this.publish = opts.publish;
  }

  #id(): string {
    // Real ids are large decimal numbers; these stay unique within one server.
    return String(10_000_000_000 + this.#nextId++ * 7919);
  }

  #now(): number {
    return this.#o.nowMs();
  }

  // ---- notification channels ----

  createChannel(project: string, body: unknown): Json {
    const ch = this.#validateChannel(body, 'notification_channel');
    const name = `projects/${project}/notificationChannels/${this.#id()}`;
    const stored = { ...ch, name, creationRecord: { mutateTime: formatTimestamp(this.#now()) } };
    this.#channels.set(name, stored);
    return stored;
  }

  getChannel(name: string): Json {
    const ch = this.#channels.get(name);
    if (!ch) throw notFound(`Requested entity was not found.`);
    return ch;
  }

  listChannels(project: string): Json[] {
    return [...this.#channels.values()].filter((c) => String(c.name).startsWith(`projects/${project}/`));
  }

  updateChannel(name: string, body: unknown, mask: string[]): Json {
    const old = this.getChannel(name);
    const patch = isRecord(body) ? body : {};
    const merged = applyMask(old, patch, mask, [
      'type',
      'display_name',
      'description',
      'labels',
      'user_labels',
      'enabled',
    ]);
    const ch = this.#validateChannel(merged, 'notification_channel');
    const stored = {
      ...ch,
      name,
      creationRecord: old.creationRecord,
      mutationRecords: [{ mutateTime: formatTimestamp(this.#now()) }],
    };
    this.#channels.set(name, stored);
    return stored;
  }

  deleteChannel(name: string, force = false): void {
    this.getChannel(name);
    for (const p of force ? [] : this.#policies.values()) {
      if (Array.isArray(p.notificationChannels) && p.notificationChannels.includes(name)) {
        throw invalidArgument(
          `Notification channel ${name} is in use by alert policy ${String(p.name)}; pass force=true to delete it.`,
        );
      }
    }
    this.#channels.delete(name);
  }

  #validateChannel(body: unknown, f: string): Json {
    if (!isRecord(body)) throw invalidArgument('Request body must be a NotificationChannel.');
    const type = typeof body.type === 'string' ? body.type : '';
    if (!type) throw invalidField(`${f}.type`, 'The channel type must be specified.');
    const labels = stringMap(body.labels);
    if (type === 'pubsub' && !/^projects\/[^/]+\/topics\/[^/]+$/.test(labels.topic ?? '')) {
      throw invalidField(
        `${f}.labels`,
        'A pubsub channel needs labels.topic = "projects/P/topics/T".',
        labels.topic ?? '',
      );
    }
    return {
      type,
      displayName: typeof body.displayName === 'string' ? body.displayName : '',
      description: typeof body.description === 'string' ? body.description : '',
      labels,
      userLabels: stringMap(body.userLabels),
      enabled: body.enabled === undefined || body.enabled === null ? true : Boolean(body.enabled),
    };
  }

  // ---- alert policies ----

  createPolicy(project: string, body: unknown): Json {
    const id = this.#id();
    const name = `projects/${project}/alertPolicies/${id}`;
    const now = formatTimestamp(this.#now());
    const p = this.#validatePolicy(project, body, name);
    const stored = { ...p, name, creationRecord: { mutateTime: now }, mutationRecord: { mutateTime: now } };
    this.#policies.set(name, stored);
    return stored;
  }

  getPolicy(name: string): Json {
    const p = this.#policies.get(name);
    if (!p) throw notFound(`Requested entity was not found.`);
    return p;
  }

  listPolicies(project: string): Json[] {
    return [...this.#policies.values()].filter((p) => String(p.name).startsWith(`projects/${project}/`));
  }

  updatePolicy(name: string, body: unknown, mask: string[]): Json {
    const old = this.getPolicy(name);
    const project = name.split('/')[1] as string;
    const patch = isRecord(body) ? body : {};
    const merged = applyMask(old, patch, mask, [
      'display_name',
      'documentation',
      'user_labels',
      'conditions',
      'combiner',
      'enabled',
      'notification_channels',
      'alert_strategy',
      'severity',
    ]);
    const p = this.#validatePolicy(project, merged, name);
    const stored = {
      ...p,
      name,
      creationRecord: old.creationRecord,
      mutationRecord: { mutateTime: formatTimestamp(this.#now()) },
    };
    this.#policies.set(name, stored);
    // Conditions that went away take their state (not their closed incidents) with them.
    const kept = new Set((p.conditions as Json[]).map((c) => String(c.name)));
    for (const key of this.#state.keys())
      if (key.startsWith(`${name}/`) && !kept.has(key)) this.#state.delete(key);
    return stored;
  }

  deletePolicy(name: string): void {
    this.getPolicy(name);
    this.#policies.delete(name);
    for (const key of [...this.#state.keys()]) if (key.startsWith(`${name}/`)) this.#state.delete(key);
    for (const i of this.#incidents) {
      if (i.policyName === name && i.state === 'open') {
        i.state = 'closed';
        i.endedMs = this.#now();
      }
    }
  }

  #validatePolicy(project: string, body: unknown, name: string): Json {
    if (!isRecord(body)) throw invalidArgument('Request body must be an AlertPolicy.');
    const f = 'alert_policy';
    const conditionsRaw = Array.isArray(body.conditions) ? body.conditions : [];
    if (conditionsRaw.length === 0) {
      throw invalidField(`${f}.conditions`, 'An alert policy must have at least one condition.');
    }
    const combiner = enumName(COMBINERS, body.combiner, `${f}.combiner`);
    if (conditionsRaw.length > 1 && (!combiner || combiner === 'COMBINE_UNSPECIFIED')) {
      throw invalidField(
        `${f}.combiner`,
        'A combiner must be specified when there is more than one condition.',
      );
    }
    const usedIds = new Set<string>();
    const conditions = conditionsRaw.map((c, i) => {
      const cf = `${f}.conditions[${i}]`;
      if (!isRecord(c)) throw invalidField(cf, 'A condition must be an object.');
      const existing =
        typeof c.name === 'string' && c.name.startsWith(`${name}/conditions/`) ? c.name : undefined;
      let cname = existing ?? `${name}/conditions/${this.#id()}`;
      if (usedIds.has(cname)) cname = `${name}/conditions/${this.#id()}`;
      usedIds.add(cname);
      const displayName = typeof c.displayName === 'string' ? c.displayName : '';
      if (!displayName) throw invalidField(`${cf}.display_name`, 'The condition needs a display name.');
      const out: Json = { name: cname, displayName };
      if (isRecord(c.conditionThreshold))
        out.conditionThreshold = normaliseThreshold(c.conditionThreshold, `${cf}.condition_threshold`);
      else if (isRecord(c.conditionPrometheusQueryLanguage)) {
        out.conditionPrometheusQueryLanguage = normalisePromQL(
          c.conditionPrometheusQueryLanguage,
          `${cf}.condition_prometheus_query_language`,
        );
      } else {
        throw invalidField(
          cf,
          'The local server supports conditionThreshold and conditionPrometheusQueryLanguage conditions only.',
        );
      }
      return out;
    });
    const channels = Array.isArray(body.notificationChannels) ? body.notificationChannels.map(String) : [];
    channels.forEach((ch, i) => {
      if (!this.#channels.has(ch) || !ch.startsWith(`projects/${project}/`)) {
        throw invalidField(
          `${f}.notification_channels[${i}]`,
          'The notification channel does not exist.',
          ch,
        );
      }
    });
    const strategy = isRecord(body.alertStrategy) ? body.alertStrategy : {};
    const prompts = Array.isArray(strategy.notificationPrompts)
      ? strategy.notificationPrompts.map((p, i) =>
          enumName(NOTIFICATION_PROMPTS, p, `${f}.alert_strategy.notification_prompts[${i}]`),
        )
      : [];
    const alertStrategy: Json = {};
    if (prompts.length > 0) alertStrategy.notificationPrompts = prompts;
    if (strategy.autoClose !== undefined && strategy.autoClose !== null) {
      alertStrategy.autoClose = `${parseDuration(strategy.autoClose, `${f}.alert_strategy.auto_close`) / 1000}s`;
    }
    if (Array.isArray(strategy.notificationChannelStrategy)) {
      alertStrategy.notificationChannelStrategy = strategy.notificationChannelStrategy
        .filter(isRecord)
        .map((s, i) => ({
          notificationChannelNames: Array.isArray(s.notificationChannelNames)
            ? s.notificationChannelNames.map(String)
            : [],
          ...(s.renotifyInterval
            ? {
                renotifyInterval: `${parseDuration(s.renotifyInterval, `${f}.alert_strategy.notification_channel_strategy[${i}].renotify_interval`) / 1000}s`,
              }
            : {}),
        }));
    }
    const severity = enumName(SEVERITIES, body.severity, `${f}.severity`);
    const documentation = isRecord(body.documentation) ? body.documentation : undefined;
    return {
      displayName: typeof body.displayName === 'string' ? body.displayName : '',
      ...(documentation
        ? {
            documentation: {
              content: String(documentation.content ?? ''),
              mimeType: String(documentation.mimeType ?? 'text/markdown') || 'text/markdown',
              subject: String(documentation.subject ?? ''),
            },
          }
        : {}),
      userLabels: stringMap(body.userLabels),
      conditions,
      combiner: combiner ?? 'OR',
      enabled: body.enabled === undefined || body.enabled === null ? true : Boolean(body.enabled),
      notificationChannels: channels,
      alertStrategy,
      ...(severity && severity !== 'SEVERITY_UNSPECIFIED' ? { severity } : {}),
    };
  }

  // ---- evaluation ----

  incidents(): Incident[] {
    return this.#incidents.map((i) => ({ ...i }));
  }

  /** One evaluation of every enabled policy at the clock's now; notifications are awaited. */
  evaluate(): Promise<void> {
    const run = this.#evaluating.then(() => this.#evaluate());
    this.#evaluating = run.catch(() => undefined);
    return run;
  }

  async #evaluate(): Promise<void> {
    const now = this.#now();
    for (const policy of this.#policies.values()) {
      if (policy.enabled === false) continue;
      const conditions = policy.conditions as Json[];
      const active = new Map<string, Map<string, SeriesState>>();
      for (const c of conditions) {
        const name = String(c.name);
        try {
          const states = this.#evaluateCondition(policy, c, now);
          if (states) active.set(name, states);
          this.conditionErrors.delete(name);
        } catch (err) {
          // A condition that cannot be evaluated (a query failing at run time) keeps its
          // incidents as they are, as the real service does while it reports the error.
          if (!(err instanceof MonitoringApiError)) throw err;
          this.conditionErrors.set(name, err.message);
        }
      }
      const combiner = String(policy.combiner);
      const allTriggered = conditions.every((c) => (active.get(String(c.name))?.size ?? 0) > 0);
      for (const c of conditions) {
        const cname = String(c.name);
        const firing = active.get(cname);
        if (firing === undefined) continue; // not evaluated this tick (PromQL interval)
        const mayOpen = combiner === 'OR' || allTriggered;
        for (const [key, s] of firing) {
          const open = this.#openIncident(cname, key);
          if (!open && mayOpen) this.#open(policy, c, key, s, now);
          else if (open) {
            open.observedValue = s.value;
            open.lastDataMs = s.lastDataMs;
          }
        }
        for (const i of this.#incidents) {
          if (i.conditionName !== cname || i.state !== 'open') continue;
          const st = this.#state.get(cname)?.get(i.seriesKey);
          if (st) {
            i.lastDataMs = st.lastDataMs;
            i.observedValue = st.value;
          }
          const autoCloseMs = policyAutoClose(policy) ?? this.#o.defaultAutoCloseMs ?? 7 * 86_400_000;
          if (!firing.has(i.seriesKey) && st && !st.violating) this.#close(policy, c, i, now, 'normal');
          else if (now - i.lastDataMs >= autoCloseMs) this.#close(policy, c, i, now, 'autoclose');
          else this.#maybeRenotify(policy, c, i, now);
        }
      }
    }
    await this.#flush();
  }

  #openIncident(conditionName: string, key: string): Incident | undefined {
    return this.#incidents.find(
      (i) => i.conditionName === conditionName && i.seriesKey === key && i.state === 'open',
    );
  }

  /** Returns the series that have met the condition for its duration, or undefined if not due. */
  #evaluateCondition(policy: Json, c: Json, now: number): Map<string, SeriesState> | undefined {
    const cname = String(c.name);
    const project = String(policy.name).split('/')[1] as string;
    let readings: Map<
      string,
      { value: number; violating: boolean; metric: Incident['metric']; resource: Incident['resource'] }
    >;
    let durationMs: number;
    let missing = 'EVALUATION_MISSING_DATA_INACTIVE';
    let trigger: Json = {};
    if (isRecord(c.conditionThreshold)) {
      const t = c.conditionThreshold;
      durationMs = parseDuration(t.duration ?? '0s', 'duration');
      missing = String(t.evaluationMissingData ?? 'EVALUATION_MISSING_DATA_UNSPECIFIED');
      trigger = isRecord(t.trigger) ? t.trigger : {};
      readings = this.#thresholdReadings(project, t, now);
    } else {
      const q = c.conditionPrometheusQueryLanguage as Json;
      durationMs = parseDuration(q.duration ?? '0s', 'duration');
      const intervalMs = q.evaluationInterval
        ? parseDuration(q.evaluationInterval, 'evaluationInterval')
        : (this.#o.defaultPromQLEvaluationIntervalMs ?? 30_000);
      const last = this.#lastEvalMs.get(cname);
      if (last !== undefined && now - last < intervalMs) return undefined;
      this.#lastEvalMs.set(cname, now);
      readings = new Map();
      for (const s of evaluatePromQL(String(q.query), { store: this.#o.store, project, atMs: now })) {
        const { metric, resource } = splitPromLabels(s.labels, project);
        readings.set(JSON.stringify(Object.entries(s.labels).sort()), {
          value: s.value,
          violating: true,
          metric,
          resource,
        });
      }
    }
    let states = this.#state.get(cname);
    if (!states) {
      states = new Map();
      this.#state.set(cname, states);
    }
    for (const [key, r] of readings) {
      const prev = states.get(key);
      const sinceMs = r.violating
        ? prev?.violating && prev.sinceMs !== undefined
          ? prev.sinceMs
          : now
        : undefined;
      states.set(key, {
        ...(sinceMs === undefined ? {} : { sinceMs }),
        lastDataMs: now,
        value: r.value,
        violating: r.violating,
        metric: r.metric,
        resource: r.resource,
      });
    }
    for (const [key, st] of states) {
      if (readings.has(key)) continue;
      // No data for a series seen before.
      if (c.conditionPrometheusQueryLanguage || missing === 'EVALUATION_MISSING_DATA_INACTIVE') {
        st.violating = false;
        delete st.sinceMs;
      } else if (missing === 'EVALUATION_MISSING_DATA_ACTIVE') {
        if (!st.violating) st.sinceMs = now;
        st.violating = true;
      }
      // NO_OP / unspecified: the series keeps its last state.
    }
    const met = new Map<string, SeriesState>();
    for (const [key, st] of states) {
      if (st.violating && st.sinceMs !== undefined && now - st.sinceMs >= durationMs) met.set(key, st);
    }
    const total = states.size;
    const count = trigger.count !== undefined ? Number(trigger.count) : undefined;
    const percent = trigger.percent !== undefined ? Number(trigger.percent) : undefined;
    const enough =
      percent !== undefined && percent > 0
        ? total > 0 && (met.size / total) * 100 >= percent
        : met.size >= (count && count > 0 ? count : 1);
    return enough ? met : new Map();
  }

  #thresholdReadings(project: string, t: Json, now: number) {
    const num = this.#seriesValues(
      project,
      String(t.filter),
      (t.aggregations as Aggregation[] | undefined) ?? [],
      now,
    );
    const out = new Map<
      string,
      { value: number; violating: boolean; metric: Incident['metric']; resource: Incident['resource'] }
    >();
    const den = t.denominatorFilter
      ? this.#seriesValues(
          project,
          String(t.denominatorFilter),
          (t.denominatorAggregations as Aggregation[] | undefined) ?? [],
          now,
        )
      : undefined;
    const comparison = String(t.comparison) as Comparison;
    const threshold = Number(t.thresholdValue ?? 0);
    for (const s of num) {
      let value = numericValue(s.points[0]?.value ?? { doubleValue: Number.NaN });
      if (den) {
        const match = den.find((d) => labelIdentity(d) === labelIdentity(s));
        const dv = match ? numericValue(match.points[0]?.value ?? { doubleValue: Number.NaN }) : Number.NaN;
        if (!Number.isFinite(dv) || dv === 0) continue;
        value /= dv;
      }
      if (!Number.isFinite(value)) continue;
      const key = JSON.stringify([s.metric, s.resource]);
      out.set(key, {
        value,
        violating: compareValues(comparison, value, threshold),
        metric: s.metric,
        resource: s.resource,
      });
    }
    return out;
  }

  /** The newest aligned (or raw) value of each series a filter selects, as a condition sees it. */
  #seriesValues(project: string, filter: string, aggregations: Aggregation[], now: number): ResultSeries[] {
    const series = this.#o.store.select(project, parseFilter(filter));
    const agg = aggregations[0] ?? {};
    const windowMs =
      agg.perSeriesAligner && agg.perSeriesAligner !== 'ALIGN_NONE'
        ? (agg.alignmentPeriodMs ?? 60_000)
        : RAW_LOOKBACK_MS;
    const result = aggregate(series, agg, now - windowMs, now);
    return result.map((s) => ({ ...s, points: s.points.slice(0, 1) })).filter((s) => s.points.length > 0);
  }

  #open(policy: Json, c: Json, key: string, s: SeriesState, now: number): void {
    const incident: Incident = {
      incidentId: `0.${randomBytes(8).readBigUInt64BE().toString(36).slice(0, 12)}`,
      policyName: String(policy.name),
      conditionName: String(c.name),
      seriesKey: key,
      state: 'open',
      startedMs: now,
      observedValue: s.value,
      metric: s.metric,
      resource: s.resource,
      lastDataMs: s.lastDataMs,
      lastNotifiedMs: now,
    };
    this.#incidents.push(incident);
    this.#notify(policy, c, incident, true);
  }

  #close(policy: Json, c: Json, i: Incident, now: number, _why: 'normal' | 'autoclose'): void {
    i.state = 'closed';
    i.endedMs = now;
    const prompts =
      ((policy.alertStrategy as Json).notificationPrompts as string[] | undefined) ?? PROMPT_DEFAULT;
    if (prompts.includes('CLOSED')) this.#notify(policy, c, i, false);
  }

  #maybeRenotify(policy: Json, c: Json, i: Incident, now: number): void {
    const strategies =
      ((policy.alertStrategy as Json).notificationChannelStrategy as Json[] | undefined) ?? [];
    for (const s of strategies) {
      if (!s.renotifyInterval) continue;
      const every = parseDuration(s.renotifyInterval, 'renotifyInterval');
      if (now - i.lastNotifiedMs < every) continue;
      i.lastNotifiedMs = now;
      const names = (s.notificationChannelNames as string[]) ?? [];
      this.#notify(policy, c, i, true, names.length > 0 ? names : undefined);
    }
  }

  #notify(policy: Json, c: Json, i: Incident, opened: boolean, only?: string[]): void {
    const payload = this.notificationPayload(policy, c, i);
    for (const chName of (policy.notificationChannels as string[]) ?? []) {
      if (only && !only.includes(chName)) continue;
      const ch = this.#channels.get(chName);
      if (!ch || ch.enabled === false || ch.type !== 'pubsub') continue;
      const topic = (ch.labels as Record<string, string>).topic as string;
      this.#pending.push({ topic, channel: chName, payload, attempts: 0 });
    }
    void opened;
  }

  async #flush(): Promise<void> {
    const batch = this.#pending.splice(0);
    for (const n of batch) {
      const attributes: Record<string, string> = {};
      if (!this.publish) {
        this.sent.push({
          topic: n.topic,
          channel: n.channel,
          payload: n.payload,
          attributes,
          delivered: false,
          error: 'no publisher',
        });
        continue;
      }
      try {
        await this.publish(n.topic, Buffer.from(JSON.stringify(n.payload)), attributes);
        this.sent.push({
          topic: n.topic,
          channel: n.channel,
          payload: n.payload,
          attributes,
          delivered: true,
        });
      } catch (err) {
        n.attempts += 1;
        const error = err instanceof Error ? err.message : String(err);
        this.sent.push({
          topic: n.topic,
          channel: n.channel,
          payload: n.payload,
          attributes,
          delivered: false,
          error,
        });
        if (n.attempts < 10) this.#pending.push(n);
      }
    }
  }

  /** The schema-1.2 notification for one incident, as Cloud Monitoring publishes it. */
  notificationPayload(policy: Json, c: Json, i: Incident): Json {
    const project = String(policy.name).split('/')[1] as string;
    const threshold = thresholdOf(c);
    const descriptor = this.#o.store.descriptor(project, i.metric.type);
    const metricDisplay = descriptor?.displayName || i.metric.type || String(c.displayName);
    const resourceDisplay = resourceDisplayName(i.resource);
    const labelText = Object.keys(i.metric.labels).length
      ? ` with metric labels {${Object.entries(i.metric.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}}`
      : '';
    const comparison = isRecord(c.conditionThreshold)
      ? String(c.conditionThreshold.comparison)
      : 'COMPARISON_GT';
    const summary =
      i.state === 'open'
        ? `${metricDisplay} for ${resourceDisplay}${labelText} is ${COMPARISON_WORDS[comparison] ?? 'above'} the threshold of ${threshold === undefined ? 'n/a' : threshold.toFixed(3)} with a value of ${i.observedValue.toFixed(3)}.`
        : `${metricDisplay} for ${resourceDisplay}${labelText} returned to normal with a value of ${i.observedValue.toFixed(3)}.`;
    const docs = policy.documentation as Json | undefined;
    const severity = policy.severity ? String(policy.severity) : undefined;
    return {
      version: '1.2',
      incident: {
        incident_id: i.incidentId,
        scoping_project_id: project,
        scoping_project_number: this.#o.projectNumber ?? 123456789012,
        url: `https://console.cloud.google.com/monitoring/alerting/incidents/${i.incidentId}?project=${project}`,
        started_at: Math.floor(i.startedMs / 1000),
        ended_at: i.endedMs === undefined ? null : Math.floor(i.endedMs / 1000),
        state: i.state,
        summary,
        apigee_url: '',
        observed_value: formatValue(i.observedValue),
        resource_id: '',
        resource_name: `${project} ${resourceDisplay}`,
        resource_display_name: resourceDisplay,
        resource_type_display_name: RESOURCE_TYPE_NAMES[i.resource.type] ?? i.resource.type,
        resource: { type: i.resource.type, labels: { ...i.resource.labels } },
        metric: { type: i.metric.type, displayName: metricDisplay, labels: { ...i.metric.labels } },
        metadata: { system_labels: {}, user_labels: {} },
        policy_name: String(policy.displayName),
        policy_user_labels: { ...(policy.userLabels as Record<string, string>) },
        condition_name: String(c.displayName),
        threshold_value: threshold === undefined ? '' : formatValue(threshold),
        condition: structuredClone(c),
        ...(docs
          ? { documentation: { content: docs.content, mime_type: docs.mimeType, subject: docs.subject } }
          : {}),
        severity: severity ? severity.charAt(0) + severity.slice(1).toLowerCase() : 'No severity',
      },
    };
  }
}

// ---- helpers ----

const COMPARISON_WORDS: Record<string, string> = {
  COMPARISON_GT: 'above',
  COMPARISON_GE: 'above or equal to',
  COMPARISON_LT: 'below',
  COMPARISON_LE: 'below or equal to',
  COMPARISON_EQ: 'equal to',
  COMPARISON_NE: 'not equal to',
};

const RESOURCE_TYPE_NAMES: Record<string, string> = {
  k8s_container: 'Kubernetes Container',
  k8s_pod: 'Kubernetes Pod',
  k8s_node: 'Kubernetes Node',
  k8s_cluster: 'Kubernetes Cluster',
  prometheus_target: 'Prometheus Target',
  global: 'Global',
  generic_task: 'Generic Task',
  generic_node: 'Generic Node',
  gce_instance: 'VM Instance',
  cloud_run_revision: 'Cloud Run Revision',
};

function resourceDisplayName(r: Incident['resource']): string {
  const l = r.labels;
  return (
    l.pod_name ??
    l.instance ??
    l.container_name ??
    l.instance_id ??
    l.node_name ??
    l.cluster_name ??
    l.project_id ??
    r.type
  );
}

function formatValue(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return String(Number(n.toFixed(3)));
}

function compareValues(c: Comparison, v: number, t: number): boolean {
  switch (c) {
    case 'COMPARISON_GT':
      return v > t;
    case 'COMPARISON_GE':
      return v >= t;
    case 'COMPARISON_LT':
      return v < t;
    case 'COMPARISON_LE':
      return v <= t;
    case 'COMPARISON_EQ':
      return v === t;
    case 'COMPARISON_NE':
      return v !== t;
    default:
      return false;
  }
}

function labelIdentity(s: ResultSeries): string {
  return JSON.stringify([
    Object.entries(s.metric.labels).sort(),
    s.resource.type,
    Object.entries(s.resource.labels).sort(),
  ]);
}

function policyAutoClose(policy: Json): number | undefined {
  const s = policy.alertStrategy as Json;
  return s.autoClose ? parseDuration(s.autoClose, 'autoClose') : undefined;
}

/** The threshold a condition compares with: `thresholdValue`, or the `> N` ending a PromQL query. */
function thresholdOf(c: Json): number | undefined {
  if (isRecord(c.conditionThreshold)) return Number(c.conditionThreshold.thresholdValue ?? 0);
  const q = c.conditionPrometheusQueryLanguage as Json | undefined;
  const m = /(?:>|<|>=|<=|==|!=)\s*(-?[\d.]+(?:[eE][-+]?\d+)?)\s*$/.exec(String(q?.query ?? ''));
  return m ? Number(m[1]) : undefined;
}

const PROM_RESOURCE = ['project_id', 'location', 'cluster', 'namespace', 'job', 'instance'];

/** A PromQL result's labels -> the `prometheus_target` resource and metric labels it names. */
function splitPromLabels(labels: Record<string, string>, project: string) {
  const resource: Record<string, string> = {};
  const metric: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (k === '__name__') continue;
    if (PROM_RESOURCE.includes(k)) resource[k] = v;
    else metric[k] = v;
  }
  if (Object.keys(resource).length > 0 && !resource.project_id) resource.project_id = project;
  const name = labels.__name__;
  return {
    metric: { type: name ? `prometheus.googleapis.com/${name}` : '', labels: metric },
    resource: { type: Object.keys(resource).length > 0 ? 'prometheus_target' : 'global', labels: resource },
  };
}

/** Aggregations as the API returns them (`alignmentPeriod: "60s"`, enum names), validated. */
function normaliseAggregations(raw: unknown, f: string): Json[] {
  if (!Array.isArray(raw)) return [];
  return raw.filter(isRecord).map((a, i) => {
    const agg = toAggregation(a, `${f}[${i}]`);
    validateAggregation(agg, `${f}[${i}]`);
    return {
      ...(agg.alignmentPeriodMs === undefined ? {} : { alignmentPeriod: `${agg.alignmentPeriodMs / 1000}s` }),
      ...(agg.perSeriesAligner ? { perSeriesAligner: agg.perSeriesAligner } : {}),
      ...(agg.crossSeriesReducer ? { crossSeriesReducer: agg.crossSeriesReducer } : {}),
      ...(agg.groupByFields && agg.groupByFields.length > 0 ? { groupByFields: agg.groupByFields } : {}),
    };
  });
}

function toAggregation(a: Json, f: string): Aggregation {
  const aligner = enumName(ALIGNERS, a.perSeriesAligner, `${f}.per_series_aligner`);
  const reducer = enumName(REDUCERS, a.crossSeriesReducer, `${f}.cross_series_reducer`);
  return {
    ...(a.alignmentPeriod
      ? { alignmentPeriodMs: parseDuration(a.alignmentPeriod, `${f}.alignment_period`) }
      : {}),
    ...(aligner ? { perSeriesAligner: aligner } : {}),
    ...(reducer ? { crossSeriesReducer: reducer } : {}),
    groupByFields: Array.isArray(a.groupByFields) ? a.groupByFields.map(String) : [],
  };
}

function normaliseThreshold(t: Json, f: string): Json {
  const filter = typeof t.filter === 'string' ? t.filter : '';
  if (!filter) throw invalidField(`${f}.filter`, 'The filter must be specified.');
  parseFilter(filter, `${f}.filter`);
  const comparison = enumName(COMPARISONS, t.comparison, `${f}.comparison`);
  if (!comparison || comparison === 'COMPARISON_UNSPECIFIED') {
    throw invalidField(`${f}.comparison`, 'The comparison must be specified.', 'COMPARISON_UNSPECIFIED');
  }
  const out: Json = {
    filter,
    comparison,
    thresholdValue: Number(t.thresholdValue ?? 0),
    duration: `${parseDuration(t.duration ?? '0s', `${f}.duration`) / 1000}s`,
    aggregations: normaliseAggregations(t.aggregations, `${f}.aggregations`),
  };
  if (typeof t.denominatorFilter === 'string' && t.denominatorFilter) {
    parseFilter(t.denominatorFilter, `${f}.denominator_filter`);
    out.denominatorFilter = t.denominatorFilter;
    out.denominatorAggregations = normaliseAggregations(
      t.denominatorAggregations,
      `${f}.denominator_aggregations`,
    );
  }
  if (isRecord(t.trigger)) {
    out.trigger = {
      ...(t.trigger.count ? { count: Number(t.trigger.count) } : {}),
      ...(t.trigger.percent ? { percent: Number(t.trigger.percent) } : {}),
    };
  }
  const missing = enumName(MISSING_DATA, t.evaluationMissingData, `${f}.evaluation_missing_data`);
  if (missing && missing !== 'EVALUATION_MISSING_DATA_UNSPECIFIED') out.evaluationMissingData = missing;
  return out;
}

function normalisePromQL(q: Json, f: string): Json {
  const query = typeof q.query === 'string' ? q.query : '';
  if (!query) throw invalidField(`${f}.query`, 'The query must be specified.');
  try {
    parsePromQL(query);
  } catch (err) {
    throw invalidField(`${f}.query`, `Invalid PromQL query: ${(err as Error).message}`, query);
  }
  return {
    query,
    duration: `${parseDuration(q.duration ?? '0s', `${f}.duration`) / 1000}s`,
    ...(q.evaluationInterval
      ? { evaluationInterval: `${parseDuration(q.evaluationInterval, `${f}.evaluation_interval`) / 1000}s` }
      : {}),
    ...(isRecord(q.labels) ? { labels: stringMap(q.labels) } : {}),
    ...(typeof q.ruleGroup === 'string' && q.ruleGroup ? { ruleGroup: q.ruleGroup } : {}),
    ...(typeof q.alertRule === 'string' && q.alertRule ? { alertRule: q.alertRule } : {}),
  };
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * PATCH semantics: with an update mask, only the listed top-level fields come from the patch;
 * without one, the patch replaces the resource (as the API documents).
 */
function applyMask(old: Json, patch: Json, mask: string[], allowed: string[]): Json {
  if (mask.length === 0) return patch;
  const out: Json = { ...old };
  for (const raw of mask) {
    const path = raw.trim();
    const top = path.split('.')[0] as string;
    const snake = top.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (!allowed.includes(snake)) throw invalidField('update_mask', 'The field cannot be updated.', path);
    const key = camel(snake);
    if (patch[key] === undefined) delete out[key];
    else out[key] = patch[key];
  }
  return out;
}
