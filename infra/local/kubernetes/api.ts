/**
 * The apiserver's behaviour for the served resources, independent of HTTP: create, get, list,
 * replace, patch (JSON, merge, strategic-as-merge), server-side apply, delete and the Deployment
 * scale subresource. Every write goes through `#write`, which keeps the invariants callers rely
 * on: one global resourceVersion counter, generation bumped only by spec changes, ownership in
 * managedFields, and no new resourceVersion for a write that changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { Clock } from '../../../shared/runtime/clock';
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
import { clone, deepEqual, isObject, type JsonObject } from './json';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch';
import { findKind, groupVersion, type ResourceType } from './resources';
import {
  type LabelSelector,
  matchesFields,
  matchesRequirements,
  parseFieldSelector,
  parseLabelSelector,
  selectorString,
} from './selectors';
import { type KubeStore, metaOf } from './store';
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

  constructor(store: KubeStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
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
    ordered.resourceVersion = this.#store.nextResourceVersion();
    this.#store.put(resource, obj);
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

  list(resource: ResourceType, namespace: string | undefined, query: URLSearchParams): JsonObject {
    if (query.get('watch') === 'true' || query.get('watch') === '1') {
      throw badRequest('watch is not supported by the local apiserver');
    }
    const labels = parseLabelSelector(query.get('labelSelector') ?? '');
    const fields = parseFieldSelector(query.get('fieldSelector') ?? '');
    const items = this.#store
      .list(resource, resource.namespaced ? namespace : undefined)
      .filter((o) => {
        const meta = metaOf(o);
        const objLabels = isObject(meta.labels) ? (meta.labels as Record<string, string>) : {};
        return (
          matchesRequirements(labels, objLabels) &&
          matchesFields(fields, { name: String(meta.name), namespace: strOf(meta.namespace) })
        );
      })
      // List items carry no apiVersion/kind on the wire; the list does.
      .map(({ apiVersion: _v, kind: _k, ...rest }) => rest);
    return {
      apiVersion: groupVersion(resource),
      kind: `${resource.kind}List`,
      metadata: { resourceVersion: this.#store.resourceVersion },
      items,
    };
  }

  get(resource: ResourceType, namespace: string | undefined, name: string): JsonObject {
    return this.#existing(resource, namespace, name);
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

  delete(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    raw: string,
    opts: WriteOptions,
  ): KubeStatus | JsonObject {
    const existing = this.#existing(resource, namespace, name);
    const meta = metaOf(existing);
    const options = raw.trim() ? parseJson(raw) : {};
    const pre = isObject(options) && isObject(options.preconditions) ? options.preconditions : {};
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
    const marked = this.hooks.onDelete?.(resource, existing, isObject(options) ? options : {});
    if (marked) {
      if (opts.dryRun) return marked;
      const owners = ownersOf(meta.managedFields);
      return this.#write(resource, namespace, existing, marked, () => owners, false);
    }
    if (!opts.dryRun) {
      if (resource.kind === 'Namespace') this.#store.deleteNamespaceContents(name);
      this.#store.nextResourceVersion();
      this.#store.delete(resource, resource.namespaced ? namespace : undefined, name);
    }
    return {
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
