/**
 * Object storage for the local apiserver: one map per resource keyed by namespace/name, one
 * global resourceVersion counter, a bounded history of change events (what etcd's watch and the
 * apiserver's watch cache give: a watch may start from any resourceVersion still in it), and an
 * index of owner uid -> dependents for the garbage collector. Optionally persisted as a JSON file
 * so a sandbox restart keeps the cluster's state.
 *
 * Stored objects are never mutated in place (every write replaces the entry with a fresh copy), so
 * events and paging snapshots may hold references to them; everything handed out is a copy.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clone, isObject, type JsonObject } from './json';
import type { ResourceType } from './resources';

const FILE = 'kubernetes.json';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  plural: string;
  /** The resourceVersion this change made, as a number for ordering. */
  resourceVersion: number;
  /** The object after the change (for DELETED: as it was, with the deletion's resourceVersion). Read-only. */
  object: JsonObject;
  /** For MODIFIED: the object before the change (watch filters turn it into ADDED/DELETED). */
  previous?: JsonObject;
}

function nameKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export function metaOf(obj: JsonObject): JsonObject {
  return isObject(obj.metadata) ? obj.metadata : {};
}

function ownerUids(obj: JsonObject): string[] {
  const refs = metaOf(obj).ownerReferences;
  if (!Array.isArray(refs)) return [];
  return refs.filter(isObject).flatMap((r) => (typeof r.uid === 'string' ? [r.uid] : []));
}

export interface StoredRef {
  plural: string;
  namespace: string | undefined;
  name: string;
}

export interface KubeStoreOptions {
  /** How many change events are kept for watches that start from an older resourceVersion. */
  historySize?: number;
}

export class KubeStore {
  /** plural -> "namespace/name" -> object. */
  readonly #objects = new Map<string, Map<string, JsonObject>>();
  /** uid -> where the object lives. */
  readonly #byUid = new Map<string, StoredRef>();
  /** owner uid -> uids of objects naming it in ownerReferences. */
  readonly #dependents = new Map<string, Set<string>>();
  readonly #dir: string | undefined;
  readonly #listeners = new Set<(plural?: string, event?: StoreEvent) => void>();
  readonly #watchers = new Set<(event: StoreEvent) => void>();
  readonly #history: StoreEvent[] = [];
  #historyHead = 0;
  readonly #historySize: number;
  /** Every change after this resourceVersion is in the history. */
  #historyFrom: number;
  #resourceVersion = 0;
  #saveScheduled: NodeJS.Immediate | undefined;

  constructor(dir?: string, opts: KubeStoreOptions = {}) {
    this.#dir = dir;
    this.#historySize = Math.max(1, opts.historySize ?? 10_000);
    if (dir) this.#load(dir);
    this.#historyFrom = this.#resourceVersion;
  }

  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  /** The oldest resourceVersion a watch may start from (older ones answer 410 Expired). */
  get oldestWatchableVersion(): number {
    return this.#historyFrom;
  }

  nextResourceVersion(): string {
    this.#resourceVersion += 1;
    return String(this.#resourceVersion);
  }

  #map(plural: string): Map<string, JsonObject> {
    let m = this.#objects.get(plural);
    if (!m) {
      m = new Map();
      this.#objects.set(plural, m);
    }
    return m;
  }

  get(resource: ResourceType, namespace: string | undefined, name: string): JsonObject | undefined {
    const found = this.#objects.get(resource.plural)?.get(nameKey(namespace, name));
    return found ? clone(found) : undefined;
  }

  /** Where the object with this uid lives, if it exists. */
  locate(uid: string): StoredRef | undefined {
    return this.#byUid.get(uid);
  }

  /** Uids of the objects whose ownerReferences name `uid`. */
  dependentsOf(uid: string): string[] {
    return [...(this.#dependents.get(uid) ?? [])];
  }

  /**
   * Stored objects of a resource (read-only references, not copies) in namespace/name order
   * (etcd key order), all namespaces when none given.
   */
  snapshot(resource: ResourceType, namespace?: string): JsonObject[] {
    const m = this.#objects.get(resource.plural);
    if (!m) return [];
    const prefix = namespace === undefined ? '' : `${namespace}/`;
    const entries: [string, JsonObject][] = [];
    for (const entry of m) if (entry[0].startsWith(prefix)) entries.push(entry);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return entries.map(([, v]) => v);
  }

  /** Copies of the objects of a resource in namespace/name order. */
  list(resource: ResourceType, namespace?: string): JsonObject[] {
    return this.snapshot(resource, namespace).map((o) => clone(o));
  }

  /** A resource's objects in key order, not copied: for in-process readers that never mutate them. */
  peek(resource: ResourceType): readonly JsonObject[] {
    return this.snapshot(resource);
  }

  /** One stored object, not copied: for in-process readers that never mutate it. */
  peekOne(resource: ResourceType, namespace: string | undefined, name: string): JsonObject | undefined {
    return this.#objects.get(resource.plural)?.get(nameKey(namespace, name));
  }

  all(): JsonObject[] {
    const plurals = [...this.#objects.keys()].sort();
    return plurals.flatMap((p) =>
      [...this.#objects.get(p)!.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, v]) => clone(v)),
    );
  }

  put(resource: ResourceType, object: JsonObject): void {
    const meta = metaOf(object);
    const ns = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    const m = this.#map(resource.plural);
    const k = nameKey(ns, String(meta.name));
    const previous = m.get(k);
    const stored = clone(object);
    m.set(k, stored);
    if (previous) this.#unindex(previous);
    this.#index(resource.plural, stored);
    this.#emit({
      type: previous ? 'MODIFIED' : 'ADDED',
      plural: resource.plural,
      resourceVersion: Number(metaOf(stored).resourceVersion),
      object: stored,
      ...(previous ? { previous } : {}),
    });
  }

  /**
   * Removes an object under a new resourceVersion; returns it as deleted (with that version).
   * `final` is the object as the deleting write left it (an update that removed the last
   * finalizer), reported in the DELETED event instead of the stored one.
   */
  delete(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    final?: JsonObject,
  ): JsonObject | undefined {
    const m = this.#objects.get(resource.plural);
    const k = nameKey(namespace, name);
    const previous = m?.get(k);
    if (!m || !previous) return undefined;
    m.delete(k);
    this.#unindex(previous);
    const gone = clone(final ?? previous);
    gone.metadata = { ...metaOf(gone), resourceVersion: this.nextResourceVersion() };
    this.#emit({
      type: 'DELETED',
      plural: resource.plural,
      resourceVersion: this.#resourceVersion,
      object: gone,
    });
    return clone(gone);
  }

  /** Every namespaced object in a namespace, as references to place the deletions. */
  namespaceContents(namespace: string): StoredRef[] {
    const refs: StoredRef[] = [];
    for (const [plural, m] of this.#objects) {
      for (const obj of m.values()) {
        const meta = metaOf(obj);
        if (meta.namespace === namespace) refs.push({ plural, namespace, name: String(meta.name) });
      }
    }
    return refs;
  }

  #index(plural: string, obj: JsonObject): void {
    const meta = metaOf(obj);
    if (typeof meta.uid !== 'string') return;
    const ns = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    this.#byUid.set(meta.uid, { plural, namespace: ns, name: String(meta.name) });
    for (const owner of ownerUids(obj)) {
      let set = this.#dependents.get(owner);
      if (!set) {
        set = new Set();
        this.#dependents.set(owner, set);
      }
      set.add(meta.uid);
    }
  }

  #unindex(obj: JsonObject): void {
    const meta = metaOf(obj);
    if (typeof meta.uid !== 'string') return;
    this.#byUid.delete(meta.uid);
    for (const owner of ownerUids(obj)) {
      const set = this.#dependents.get(owner);
      set?.delete(meta.uid);
      if (set?.size === 0) this.#dependents.delete(owner);
    }
  }

  /** Change events after `resourceVersion`, oldest first; undefined when some are no longer kept. */
  eventsAfter(resourceVersion: number): StoreEvent[] | undefined {
    if (resourceVersion < this.#historyFrom) return undefined;
    const n = this.#history.length;
    const out: StoreEvent[] = [];
    for (let i = 0; i < n; i += 1) {
      const e = this.#history[(this.#historyHead + i) % n]!;
      if (e.resourceVersion > resourceVersion) out.push(e);
    }
    return out;
  }

  /** Calls `listener` with every change event, synchronously; returns the unsubscribe function. */
  watch(listener: (event: StoreEvent) => void): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }

  #emit(event: StoreEvent): void {
    if (this.#history.length < this.#historySize) {
      this.#history.push(event);
    } else {
      const evicted = this.#history[this.#historyHead]!;
      this.#history[this.#historyHead] = event;
      this.#historyHead = (this.#historyHead + 1) % this.#historySize;
      this.#historyFrom = evicted.resourceVersion;
    }
    for (const w of [...this.#watchers]) w(event);
    for (const listener of [...this.#listeners]) listener(event.plural, event);
    this.#scheduleSave();
  }

  #load(dir: string): void {
    const path = join(dir, FILE);
    if (!existsSync(path)) return;
    const data: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!isObject(data) || !Array.isArray(data.objects)) return;
    this.#resourceVersion = Number(data.resourceVersion ?? 0) || 0;
    for (const entry of data.objects) {
      if (!isObject(entry) || typeof entry.plural !== 'string' || !isObject(entry.object)) continue;
      const meta = metaOf(entry.object);
      const ns = typeof meta.namespace === 'string' ? meta.namespace : undefined;
      this.#map(entry.plural).set(nameKey(ns, String(meta.name)), entry.object);
      this.#index(entry.plural, entry.object);
    }
  }

  /**
   * Calls `listener` after every stored change (with the resource's plural and the change event,
   * none for bulk changes), after the watchers; returns the unsubscribe function.
   */
  subscribe(listener: (plural?: string, event?: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Writes are batched to one save per event-loop turn: a burst of N writes (a benchmark creating
   * a thousand Deployments) then costs O(N) serialisations instead of one per write.
   */
  #scheduleSave(): void {
    if (!this.#dir || this.#saveScheduled) return;
    this.#saveScheduled = setImmediate(() => this.flush());
  }

  /** Persists now (no-op without a dir); called on close so nothing is lost. */
  flush(): void {
    if (this.#saveScheduled) clearImmediate(this.#saveScheduled);
    this.#saveScheduled = undefined;
    if (!this.#dir) return;
    mkdirSync(this.#dir, { recursive: true });
    const path = join(this.#dir, FILE);
    const objects: { plural: string; object: JsonObject }[] = [];
    for (const [plural, m] of this.#objects)
      for (const object of m.values()) objects.push({ plural, object });
    const text = JSON.stringify({ resourceVersion: this.#resourceVersion, objects }, null, 1);
    // Write-then-rename, so a crash mid-write never leaves a truncated state file.
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  }
}
