/**
 * Desired vs live Kubernetes objects, pure: which fields differ, which of ours were dropped, the
 * applyObject actions that would make desired so, and Secret redaction for plans. The applier
 * (shared/execute/kube-applier.ts) runs those actions.
 */
import { createHash } from 'node:crypto';
import { type ApplyObjectAction, type KubernetesObject, objectTarget } from '../domain/plan';
import type { ObjectRef } from '../ports/kubernetes';

export const FIELD_MANAGER = 'inferplane';

/** Apply order: what others reference first (namespace, identity, secrets, config), then workloads. */
export const APPLY_ORDER: readonly string[] = [
  'Namespace',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'Service',
  'Deployment',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'NetworkPolicy',
];

/** Stable sort by APPLY_ORDER; kinds not listed (e.g. CRDs) go last, in their given order. */
export function sortForApply<T extends Pick<KubernetesObject, 'kind'>>(objects: readonly T[]): T[] {
  const rank = (kind: string) => {
    const i = APPLY_ORDER.indexOf(kind);
    return i === -1 ? APPLY_ORDER.length : i;
  };
  return objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || a.i - b.i)
    .map(({ o }) => o);
}

/** `apps/v1 Deployment triton/triton-l4`: how errors and logs name an object. */
export function describeObject(obj: Pick<KubernetesObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const ns = obj.metadata.namespace;
  return `${obj.apiVersion} ${obj.kind} ${ns ? `${ns}/` : ''}${obj.metadata.name}`;
}

export function refOf(obj: KubernetesObject): ObjectRef {
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    name: obj.metadata.name,
    ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Pure comparison

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Lists whose elements all carry a string `name` are merged by name (containers, env, volumes, ports). */
function isNamedList(list: readonly unknown[]): list is Record<string, unknown>[] {
  return list.length > 0 && list.every((e) => isRecord(e) && typeof e.name === 'string');
}

/** Identity and server-owned metadata are not "our fields" for comparison. */
const SERVER_METADATA = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
  'selfLink',
]);

/**
 * Paths (dotted, `containers[name=x]`) where `desired` has a value that `live` lacks or differs
 * from. Maps are compared key by key (live may hold more); named lists element by name; other
 * lists element by element with the same length (they are atomic: applying replaces them whole);
 * scalars by value. `apiVersion`/`kind`/`status` and server metadata are ignored.
 */
export function differingFields(desired: unknown, live: unknown, path = ''): string[] {
  if (isRecord(desired)) {
    if (!isRecord(live)) return [path || '(root)'];
    const out: string[] = [];
    for (const [key, value] of Object.entries(desired)) {
      if (value === undefined) continue;
      if (path === '' && (key === 'apiVersion' || key === 'kind' || key === 'status')) continue;
      if (path === 'metadata' && SERVER_METADATA.has(key)) continue;
      out.push(...differingFields(value, live[key], path ? `${path}.${key}` : key));
    }
    return out;
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return [path];
    if (isNamedList(desired) && isNamedList(live)) {
      const out: string[] = [];
      for (const element of desired) {
        const match = live.find((l) => l.name === element.name);
        const at = `${path}[name=${String(element.name)}]`;
        if (!match) out.push(at);
        else out.push(...differingFields(element, match, at));
      }
      return out;
    }
    if (desired.length !== live.length) return [path];
    return desired.some((d, i) => differingFields(d, live[i], `${path}[${i}]`).length > 0) ? [path] : [];
  }
  return desired === live ? [] : [path];
}

/**
 * Map paths that `manager` owns through apply (its `Apply` entry in `metadata.managedFields`,
 * FieldsV1 format) but `desired` no longer sets. Walks `f:` map keys only: what lies under list
 * keys (`k:`/`v:`/`i:`) is covered by comparing the list itself.
 */
export function droppedFields(desired: unknown, live: unknown, manager = FIELD_MANAGER): string[] {
  if (!isRecord(live) || !isRecord(live.metadata) || !Array.isArray(live.metadata.managedFields)) return [];
  const entry = live.metadata.managedFields.find(
    (m) => isRecord(m) && m.manager === manager && m.operation === 'Apply' && m.subresource === undefined,
  );
  if (!isRecord(entry) || !isRecord(entry.fieldsV1)) return [];
  const owned: string[][] = [];
  const walk = (node: Record<string, unknown>, path: string[]) => {
    for (const [key, child] of Object.entries(node)) {
      if (!key.startsWith('f:')) continue;
      const next = [...path, key.slice(2)];
      const hasFields = isRecord(child) && Object.keys(child).some((k) => k.startsWith('f:'));
      if (hasFields) walk(child, next);
      else owned.push(next);
    }
  };
  walk(entry.fieldsV1, []);
  const out: string[] = [];
  for (const path of owned) {
    if (path[0] === 'metadata' && path.length === 2 && SERVER_METADATA.has(path[1] ?? '')) continue;
    let node: unknown = desired;
    for (const segment of path) {
      if (!isRecord(node)) break; // a list or scalar: compared as a whole by differingFields
      if (!(segment in node) || node[segment] === undefined) {
        out.push(`${path.join('.')} (no longer set)`);
        break;
      }
      node = node[segment];
    }
  }
  return out;
}

/** Everything that makes an apply of `desired` needed: differing fields, then fields to release. */
export function objectChanges(desired: KubernetesObject, live: unknown, manager = FIELD_MANAGER): string[] {
  return [...differingFields(desired, live), ...droppedFields(desired, live, manager)];
}

/** Whether applying `desired` would change nothing. */
export function isSatisfiedBy(desired: KubernetesObject, live: unknown): boolean {
  return objectChanges(desired, live).length === 0;
}

/** `live` cut down to the fields `desired` sets: the "before" of a plan action. */
export function projectOnto(desired: unknown, live: unknown): unknown {
  if (isRecord(desired)) {
    if (!isRecord(live)) return undefined;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(desired)) {
      if (!(key in live)) continue;
      const projected = projectOnto(value, live[key]);
      if (projected !== undefined) out[key] = projected;
    }
    return out;
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return live === undefined ? undefined : live;
    if (isNamedList(desired) && isNamedList(live)) {
      return desired
        .map((d) => {
          const match = live.find((l) => l.name === d.name);
          return match === undefined ? undefined : projectOnto(d, match);
        })
        .filter((x) => x !== undefined);
    }
    return live.map((l, i) => (i < desired.length ? projectOnto(desired[i], l) : l));
  }
  return live;
}

function sameIdentity(a: KubernetesObject, b: KubernetesObject): boolean {
  const group = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');
  return (
    a.kind === b.kind &&
    group(a.apiVersion) === group(b.apiVersion) &&
    a.metadata.name === b.metadata.name &&
    (a.metadata.namespace ?? '') === (b.metadata.namespace ?? '')
  );
}

export function beforeOf(desired: KubernetesObject, live: KubernetesObject): KubernetesObject {
  const projected = projectOnto(desired, live);
  const body = isRecord(projected) ? projected : {};
  const meta = isRecord(body.metadata) ? body.metadata : {};
  return {
    ...body,
    apiVersion: live.apiVersion,
    kind: live.kind,
    metadata: {
      ...meta,
      name: live.metadata.name,
      ...(live.metadata.namespace ? { namespace: live.metadata.namespace } : {}),
    },
  } as KubernetesObject;
}

/**
 * Plans are logged, published and stored as they are, so Secret values never go into them: each
 * value of `data`/`stringData` becomes `sha256:<12 hex>` of itself, which still shows whether a
 * key changed. The values travel beside the plan, never in it (`secretValuesOf`), and the applier
 * puts them back just before the write (`resolveSecretValues`).
 */
export function redactSecretValues(obj: KubernetesObject): KubernetesObject {
  if (obj.kind !== 'Secret') return obj;
  const out: Record<string, unknown> = { ...obj };
  for (const field of ['data', 'stringData']) {
    const values = out[field];
    if (!isRecord(values)) continue;
    out[field] = Object.fromEntries(
      Object.entries(values).map(([k, v]) => [k, secretPlaceholder(String(v))]),
    );
  }
  return out as unknown as KubernetesObject;
}

/** Secret material by placeholder, for the applier: never logged, never part of a plan. */
export type SecretValues = ReadonlyMap<string, string>;

function secretPlaceholder(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 12)}`;
}

/** The values `redactSecretValues` replaces in these objects, by placeholder. */
export function secretValuesOf(objects: readonly KubernetesObject[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const obj of objects) {
    if (obj.kind !== 'Secret') continue;
    const body = obj as unknown as Record<string, unknown>;
    for (const field of ['data', 'stringData']) {
      const values = body[field];
      if (!isRecord(values)) continue;
      for (const v of Object.values(values)) out.set(secretPlaceholder(String(v)), String(v));
    }
  }
  return out;
}

/**
 * A redacted Secret with its values put back. A placeholder without a value means the plan was
 * made elsewhere (a dry run, another instance): it cannot be applied from here.
 */
export function resolveSecretValues(obj: KubernetesObject, secrets: SecretValues): KubernetesObject {
  if (obj.kind !== 'Secret') return obj;
  const out: Record<string, unknown> = { ...obj };
  for (const field of ['data', 'stringData']) {
    const values = out[field];
    if (!isRecord(values)) continue;
    out[field] = Object.fromEntries(
      Object.entries(values).map(([k, v]) => {
        const text = String(v);
        if (!text.startsWith('sha256:')) return [k, text];
        const value = secrets.get(text);
        if (value === undefined) throw new MissingSecretValue(`${objectTarget(obj)} ${field}.${k}`);
        return [k, value];
      }),
    );
  }
  return out as unknown as KubernetesObject;
}

/** Thrown by `resolveSecretValues`; names the field, never a value. */
export class MissingSecretValue extends Error {
  override name = 'MissingSecretValue';
  constructor(readonly field: string) {
    super(`no value for redacted Secret field ${field}`);
  }
}

export function applyAction(
  desired: KubernetesObject,
  live: KubernetesObject | undefined,
  fields: readonly string[],
): ApplyObjectAction {
  return {
    kind: 'applyObject',
    target: objectTarget(desired),
    costDeltaPerHour: 0,
    reason: live ? `fields differ: ${summarizeFields(fields)}` : `${desired.kind} does not exist`,
    before: live ? redactSecretValues(beforeOf(desired, live)) : null,
    after: redactSecretValues(desired),
  };
}

/**
 * The applyObject actions that would make `desired` so, in apply order: `before` is the live object
 * cut down to our fields (null when absent), `after` the desired object. [] when all match.
 * Kubernetes objects change no node capacity, so their cost delta is 0 (node pools carry it).
 */
export function planObjectChanges(
  desired: readonly KubernetesObject[],
  live: readonly KubernetesObject[],
): ApplyObjectAction[] {
  const actions: ApplyObjectAction[] = [];
  for (const obj of sortForApply(desired)) {
    const current = live.find((l) => sameIdentity(obj, l));
    const fields = current ? objectChanges(obj, current) : [];
    if (current && fields.length === 0) continue;
    actions.push(applyAction(obj, current, fields));
  }
  return actions;
}

function summarizeFields(fields: readonly string[]): string {
  const shown = fields.slice(0, 5).join(', ');
  return fields.length > 5 ? `${shown} and ${fields.length - 5} more` : shown;
}

/** JSON with object keys sorted, so two equal values give the same text. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    isRecord(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

export type ObjectPrecondition = { state: 'ready' } | { state: 'done' | 'stale'; reason: string };

/**
 * Where live state stands against an applyObject action: already `after` (done), still `before`
 * (ready), or changed by someone else since the plan (stale). `desired` is the action's `after`
 * with its Secret values put back.
 */
export function applyObjectPrecondition(
  action: ApplyObjectAction,
  desired: KubernetesObject,
  live: KubernetesObject | undefined,
): ObjectPrecondition {
  if (live && objectChanges(desired, live, action.fieldManager ?? FIELD_MANAGER).length === 0) {
    return { state: 'done', reason: 'every field inferplane sets already has the desired value' };
  }
  if (!live) {
    return action.before === null ? { state: 'ready' } : { state: 'stale', reason: 'the object was deleted' };
  }
  if (action.before === null) return { state: 'stale', reason: 'the object was created meanwhile' };
  const now = redactSecretValues(beforeOf(desired, live));
  return stableJson(now) === stableJson(action.before)
    ? { state: 'ready' }
    : { state: 'stale', reason: 'fields inferplane sets changed since the plan' };
}
