/**
 * What every controller works with: reads of stored objects, writes through the apiserver's
 * in-process API, the clock, wake-ups, and the decision log. Helpers over pods and conditions.
 */
import type { KubeApi } from '../api';
import { KubeApiError } from '../errors';
import { isObject, type JsonObject } from '../json';
import { findKind, type ResourceType } from '../resources';
import type { KubeStore } from '../store';
import { parseQuantity } from './quantity';
import type { ClusterEvent, ControllerOptions, ControllerTimings } from './types';

export const POD = findKind('Pod')!;
export const NODE = findKind('Node')!;
export const REPLICA_SET = findKind('ReplicaSet')!;
export const DEPLOYMENT = findKind('Deployment')!;

/** In-memory times (ms) that the objects' second-resolution timestamps cannot carry. */
export interface Memo {
  nodeBornAt: Map<string, number>;
  podBoundAt: Map<string, number>;
  podReadyAt: Map<string, number>;
  podStopAt: Map<string, number>;
  unschedulableSince: Map<string, number>;
  nodeIdleSince: Map<string, number>;
  probes: Map<string, { ready?: boolean; nextAt: number; inFlight: boolean }>;
  /** Pod uid -> why it did not trigger a scale-up (recorded once per reason). */
  notTriggered: Map<string, string>;
  /** Pool -> the node total the autoscaler asked for (and when), until the pool view shows it. */
  requestedTotal: Map<string, { total: number; at: number }>;
}

export class Ctx {
  readonly api: KubeApi;
  readonly store: KubeStore;
  readonly opts: ControllerOptions;
  readonly timings: Required<ControllerTimings>;
  readonly memo: Memo = {
    nodeBornAt: new Map(),
    podBoundAt: new Map(),
    podReadyAt: new Map(),
    podStopAt: new Map(),
    unschedulableSince: new Map(),
    nodeIdleSince: new Map(),
    probes: new Map(),
    notTriggered: new Map(),
    requestedTotal: new Map(),
  };
  readonly events: ClusterEvent[] = [];
  wake = Number.POSITIVE_INFINITY;
  /** Set by the engine: asks for another reconcile pass soon (async results). */
  kick: () => void = () => {};

  constructor(api: KubeApi, store: KubeStore, opts: ControllerOptions, timings: Required<ControllerTimings>) {
    this.api = api;
    this.store = store;
    this.opts = opts;
    this.timings = timings;
  }

  now(): number {
    return (this.opts.timers ?? { nowMs: () => Date.now() }).nowMs();
  }

  iso(ms = this.now()): string {
    return `${new Date(ms).toISOString().slice(0, 19)}Z`;
  }

  /** Asks for a pass at `ms` (a time already past would spin: what is due now is this pass's). */
  wakeAt(ms: number): void {
    if (ms <= this.now()) return;
    if (ms < this.wake) this.wake = ms;
  }

  record(e: Omit<ClusterEvent, 'time'>): void {
    this.events.push({ time: this.iso(), ...e });
    if (this.events.length > 1000) this.events.splice(0, this.events.length - 1000);
  }

  /** Lists are cached per kind until that kind changes (other kinds' writes keep them). */
  readonly #cache = new Map<string, JsonObject[]>();

  /** A stored change of `plural` (none: anything may have changed). */
  changed(plural?: string): void {
    if (plural === undefined) this.#cache.clear();
    else this.#cache.delete(plural);
  }

  /** Stored objects of a kind (shared, read-only copies: never mutate them). */
  list(r: ResourceType, namespace?: string): JsonObject[] {
    let items = this.#cache.get(r.plural);
    if (!items) {
      items = [...this.store.peek(r)];
      this.#cache.set(r.plural, items);
    }
    return namespace === undefined ? items : items.filter((o) => meta(o).namespace === namespace);
  }

  get(r: ResourceType, namespace: string | undefined, name: string): JsonObject | undefined {
    return this.store.peekOne(r, r.namespaced ? (namespace ?? '') : undefined, name);
  }

  /**
   * The objects of kind `r` whose controller is `owner`, in key order (what filtering the
   * namespace's list by controllerRef gives), from the store's owner index.
   */
  controlledBy(r: ResourceType, owner: JsonObject): JsonObject[] {
    const uid = meta(owner).uid;
    if (typeof uid !== 'string') return [];
    const ns = meta(owner).namespace;
    const out: JsonObject[] = [];
    for (const dep of this.store.dependentsOf(uid)) {
      const at = this.store.locate(dep);
      if (!at || at.plural !== r.plural || at.namespace !== ns) continue;
      const o = this.store.peekOne(r, at.namespace, at.name);
      if (o && controllerRef(o)?.uid === uid) out.push(o);
    }
    return out.sort((a, b) => {
      const ka = String(meta(a).name);
      const kb = String(meta(b).name);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }

  /**
   * What each controller has yet to look at, as a real controller's work queue: the keys
   * ("namespace/name") of objects changed since it last looked, or everything (`full`) after a
   * kick that is not a stored change (start, a due timer, an async probe result, node changes).
   */
  readonly #queues = new Map<string, { plural: string; full: boolean; keys: Set<string> }>();

  #allMarked = true;

  /** Every controller looks at every object in its next pass. */
  markAll(): void {
    this.#allMarked = true;
    for (const q of this.#queues.values()) q.full = true;
  }

  /**
   * Whether the coming pass looks at everything (then it recomputes every wake-up; a pass over
   * changed objects only adds to the ones already asked for), and clears it.
   */
  takeFullPass(): boolean {
    const full = this.#allMarked;
    this.#allMarked = false;
    return full;
  }

  /** An object of `plural` changed: each controller watching that kind looks at it. */
  markDirty(plural: string, namespace: string | undefined, name: string): void {
    const key = `${namespace ?? ''}/${name}`;
    for (const q of this.#queues.values()) if (q.plural === plural && !q.full) q.keys.add(key);
  }

  /**
   * The objects of kind `r` controller `queue` should reconcile now, in key order, and its queue
   * emptied: all of them on its first pass and after `markAll`, else those marked since.
   */
  work(queue: string, r: ResourceType): JsonObject[] {
    let q = this.#queues.get(queue);
    if (!q) {
      q = { plural: r.plural, full: true, keys: new Set() };
      this.#queues.set(queue, q);
    }
    const { full, keys } = q;
    q.full = false;
    q.keys = new Set();
    if (full) return this.list(r);
    const out: JsonObject[] = [];
    for (const key of [...keys].sort()) {
      const slash = key.indexOf('/');
      const o = this.get(r, key.slice(0, slash) || undefined, key.slice(slash + 1));
      if (o) out.push(o);
    }
    return out;
  }

  #guard<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (err instanceof KubeApiError && (err.code === 404 || err.code === 409)) return undefined;
      console.error(`local controllers: ${what} failed: ${String(err)}`);
      return undefined;
    }
  }

  create(r: ResourceType, obj: JsonObject, manager = 'kube-controller-manager'): JsonObject | undefined {
    const ns = r.namespaced ? str(meta(obj).namespace) : undefined;
    return this.#guard(`create ${r.kind}`, () => {
      const res = this.api.create(r, ns, JSON.stringify(obj), { dryRun: false, fieldManager: manager });
      return res.body as JsonObject;
    });
  }

  update(r: ResourceType, obj: JsonObject): JsonObject | undefined {
    const m = meta(obj);
    const current = this.get(r, str(m.namespace), String(m.name));
    if (
      current &&
      sameJson(current.spec, obj.spec) &&
      sameJson(meta(current).annotations, m.annotations) &&
      sameJson(meta(current).labels, m.labels)
    ) {
      return current;
    }
    return this.#guard(`update ${r.kind}`, () => this.api.controllerWrite(r, obj));
  }

  updateStatus(r: ResourceType, obj: JsonObject, status: JsonObject): JsonObject | undefined {
    const m = meta(obj);
    const current = this.get(r, str(m.namespace), String(m.name));
    if (!current) return undefined;
    if (sameJson(current.status, status)) return current;
    return this.#guard(`update ${r.kind} status`, () =>
      this.api.controllerWrite(r, { ...obj, status }, { status: true }),
    );
  }

  remove(r: ResourceType, obj: JsonObject, gracePeriodSeconds?: number): void {
    const m = meta(obj);
    const body = gracePeriodSeconds === undefined ? '{}' : JSON.stringify({ gracePeriodSeconds });
    this.#guard(`delete ${r.kind}`, () =>
      this.api.delete(r, r.namespaced ? str(m.namespace) : undefined, String(m.name), body, {
        dryRun: false,
      }),
    );
  }
}

export function obj(v: unknown): JsonObject {
  return isObject(v) ? v : {};
}

export function arr(v: unknown): JsonObject[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function meta(o: JsonObject): JsonObject {
  return obj(o.metadata);
}

export function spec(o: JsonObject): JsonObject {
  return obj(o.spec);
}

export function status(o: JsonObject): JsonObject {
  return obj(o.status);
}

export function nameOf(o: JsonObject): string {
  return String(meta(o).name);
}

export function uidOf(o: JsonObject): string {
  return String(meta(o).uid);
}

export function labelsOf(o: JsonObject): Record<string, string> {
  return Object.fromEntries(Object.entries(obj(meta(o).labels)).map(([k, v]) => [k, String(v)]));
}

export function controllerRef(o: JsonObject): JsonObject | undefined {
  return arr(meta(o).ownerReferences).find((r) => r.controller === true);
}

export function ownedBy(o: JsonObject, owner: JsonObject): boolean {
  return controllerRef(o)?.uid === meta(owner).uid;
}

export function ownerRefTo(owner: JsonObject, apiVersion: string, kind: string): JsonObject {
  return {
    apiVersion,
    kind,
    name: nameOf(owner),
    uid: uidOf(owner),
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isTerminating(o: JsonObject): boolean {
  return meta(o).deletionTimestamp !== undefined;
}

/** Not terminating and not finished: what a ReplicaSet counts. */
export function isActivePod(p: JsonObject): boolean {
  const phase = status(p).phase;
  return !isTerminating(p) && phase !== 'Succeeded' && phase !== 'Failed';
}

export function conditionOf(o: JsonObject, type: string): JsonObject | undefined {
  return arr(status(o).conditions).find((c) => c.type === type);
}

export function isPodReady(p: JsonObject): boolean {
  return conditionOf(p, 'Ready')?.status === 'True';
}

/** Resource requests of a pod (requests default to limits, as the apiserver defaults them). */
export function podRequests(p: JsonObject): Record<string, number> {
  const total: Record<string, number> = {};
  for (const c of arr(spec(p).containers)) {
    const res = obj(c.resources);
    const req = { ...obj(res.limits), ...obj(res.requests) };
    for (const [k, v] of Object.entries(req)) {
      const n = parseQuantity(v);
      if (Number.isFinite(n)) total[k] = (total[k] ?? 0) + n;
    }
  }
  return total;
}

export function intOrPercent(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.endsWith('%')) {
    const x = (Number(v.slice(0, -1)) * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return 0;
}

/** The real alphabet of generated name suffixes (no vowels, no confusable digits). */
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function randomSuffix(n: number): string {
  let s = '';
  for (let i = 0; i < n; i += 1) s += ALPHABET[Math.floor(Math.random() * ALPHABET.length)];
  return s;
}

/** apimachinery's SafeEncodeString: digits and letters mapped onto the alphabet above. */
export function safeEncode(s: string): string {
  const table = 'bcdfghjklmnpqrstvwxz2456789';
  return [...s].map((ch) => table[ch.charCodeAt(0) % table.length]).join('');
}

export function msOf(iso: unknown): number | undefined {
  if (typeof iso !== 'string') return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

/** Equal as JSON: keys whose value is undefined count as absent. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => sameJson(a[k], b[k]));
  }
  return false;
}
