/**
 * The apiserver's behaviour for the served resources, independent of HTTP: create, get, list,
 * replace, patch (JSON, merge, strategic-as-merge), server-side apply, delete and the Deployment
 * scale subresource. Every write goes through `#write`, which keeps the invariants callers rely
 * on: one global resourceVersion counter, generation bumped only by spec changes, ownership in
 * managedFields, and no new resourceVersion for a write that changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { Clock } from './clock';
import { applyDefaults, clusterIp } from './defaults';
import {
  alreadyExists,
  badRequest,
  invalid,
  KubeApiError,
  type KubeStatus,
  notFound,
  qualifiedResource,
  staleConflict,
} from './errors';
import {
  type ApplyConflict,
  applyConfig,
  type ManagedFieldsEntry,
  type Owner,
  ownersOf,
  recordUpdate,
  toManagedFields,
} from './fields';
import { fieldValues, supportedFields } from './fieldsets';
import { clone, deepEqual, isObject, type JsonObject } from './json';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch';
import { findKind, groupVersion, RESOURCES, type ResourceType } from './resources';
import {
  type FieldRequirement,
  type LabelSelector,
  matchesFields,
  matchesRequirements,
  parseFieldSelector,
  parseLabelSelector,
  type Requirement,
  selectorString,
} from './selectors';
import { type KubeStore, metaOf, type StoreEvent } from './store';
import { validateObject } from './validation';

/** Manager recorded for writes that name no `fieldManager`. */
export const DEFAULT_FIELD_MANAGER = 'before-first-apply';

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

const NAMESPACE = findKind('Namespace')!;
const DEPLOYMENT = findKind('Deployment')!;
const SERVICE = findKind('Service')!;
const POD = findKind('Pod')!;

/**
 * What the in-process controllers add to the apiserver's generic machinery (see controllers/).
 * `onDelete` may defer a removal (graceful deletion): it returns the object to store instead,
 * marked with `deletionTimestamp`, or undefined to remove it now.
 */
export interface ApiHooks {
  onDelete?(resource: ResourceType, existing: JsonObject, options: JsonObject): JsonObject | undefined;
}

export interface WriteOptions {
  fieldManager?: string | undefined;
  dryRun: boolean;
  force?: boolean;
}

interface Filter {
  labels: Requirement[];
  fields: FieldRequirement[];
  empty: boolean;
}

/** One list result being paged: the items of the first page's snapshot (read-only references). */
interface Page {
  items: JsonObject[];
  offset: number;
  resourceVersion: string;
  filtered: boolean;
  id?: string;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: JsonObject;
}

/** How long a continue token stays valid: etcd's default compaction interval. */
const CONTINUE_TTL_MS = 5 * 60 * 1000;
const MAX_SNAPSHOTS = 256;

const FOREGROUND = 'foregroundDeletion';

type Propagation = 'Background' | 'Foreground' | 'Orphan';

/** DeleteOptions.propagationPolicy (body or query), or the legacy orphanDependents; Background by default. */
function propagationPolicy(body: JsonObject, query: URLSearchParams): Propagation {
  const value = body.propagationPolicy ?? query.get('propagationPolicy') ?? undefined;
  if (value === undefined || value === null || value === '') {
    const orphan = body.orphanDependents ?? query.get('orphanDependents');
    return orphan === true || orphan === 'true' ? 'Orphan' : 'Background';
  }
  if (value === 'Background' || value === 'Foreground' || value === 'Orphan') return value;
  throw invalid('DeleteOptions', 'meta.k8s.io', '', [
    {
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: "${String(value)}": supported values: "Foreground", "Background", "Orphan"`,
      field: 'propagationPolicy',
    },
  ]);
}

function finalizersOf(obj: JsonObject): string[] {
  const f = metaOf(obj).finalizers;
  return Array.isArray(f) ? f.filter((x): x is string => typeof x === 'string') : [];
}

function ownerRefsOf(obj: JsonObject): JsonObject[] {
  const refs = metaOf(obj).ownerReferences;
  return Array.isArray(refs) ? refs.filter(isObject) : [];
}

function resourceByPlural(plural: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.plural === plural);
}

/** The stored resource an object (with apiVersion and kind, as stored) belongs to. */
function kindResource(obj: JsonObject): ResourceType | undefined {
  return RESOURCES.find((r) => r.kind === obj.kind && groupVersion(r) === obj.apiVersion);
}

export interface Result {
  code: number;
  body: unknown;
}

function strOf(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`the body of the request was in an unknown format: ${(err as Error).message}`);
  }
}

function conflictMessage(conflicts: readonly ApplyConflict[], apiVersion: string): string {
  const byManager = new Map<string, { label: string; paths: string[] }>();
  for (const c of conflicts) {
    const label = c.operation === 'Update' ? `"${c.manager}" using ${apiVersion}` : `"${c.manager}"`;
    const entry = byManager.get(label) ?? { label, paths: [] };
    entry.paths.push(c.path);
    byManager.set(label, entry);
  }
  const parts = [...byManager.values()].map((e) =>
    e.paths.length === 1
      ? `conflict with ${e.label}: ${e.paths[0]}`
      : `conflicts with ${e.label}:\n${e.paths.map((p) => `- ${p}`).join('\n')}`,
  );
  const n = conflicts.length;
  return `Apply failed with ${n} conflict${n === 1 ? '' : 's'}: ${parts.join('\n')}`;
}

/** Managed-fields timestamps only move for entries whose fields changed, so no-op writes stay no-ops. */
function keepTimes(next: ManagedFieldsEntry[], previous: unknown): ManagedFieldsEntry[] {
  const prev = Array.isArray(previous) ? previous.filter(isObject) : [];
  return next.map((e) => {
    const same = prev.find(
      (p) =>
        p.manager === e.manager &&
        p.operation === e.operation &&
        p.subresource === e.subresource &&
        deepEqual(p.fieldsV1, e.fieldsV1),
    );
    return same && typeof same.time === 'string' ? { ...e, time: same.time } : e;
  });
}

export class KubeApi {
  readonly #store: KubeStore;
  readonly #clock: Clock;
  hooks: ApiHooks = {};
  readonly #snapshots = new Map<string, Page & { id: string; takenMs: number }>();
  #snapshotCounter = 0;

  constructor(store: KubeStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** The server's clock, for ages in printed tables. */
  nowMs(): number {
    return this.#clock.nowMs();
  }

  #now(): string {
    return `${new Date(this.#clock.nowMs()).toISOString().slice(0, 19)}Z`;
  }

  #requireNamespace(resource: ResourceType, namespace: string | undefined): void {
    if (!resource.namespaced) return;
    if (!namespace || !this.#store.get(NAMESPACE, undefined, namespace)) {
      throw notFound('namespaces', '', namespace ?? '');
    }
  }

  #existing(resource: ResourceType, namespace: string | undefined, name: string): JsonObject {
    const found = this.#store.get(resource, resource.namespaced ? namespace : undefined, name);
    if (!found) throw notFound(resource.plural, resource.group, name);
    return found;
  }

  /** Checks what the URL says against what the body says, as the apiserver does before anything else. */
  #checkIdentity(
    resource: ResourceType,
    body: JsonObject,
    namespace: string | undefined,
    name?: string,
  ): void {
    const gv = groupVersion(resource);
    if (body.apiVersion !== undefined && body.apiVersion !== gv) {
      throw badRequest(
        `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${gv})`,
      );
    }
    if (body.kind !== undefined && body.kind !== resource.kind) {
      throw badRequest(
        `the kind in the data (${String(body.kind)}) does not match the expected kind (${resource.kind})`,
      );
    }
    const meta = metaOf(body);
    if (name !== undefined && meta.name !== undefined && meta.name !== name) {
      throw badRequest(
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    if (resource.namespaced && meta.namespace !== undefined && meta.namespace !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
  }

  /**
   * Completes, validates and (unless dry-run) stores one object. `ownersFor` sees the final
   * object, so Update writers own the defaults they caused, as on a real apiserver.
   */
  #write(
    resource: ResourceType,
    namespace: string | undefined,
    previous: JsonObject | undefined,
    candidate: JsonObject,
    ownersFor: (after: JsonObject) => Owner[],
    dryRun: boolean,
    status?: unknown,
  ): JsonObject {
    const now = this.#now();
    const obj = this.#normalize(resource, namespace, previous, candidate);
    if (status !== undefined) obj.status = clone(status);
    const causes = validateObject(resource, obj);
    const meta = metaOf(obj);
    if (causes.length > 0) throw invalid(resource.kind, resource.group, String(meta.name ?? ''), causes);

    const prevMeta = previous ? metaOf(previous) : {};
    // omitempty, as Go serialises ObjectMeta: an empty list is no list.
    for (const k of ['finalizers', 'ownerReferences']) {
      if (Array.isArray(meta[k]) && (meta[k] as unknown[]).length === 0) delete meta[k];
    }
    if (prevMeta.deletionTimestamp !== undefined) {
      // Terminating: deletionTimestamp is fixed and finalizers may only go away.
      const before = new Set(previous ? finalizersOf(previous) : []);
      const added = finalizersOf(obj).filter((f) => !before.has(f));
      if (added.length > 0) {
        throw invalid(resource.kind, resource.group, String(meta.name ?? ''), [
          {
            reason: 'FieldValueForbidden',
            message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`,
            field: 'metadata.finalizers',
          },
        ]);
      }
      meta.deletionTimestamp = prevMeta.deletionTimestamp;
      meta.deletionGracePeriodSeconds = prevMeta.deletionGracePeriodSeconds;
    } else {
      delete meta.deletionTimestamp;
      delete meta.deletionGracePeriodSeconds;
    }
    const ordered: JsonObject = {
      name: meta.name,
      ...(resource.namespaced ? { namespace } : {}),
      uid: prevMeta.uid ?? randomUUID(),
      resourceVersion: prevMeta.resourceVersion,
      ...(resource.generation
        ? {
            generation: previous
              ? deepEqual(previous.spec, obj.spec)
                ? prevMeta.generation
                : Number(prevMeta.generation ?? 0) + 1
              : 1,
          }
        : {}),
      creationTimestamp: prevMeta.creationTimestamp ?? now,
    };
    for (const [k, v] of Object.entries(meta)) {
      const serverOwned = k === 'managedFields' || k === 'generateName' || k === 'generation';
      if (!(k in ordered) && !serverOwned && v !== undefined) ordered[k] = v;
    }
    if (typeof meta.generateName === 'string') ordered.generateName = meta.generateName;
    obj.metadata = ordered;
    ordered.managedFields = keepTimes(
      toManagedFields(ownersFor(obj), groupVersion(resource), now),
      prevMeta.managedFields,
    );

    if (previous && deepEqual(obj, previous)) return previous;
    if (dryRun) {
      if (!previous) delete ordered.resourceVersion;
      return obj;
    }
    if (
      ordered.deletionTimestamp !== undefined &&
      finalizersOf(obj).length === 0 &&
      previous !== undefined &&
      finalizersOf(previous).length > 0
    ) {
      // The write that empties a terminating object's finalizers deletes it: one DELETED event.
      // (A gracefully terminating Pod has none: the kubelet's final delete removes it.)
      return this.#remove(resource, namespace, String(meta.name), obj) ?? obj;
    }
    ordered.resourceVersion = this.#store.nextResourceVersion();
    this.#store.put(resource, obj);
    this.#collectSoon(resource, obj);
    // Store listeners (the controllers) may have written it again already: answer what is stored.
    return this.#store.get(resource, resource.namespaced ? namespace : undefined, String(meta.name)) ?? obj;
  }

  /** Fills what the server owns: identity, defaults, and status (never taken from a main-resource write). */
  #normalize(
    resource: ResourceType,
    namespace: string | undefined,
    previous: JsonObject | undefined,
    candidate: JsonObject,
  ): JsonObject {
    const obj: JsonObject = { apiVersion: groupVersion(resource), kind: resource.kind };
    for (const [k, v] of Object.entries(candidate)) {
      if (k !== 'apiVersion' && k !== 'kind' && k !== 'status') obj[k] = clone(v);
    }
    const meta = isObject(obj.metadata) ? obj.metadata : {};
    obj.metadata = meta;
    if (resource.namespaced) meta.namespace = namespace;
    else delete meta.namespace;
    if (previous?.status !== undefined) obj.status = clone(previous.status);
    applyDefaults(resource, obj, previous, () => this.#allocateClusterIp());
    return obj;
  }

  /** The lowest free Service IP, so IPs stay unique across restarts of a persisted server. */
  #allocateClusterIp(): string {
    const used = new Set(
      this.#store.list(SERVICE).map((s) => (isObject(s.spec) ? s.spec.clusterIP : undefined)),
    );
    let n = 0;
    while (used.has(clusterIp(n))) n += 1;
    return clusterIp(n);
  }

  /** The label and field selectors of a list or watch request, as one predicate. */
  #filter(resource: ResourceType, query: URLSearchParams): Filter {
    const labels = parseLabelSelector(query.get('labelSelector') ?? '');
    const fields = parseFieldSelector(query.get('fieldSelector') ?? '', supportedFields(resource.kind));
    return { labels, fields, empty: labels.length === 0 && fields.length === 0 };
  }

  /** Parses a request's selectors only, throwing the 400 a list would answer. */
  checkSelectors(resource: ResourceType, query: URLSearchParams): void {
    this.#filter(resource, query);
  }

  #matches(resource: ResourceType, filter: Filter, obj: JsonObject): boolean {
    if (filter.empty) return true;
    const meta = metaOf(obj);
    const objLabels = isObject(meta.labels) ? (meta.labels as Record<string, string>) : {};
    return (
      matchesRequirements(filter.labels, objLabels) &&
      matchesFields(filter.fields, fieldValues(resource.kind, obj))
    );
  }

  /**
   * A list, paged with `limit`/`continue` as etcd-backed lists are: every page of one list comes
   * from the snapshot the first page was cut from (so writes in between never shift or repeat
   * items), `metadata.continue` is an opaque token, and `remainingItemCount` is set for unfiltered
   * lists. A token whose snapshot was dropped (older than CONTINUE_TTL_MS, or evicted) answers
   * 410 Expired, as a compacted etcd revision does.
   */
  list(resource: ResourceType, namespace: string | undefined, query: URLSearchParams): JsonObject {
    const ns = resource.namespaced ? namespace : undefined;
    const limitText = query.get('limit');
    const limit = limitText === null || limitText === '' ? 0 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 0) {
      throw badRequest(`invalid limit: ${limitText ?? ''}`);
    }
    const token = query.get('continue') ?? '';
    let page: Page;
    if (token !== '') {
      page = this.#continuePage(token);
    } else {
      const filter = this.#filter(resource, query);
      const items = this.#store.snapshot(resource, ns).filter((o) => this.#matches(resource, filter, o));
      page = { items, offset: 0, resourceVersion: this.#store.resourceVersion, filtered: !filter.empty };
    }
    const end = limit > 0 ? Math.min(page.items.length, page.offset + limit) : page.items.length;
    const metadata: JsonObject = { resourceVersion: page.resourceVersion };
    if (end < page.items.length) {
      const id = page.id ?? this.#keepSnapshot(page);
      metadata.continue = Buffer.from(
        JSON.stringify({ v: 'meta.k8s.io/v1', rv: page.resourceVersion, id, start: end }),
      ).toString('base64url');
      if (!page.filtered) metadata.remainingItemCount = page.items.length - end;
    }
    return {
      apiVersion: groupVersion(resource),
      kind: `${resource.kind}List`,
      metadata,
      // List items carry no apiVersion/kind on the wire; the list does.
      items: page.items.slice(page.offset, end).map((o) => {
        const { apiVersion: _v, kind: _k, ...rest } = clone(o);
        return rest;
      }),
    };
  }

  #keepSnapshot(page: Page): string {
    this.#snapshotCounter += 1;
    const id = String(this.#snapshotCounter);
    this.#snapshots.set(id, { ...page, id, takenMs: this.#clock.nowMs() });
    // Oldest first in insertion order: drop beyond the cap.
    while (this.#snapshots.size > MAX_SNAPSHOTS) {
      const oldest = this.#snapshots.keys().next().value;
      if (oldest === undefined) break;
      this.#snapshots.delete(oldest);
    }
    return id;
  }

  #continuePage(token: string): Page {
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    } catch {
      decoded = undefined;
    }
    if (
      !isObject(decoded) ||
      typeof decoded.id !== 'string' ||
      typeof decoded.start !== 'number' ||
      typeof decoded.rv !== 'string'
    ) {
      throw badRequest(
        'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
      );
    }
    const snap = this.#snapshots.get(decoded.id);
    if (!snap || this.#clock.nowMs() - snap.takenMs > CONTINUE_TTL_MS) {
      if (snap) this.#snapshots.delete(decoded.id);
      throw new KubeApiError(
        410,
        'Expired',
        'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
      );
    }
    return { ...snap, offset: decoded.start };
  }

  /**
   * Starts a watch: `send` gets each event for objects of `resource` (in `namespace` when given)
   * that pass the request's selectors, `end` is called when the watch must close (after an ERROR).
   * A MODIFIED object that stops (starts) matching arrives as DELETED (ADDED), as the watch cache
   * sends it. Returns the function that stops the watch.
   */
  watch(
    resource: ResourceType,
    namespace: string | undefined,
    query: URLSearchParams,
    send: (event: WatchEvent) => void,
    end: () => void,
  ): () => void {
    const ns = resource.namespaced ? namespace : undefined;
    const filter = this.#filter(resource, query);
    const rvText = query.get('resourceVersion') ?? '';
    const sendInitial = query.get('sendInitialEvents') === 'true';
    const inScope = (o: JsonObject): boolean => ns === undefined || metaOf(o).namespace === ns;
    const deliver = (e: StoreEvent): void => {
      if (!inScope(e.object)) return;
      const now = this.#matches(resource, filter, e.object);
      if (e.type === 'MODIFIED' && e.previous) {
        const before = this.#matches(resource, filter, e.previous);
        if (now && !before) send({ type: 'ADDED', object: clone(e.object) });
        else if (!now && before) send({ type: 'DELETED', object: clone(e.object) });
        else if (now) send({ type: 'MODIFIED', object: clone(e.object) });
        return;
      }
      if (now) send({ type: e.type, object: clone(e.object) });
    };
    const onEvent = (e: StoreEvent): void => {
      if (e.plural === resource.plural) deliver(e);
    };
    if (rvText === '' || rvText === '0' || sendInitial) {
      // "Get state and start at most recent": the current objects as ADDED, then live events.
      for (const o of this.#store.list(resource, ns)) {
        if (this.#matches(resource, filter, o)) send({ type: 'ADDED', object: o });
      }
      if (sendInitial) {
        send({
          type: 'BOOKMARK',
          object: this.bookmark(resource, { 'k8s.io/initial-events-end': 'true' }),
        });
      }
      return this.#store.watch(onEvent);
    }
    const from = Number(rvText);
    if (!Number.isInteger(from) || from < 0) {
      throw badRequest(`invalid resource version: strconv.ParseUint: parsing "${rvText}": invalid syntax`);
    }
    const past = this.#store.eventsAfter(from);
    if (past === undefined) {
      send({
        type: 'ERROR',
        object: new KubeApiError(
          410,
          'Expired',
          `too old resource version: ${from} (${this.#store.oldestWatchableVersion})`,
        ).toStatus() as unknown as JsonObject,
      });
      end();
      return () => {};
    }
    for (const e of past) onEvent(e);
    return this.#store.watch(onEvent);
  }

  /** A BOOKMARK event's object: only apiVersion, kind and the current resourceVersion. */
  bookmark(resource: ResourceType, annotations?: Record<string, string>): JsonObject {
    return {
      kind: resource.kind,
      apiVersion: groupVersion(resource),
      metadata: {
        resourceVersion: this.#store.resourceVersion,
        ...(annotations ? { annotations } : {}),
      },
    };
  }

  get(resource: ResourceType, namespace: string | undefined, name: string): JsonObject {
    return this.#existing(resource, namespace, name);
  }

  /**
   * Replaces an object's `status` (what the status subresource does for controllers): a new
   * resourceVersion and a MODIFIED event when it changed, spec/metadata untouched, no generation
   * bump. `resourceVersion`, when given, must match (409 otherwise).
   */
  writeStatus(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    status: JsonObject,
    resourceVersion?: string,
  ): JsonObject {
    const existing = this.#existing(resource, namespace, name);
    if (resourceVersion !== undefined && resourceVersion !== metaOf(existing).resourceVersion) {
      throw staleConflict(resource.plural, resource.group, name);
    }
    if (deepEqual(existing.status, status)) return existing;
    const updated = clone(existing);
    updated.status = clone(status);
    return this.#internalWrite(resource, updated) ?? updated;
  }

  /** The stored pods, in namespace/name order. */
  pods(namespace?: string): JsonObject[] {
    return this.#store.list(POD, namespace);
  }

  /**
   * A write by an in-process controller (no HTTP, no preconditions): the object as given, or with
   * `status: true` only its status. managedFields are left as they are (see README).
   * @returns the stored object, or undefined when it does not exist (any more).
   */
  controllerWrite(resource: ResourceType, candidate: JsonObject, opts: { status?: boolean } = {}) {
    const meta = metaOf(candidate);
    const namespace = resource.namespaced ? strOf(meta.namespace) : undefined;
    const existing = this.#store.get(resource, namespace, String(meta.name));
    if (!existing) return undefined;
    const owners = ownersOf(metaOf(existing).managedFields);
    const next = opts.status ? { ...clone(existing) } : clone(candidate);
    next.metadata = opts.status ? metaOf(next) : { ...metaOf(next), name: metaOf(existing).name };
    return this.#write(
      resource,
      namespace,
      existing,
      next,
      () => owners,
      false,
      opts.status ? (candidate.status ?? {}) : undefined,
    );
  }

  replaceStatus(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    raw: string,
    opts: WriteOptions,
  ): JsonObject {
    const body = parseJson(raw);
    if (!isObject(body)) throw badRequest('the body of the request must be an object');
    this.#checkIdentity(resource, body, namespace, name);
    const existing = this.#existing(resource, namespace, name);
    const rv = metaOf(body).resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== metaOf(existing).resourceVersion) {
      throw staleConflict(resource.plural, resource.group, name);
    }
    return this.#writeStatus(resource, namespace, existing, body.status, opts);
  }

  patchStatus(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    contentType: string,
    raw: string,
    opts: WriteOptions,
  ): JsonObject {
    const existing = this.#existing(resource, namespace, name);
    const patched = this.#patchDocument(contentType, existing, raw);
    this.#checkIdentity(resource, patched, namespace, name);
    return this.#writeStatus(resource, namespace, existing, patched.status, opts);
  }

  /** A `<plural>/status` write: only status changes, recorded as the writer's `subresource: status`. */
  #writeStatus(
    resource: ResourceType,
    namespace: string | undefined,
    existing: JsonObject,
    status: unknown,
    opts: WriteOptions,
  ): JsonObject {
    const owners = ownersOf(metaOf(existing).managedFields);
    const writer = this.#writer(opts, 'status');
    return this.#write(
      resource,
      namespace,
      existing,
      clone(existing),
      (after) => recordUpdate(owners, writer, existing, after),
      opts.dryRun,
      isObject(status) ? status : {},
    );
  }

  create(resource: ResourceType, namespace: string | undefined, raw: string, opts: WriteOptions): Result {
    const body = parseJson(raw);
    if (!isObject(body)) throw badRequest('the body of the request must be an object');
    this.#checkIdentity(resource, body, namespace);
    const meta = metaOf(body);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
      throw badRequest('resourceVersion should not be set on objects to be created');
    }
    if (meta.name === undefined && typeof meta.generateName === 'string' && meta.generateName !== '') {
      meta.name = `${meta.generateName}${randomUUID().replace(/-/g, '').slice(0, 5)}`;
      body.metadata = meta;
    }
    this.#requireNamespace(resource, namespace);
    const name = strOf(meta.name) ?? '';
    if (name && this.#store.get(resource, resource.namespaced ? namespace : undefined, name)) {
      // Validation runs first on a real apiserver, so an invalid object is 422 even if one exists.
      const causes = validateObject(resource, this.#normalize(resource, namespace, undefined, body));
      if (causes.length > 0) throw invalid(resource.kind, resource.group, name, causes);
      throw alreadyExists(resource.plural, resource.group, name);
    }
    const writer = this.#writer(opts);
    const created = this.#write(
      resource,
      namespace,
      undefined,
      body,
      (after) => recordUpdate([], writer, undefined, after),
      opts.dryRun,
    );
    return { code: 201, body: created };
  }

  replace(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    raw: string,
    opts: WriteOptions,
  ): Result {
    const body = parseJson(raw);
    if (!isObject(body)) throw badRequest('the body of the request must be an object');
    this.#checkIdentity(resource, body, namespace, name);
    const existing = this.#existing(resource, namespace, name);
    return { code: 200, body: this.#update(resource, namespace, existing, body, opts) };
  }

  #writer(opts: WriteOptions, subresource?: string): Omit<Owner, 'fields'> {
    return {
      manager: opts.fieldManager ?? DEFAULT_FIELD_MANAGER,
      operation: 'Update',
      ...(subresource ? { subresource } : {}),
    };
  }

  #update(
    resource: ResourceType,
    namespace: string | undefined,
    existing: JsonObject,
    candidate: JsonObject,
    opts: WriteOptions,
    subresource?: string,
  ): JsonObject {
    const rv = metaOf(candidate).resourceVersion;
    const name = String(metaOf(existing).name);
    if (rv !== undefined && rv !== '' && rv !== metaOf(existing).resourceVersion) {
      throw staleConflict(resource.plural, resource.group, name);
    }
    const c = clone(candidate);
    c.metadata = { ...metaOf(c), name };
    const owners = ownersOf(metaOf(existing).managedFields);
    const writer = this.#writer(opts, subresource);
    return this.#write(
      resource,
      namespace,
      existing,
      c,
      (after) => recordUpdate(owners, writer, existing, after),
      opts.dryRun,
    );
  }

  patch(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    contentType: string,
    raw: string,
    opts: WriteOptions,
  ): Result {
    if (contentType === PATCH_TYPES.apply) return this.#apply(resource, namespace, name, raw, opts);
    if (opts.force) throw badRequest('force is not allowed for non-apply patches');
    const existing = this.#existing(resource, namespace, name);
    const patched = this.#patchDocument(contentType, existing, raw);
    this.#checkIdentity(resource, patched, namespace, name);
    return { code: 200, body: this.#update(resource, namespace, existing, patched, opts) };
  }

  #patchDocument(contentType: string, target: JsonObject, raw: string): JsonObject {
    let patched: unknown;
    if (contentType === PATCH_TYPES.json) patched = jsonPatch(target, parseJson(raw));
    else if (contentType === PATCH_TYPES.merge) patched = mergePatch(target, parseJson(raw));
    else if (contentType === PATCH_TYPES.strategic) patched = strategicMergePatch(target, parseJson(raw));
    else {
      throw new KubeApiError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${Object.values(PATCH_TYPES).join(', ')}`,
      );
    }
    if (!isObject(patched)) throw badRequest('the patch must leave an object');
    return patched;
  }

  #parseApplyBody(raw: string): JsonObject {
    let body: unknown;
    try {
      body = parseYaml(raw);
    } catch (err) {
      throw badRequest(`error decoding YAML: ${(err as Error).message}`);
    }
    if (!isObject(body)) throw badRequest('the apply configuration must be an object');
    return body;
  }

  #apply(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    raw: string,
    opts: WriteOptions,
  ): Result {
    if (!opts.fieldManager) {
      throw new KubeApiError(
        422,
        'Invalid',
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        {
          kind: 'PatchOptions',
          group: 'meta.k8s.io',
          causes: [
            {
              reason: 'FieldValueRequired',
              message: 'Required value: is required for apply patch',
              field: 'fieldManager',
            },
          ],
        },
      );
    }
    const manager = opts.fieldManager;
    const applied = this.#parseApplyBody(raw);
    if (typeof applied.apiVersion !== 'string' || typeof applied.kind !== 'string') {
      throw badRequest("apply configurations must set 'apiVersion' and 'kind'");
    }
    this.#checkIdentity(resource, applied, namespace, name);
    const meta = metaOf(applied);
    const cleanMeta: JsonObject = {};
    for (const [k, v] of Object.entries(meta)) {
      if (!['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields'].includes(k))
        cleanMeta[k] = v;
    }
    cleanMeta.name = name;
    if (resource.namespaced) cleanMeta.namespace = namespace;
    const config: JsonObject = { ...applied, metadata: cleanMeta };
    delete config.status;

    this.#requireNamespace(resource, namespace);
    const existing = this.#store.get(resource, resource.namespaced ? namespace : undefined, name);
    if (
      existing &&
      meta.resourceVersion !== undefined &&
      meta.resourceVersion !== metaOf(existing).resourceVersion
    ) {
      throw staleConflict(resource.plural, resource.group, name);
    }
    const owners = existing ? ownersOf(metaOf(existing).managedFields) : [];
    const result = applyConfig(existing, owners, config, manager, opts.force === true, (merged) =>
      this.#normalize(resource, namespace, existing, merged),
    );
    if (result.conflicts.length > 0) {
      const apiVersion = groupVersion(resource);
      throw new KubeApiError(409, 'Conflict', conflictMessage(result.conflicts, apiVersion), {
        name,
        ...(resource.group ? { group: resource.group } : {}),
        kind: resource.plural,
        causes: result.conflicts.map((c) => ({
          reason: 'FieldManagerConflict',
          message:
            c.operation === 'Update'
              ? `conflict with "${c.manager}" using ${apiVersion}`
              : `conflict with "${c.manager}"`,
          field: c.path,
        })),
      });
    }
    const written = this.#write(
      resource,
      namespace,
      existing,
      result.object,
      () => result.owners,
      opts.dryRun,
    );
    return { code: existing ? 200 : 201, body: written };
  }

  /**
   * DELETE. Without finalizers (and with Background or Orphan propagation) the object goes at once
   * and the answer is a Success Status (200). With finalizers, or Foreground propagation while
   * dependents exist, it stays with `deletionTimestamp` set until the finalizers are gone and the
   * answer is the object itself (202), as the apiserver answers a deletion it cannot finish.
   */
  delete(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    raw: string,
    opts: WriteOptions,
    query: URLSearchParams = new URLSearchParams(),
  ): Result {
    const existing = this.#existing(resource, namespace, name);
    const meta = metaOf(existing);
    const options = raw.trim() ? parseJson(raw) : {};
    const body = isObject(options) ? options : {};
    const pre = isObject(body.preconditions) ? body.preconditions : {};
    const failed =
      pre.uid !== undefined && pre.uid !== meta.uid
        ? `UID in precondition: ${String(pre.uid)}, UID in object meta: ${String(meta.uid)}`
        : pre.resourceVersion !== undefined && pre.resourceVersion !== meta.resourceVersion
          ? `ResourceVersion in precondition: ${String(pre.resourceVersion)}, ResourceVersion in object meta: ${String(meta.resourceVersion)}`
          : undefined;
    if (failed) {
      throw new KubeApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualifiedResource(resource.plural, resource.group)} "${name}": Precondition failed: ${failed}`,
        { name, ...(resource.group ? { group: resource.group } : {}), kind: resource.plural },
      );
    }
    if (resource.kind === 'Namespace' && PROTECTED_NAMESPACES.has(name)) {
      throw new KubeApiError(
        403,
        'Forbidden',
        `namespaces "${name}" is forbidden: this namespace may not be deleted`,
        {
          name,
          kind: 'namespaces',
        },
      );
    }
    const policy = propagationPolicy(body, query);
    const success: KubeStatus = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: {
        name,
        ...(resource.group ? { group: resource.group } : {}),
        kind: resource.plural,
        uid: String(meta.uid),
      },
      code: 200,
    };
    if (opts.dryRun) {
      const pending = this.#finalizersAfterDelete(existing, policy).length > 0;
      if (pending) return { code: 202, body: existing };
      const graceful = this.hooks.onDelete?.(resource, existing, body);
      return graceful ? { code: 200, body: graceful } : { code: 200, body: success };
    }
    if (resource.kind === 'Namespace') {
      for (const ref of this.#store.namespaceContents(name)) {
        const r = resourceByPlural(ref.plural);
        if (r) this.#remove(r, ref.namespace, ref.name);
      }
    }
    const left = this.#startDeletion(resource, existing, policy, body);
    if (!left) return { code: 200, body: success };
    // Graceful deletion (a Pod its kubelet still stops) answers 200 with the object, as the
    // apiserver does; a deletion waiting for finalizers answers 202.
    return { code: finalizersOf(left).length === 0 ? 200 : 202, body: left };
  }

  /** The finalizers an object would have once a delete with `policy` started. */
  #finalizersAfterDelete(obj: JsonObject, policy: Propagation): string[] {
    const finalizers = finalizersOf(obj);
    const uid = String(metaOf(obj).uid);
    if (policy === 'Foreground' && this.#blockingDependents(uid).length > 0) {
      if (!finalizers.includes(FOREGROUND)) finalizers.push(FOREGROUND);
    }
    return finalizers;
  }

  /** Dependents that hold an owner in foreground deletion: `blockOwnerDeletion: true`. */
  #blockingDependents(uid: string): JsonObject[] {
    return this.#dependents(uid).filter((d) =>
      ownerRefsOf(d).some((r) => r.uid === uid && r.blockOwnerDeletion === true),
    );
  }

  #dependents(uid: string): JsonObject[] {
    return this.#store.dependentsOf(uid).flatMap((d) => {
      const ref = this.#store.locate(d);
      const r = ref ? resourceByPlural(ref.plural) : undefined;
      const obj = ref && r ? this.#store.get(r, ref.namespace, ref.name) : undefined;
      return obj ? [obj] : [];
    });
  }

  /**
   * Begins deleting `obj`: orphans or (foreground) deletes its dependents, then either removes it
   * or marks it terminating. Returns the object when it is left terminating.
   */
  #startDeletion(
    resource: ResourceType,
    obj: JsonObject,
    policy: Propagation,
    options: JsonObject = {},
  ): JsonObject | undefined {
    const meta = metaOf(obj);
    const uid = String(meta.uid);
    if (policy === 'Orphan') {
      for (const d of this.#dependents(uid)) this.#dropOwnerRef(d, uid);
    }
    const finalizers = this.#finalizersAfterDelete(obj, policy);
    if (finalizers.length === 0) {
      // Graceful deletion (hooks.onDelete, the kubelets' Pods): kept with deletionTimestamp.
      const graceful = this.hooks.onDelete?.(resource, obj, options);
      if (graceful) {
        if (deepEqual(graceful, obj)) return obj;
        const marked = clone(graceful);
        metaOf(marked).resourceVersion = this.#store.nextResourceVersion();
        this.#store.put(resource, marked);
        return this.#store.get(resource, strOf(meta.namespace), String(meta.name)) ?? marked;
      }
      this.#remove(resource, strOf(meta.namespace), String(meta.name));
      return undefined;
    }
    const marked = clone(obj);
    const m = metaOf(marked);
    m.finalizers = finalizers;
    if (m.deletionTimestamp === undefined) {
      m.deletionTimestamp = this.#now();
      m.deletionGracePeriodSeconds = 0;
    }
    let current = obj;
    if (!deepEqual(marked, obj)) {
      m.resourceVersion = this.#store.nextResourceVersion();
      this.#store.put(resource, marked);
      current = marked;
    }
    if (finalizers.includes(FOREGROUND)) {
      for (const d of this.#dependents(uid)) {
        const r = kindResource(d);
        if (r && metaOf(d).deletionTimestamp === undefined) this.#startDeletion(r, d, 'Foreground');
      }
      return this.#settleForeground(resource, uid) ?? undefined;
    }
    return current;
  }

  /**
   * Removes an object from the store and lets the garbage collector act on what pointed at it:
   * dependents whose owners are now all gone are deleted (background), dangling references to it
   * are dropped from dependents that keep other owners, and owners waiting in foreground
   * deletion for it are finished once nothing blocks them.
   */
  #remove(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    final?: JsonObject,
  ): JsonObject | undefined {
    const gone = this.#store.delete(resource, resource.namespaced ? namespace : undefined, name, final);
    if (!gone) return undefined;
    const uid = String(metaOf(gone).uid);
    for (const d of this.#dependents(uid)) this.#collect(d);
    for (const ref of ownerRefsOf(gone)) {
      if (typeof ref.uid !== 'string') continue;
      const owner = this.#store.locate(ref.uid);
      const r = owner ? resourceByPlural(owner.plural) : undefined;
      if (owner && r) this.#settleForeground(r, ref.uid);
    }
    return gone;
  }

  /** Garbage-collects one dependent: deleted when no owner exists, else dangling references dropped. */
  #collect(obj: JsonObject): void {
    const r = kindResource(obj);
    if (!r) return;
    const refs = ownerRefsOf(obj);
    const alive = refs.filter((ref) => typeof ref.uid === 'string' && this.#store.locate(ref.uid));
    if (alive.length === 0) {
      if (metaOf(obj).deletionTimestamp === undefined) this.#startDeletion(r, obj, 'Background');
      return;
    }
    if (alive.length < refs.length) {
      const updated = clone(obj);
      metaOf(updated).ownerReferences = alive;
      this.#internalWrite(r, updated);
    }
  }

  /** Removes the foregroundDeletion finalizer of a terminating owner nothing blocks any more. */
  #settleForeground(resource: ResourceType, uid: string): JsonObject | undefined {
    const ref = this.#store.locate(uid);
    if (!ref) return undefined;
    const owner = this.#store.get(resource, ref.namespace, ref.name);
    if (!owner) return undefined;
    const finalizers = finalizersOf(owner);
    if (metaOf(owner).deletionTimestamp === undefined || !finalizers.includes(FOREGROUND)) return owner;
    if (this.#blockingDependents(uid).length > 0) return owner;
    const updated = clone(owner);
    metaOf(updated).finalizers = finalizers.filter((f) => f !== FOREGROUND);
    return this.#internalWrite(resource, updated);
  }

  #dropOwnerRef(obj: JsonObject, ownerUid: string): void {
    const r = kindResource(obj);
    if (!r) return;
    const updated = clone(obj);
    const refs = ownerRefsOf(obj).filter((ref) => ref.uid !== ownerUid);
    const meta = metaOf(updated);
    if (refs.length > 0) meta.ownerReferences = refs;
    else delete meta.ownerReferences;
    this.#internalWrite(r, updated);
  }

  /**
   * A write the control plane itself makes (garbage collector, finalizer bookkeeping): new
   * resourceVersion, no validation or managedFields change. A terminating object whose last
   * finalizer went is removed instead. Returns the object when it still exists.
   */
  #internalWrite(resource: ResourceType, obj: JsonObject): JsonObject | undefined {
    const meta = metaOf(obj);
    const stored = this.#store.get(resource, strOf(meta.namespace), String(meta.name));
    if (
      meta.deletionTimestamp !== undefined &&
      finalizersOf(obj).length === 0 &&
      (stored === undefined || finalizersOf(stored).length > 0)
    ) {
      this.#remove(resource, strOf(meta.namespace), String(meta.name), obj);
      return undefined;
    }
    meta.resourceVersion = this.#store.nextResourceVersion();
    this.#store.put(resource, obj);
    return obj;
  }

  /** Collects objects created or updated with owners that do not exist (the GC's orphan sweep). */
  #collectSoon(resource: ResourceType, obj: JsonObject): void {
    const refs = ownerRefsOf(obj);
    if (refs.length === 0) return;
    const meta = metaOf(obj);
    const uid = meta.uid;
    setImmediate(() => {
      const ref = typeof uid === 'string' ? this.#store.locate(uid) : undefined;
      const current = ref ? this.#store.get(resource, ref.namespace, ref.name) : undefined;
      if (current) this.#collect(current);
    });
  }

  scale(namespace: string | undefined, name: string): JsonObject {
    return this.#scaleOf(this.#existing(DEPLOYMENT, namespace, name));
  }

  #scaleOf(deployment: JsonObject): JsonObject {
    const meta = metaOf(deployment);
    const spec = isObject(deployment.spec) ? deployment.spec : {};
    const status = isObject(deployment.status) ? deployment.status : {};
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
        creationTimestamp: meta.creationTimestamp,
      },
      spec: { replicas: spec.replicas },
      status: {
        replicas: typeof status.replicas === 'number' ? status.replicas : 0,
        selector: selectorString(isObject(spec.selector) ? (spec.selector as LabelSelector) : {}),
      },
    };
  }

  replaceScale(namespace: string | undefined, name: string, raw: string, opts: WriteOptions): JsonObject {
    const body = parseJson(raw);
    if (!isObject(body)) throw badRequest('the body of the request must be an object');
    return this.#writeScale(namespace, name, body, opts);
  }

  /**
   * Patches the Scale view. Apply patches to `scale` are merged like a merge patch and recorded
   * as an Apply entry for the subresource, without conflict detection.
   */
  patchScale(
    namespace: string | undefined,
    name: string,
    contentType: string,
    raw: string,
    opts: WriteOptions,
  ): JsonObject {
    const scale = this.scale(namespace, name);
    if (contentType === PATCH_TYPES.apply) {
      if (!opts.fieldManager) throw badRequest('fieldManager is required for apply patch');
      return this.#writeScale(
        namespace,
        name,
        mergePatch(scale, this.#parseApplyBody(raw)) as JsonObject,
        opts,
        'Apply',
      );
    }
    return this.#writeScale(namespace, name, this.#patchDocument(contentType, scale, raw), opts);
  }

  #writeScale(
    namespace: string | undefined,
    name: string,
    scale: JsonObject,
    opts: WriteOptions,
    operation: 'Apply' | 'Update' = 'Update',
  ): JsonObject {
    const meta = metaOf(scale);
    if (meta.name !== undefined && meta.name !== name) {
      throw badRequest(
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    const existing = this.#existing(DEPLOYMENT, namespace, name);
    const replicas = isObject(scale.spec) ? scale.spec.replicas : undefined;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid('Scale', 'autoscaling', name, [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`,
          field: 'spec.replicas',
        },
      ]);
    }
    const rv = meta.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== metaOf(existing).resourceVersion) {
      throw staleConflict('deployments', 'apps', name);
    }
    const candidate = clone(existing);
    candidate.spec = { ...(isObject(existing.spec) ? existing.spec : {}), replicas };
    const owners = ownersOf(metaOf(existing).managedFields);
    const writer = { ...this.#writer(opts, 'scale'), operation };
    const written = this.#write(
      DEPLOYMENT,
      namespace,
      existing,
      candidate,
      (after) => recordUpdate(owners, writer, existing, after),
      opts.dryRun,
    );
    return this.#scaleOf(written);
  }
}
