/**
 * Field ownership for server-side apply, a deliberately small model of structured-merge-diff:
 *
 * - An object is a set of LEAF paths. Maps are walked into; an empty map is a leaf.
 * - Lists are ATOMIC leaves (owned and replaced whole), except the list-maps keyed by `name`
 *   listed in LIST_MAP_FIELDS (containers, initContainers, volumes, env) when every element has a
 *   string `name`: their elements are addressed as `k:{"name":"x"}`, so two managers can own
 *   different containers or different fields of one container.
 * - Paths are stored in `metadata.managedFields[].fieldsV1` in the real FieldsV1 shape
 *   (`{"f:spec":{"f:replicas":{}}}`), so clients read what they would read from a cluster.
 * - apiVersion, kind, status and the server-set metadata are never owned.
 */
import { clone, deepEqual, isObject, type JsonObject } from './json';

export const LIST_MAP_FIELDS: ReadonlySet<string> = new Set([
  'containers',
  'initContainers',
  'volumes',
  'env',
]);

const SERVER_METADATA = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
  'deletionTimestamp',
  'selfLink',
]);

/** A path is a list of FieldsV1 segments: `f:<field>` or `k:{"name":"<key>"}`. */
export type FieldPath = readonly string[];

export function pathKey(path: FieldPath): string {
  return path.join('\u0000');
}

export function keyPath(key: string): FieldPath {
  return key.split('\u0000');
}

/** `.spec.template.spec.containers[name="triton"].image`, as apiserver conflict messages print paths. */
export function formatPath(path: FieldPath): string {
  return path
    .map((seg) => {
      if (seg.startsWith('f:')) return `.${seg.slice(2)}`;
      const key = JSON.parse(seg.slice(2)) as Record<string, string>;
      return `[${Object.entries(key)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}]`;
    })
    .join('');
}

function isListMap(field: string, value: unknown): value is JsonObject[] {
  return (
    LIST_MAP_FIELDS.has(field) &&
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((e) => isObject(e) && typeof e.name === 'string')
  );
}

function elementSegment(name: string): string {
  return `k:${JSON.stringify({ name })}`;
}

/** Leaf paths of an object with their values, skipping fields nobody owns. */
export function leafValues(obj: JsonObject): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (value: unknown, path: string[], field: string): void => {
    if (isObject(value)) {
      const keys = Object.keys(value);
      if (keys.length === 0 && path.length > 0) out.set(pathKey(path), value);
      for (const k of keys) walk(value[k], [...path, `f:${k}`], k);
      return;
    }
    if (isListMap(field, value)) {
      for (const el of value) walk(el, [...path, elementSegment(el.name as string)], '');
      return;
    }
    out.set(pathKey(path), value);
  };
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'status') continue;
    if (k === 'metadata' && isObject(v)) {
      for (const [mk, mv] of Object.entries(v)) {
        if (!SERVER_METADATA.has(mk)) walk(mv, ['f:metadata', `f:${mk}`], mk);
      }
      continue;
    }
    walk(v, [`f:${k}`], k);
  }
  return out;
}

export function toFieldsV1(keys: Iterable<string>): JsonObject {
  const root: JsonObject = {};
  for (const key of keys) {
    let node = root;
    for (const seg of keyPath(key)) {
      const next = node[seg];
      if (isObject(next)) {
        node = next;
      } else {
        const created: JsonObject = {};
        node[seg] = created;
        node = created;
      }
    }
  }
  return root;
}

export function fromFieldsV1(fields: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (node: JsonObject, path: string[]): void => {
    const keys = Object.keys(node).filter((k) => k !== '.');
    if (keys.length === 0 && path.length > 0) out.add(pathKey(path));
    for (const k of keys) {
      const child = node[k];
      walk(isObject(child) ? child : {}, [...path, k]);
    }
  };
  if (isObject(fields)) walk(fields, []);
  return out;
}

/** The value at a path, or `undefined` when the path does not exist. */
export function getAt(obj: JsonObject, path: FieldPath): unknown {
  let node: unknown = obj;
  for (const seg of path) {
    if (seg.startsWith('f:')) {
      if (!isObject(node)) return undefined;
      node = node[seg.slice(2)];
    } else {
      if (!Array.isArray(node)) return undefined;
      const { name } = JSON.parse(seg.slice(2)) as { name: string };
      node = node.find((e) => isObject(e) && e.name === name);
    }
    if (node === undefined) return undefined;
  }
  return node;
}

function elementIndex(list: unknown[], seg: string): number {
  const { name } = JSON.parse(seg.slice(2)) as { name: string };
  return list.findIndex((e) => isObject(e) && e.name === name);
}

/** Maps and lists left empty, and list-map elements left with only their key, are pruned. */
function isPrunable(v: unknown): boolean {
  if (Array.isArray(v)) return v.length === 0;
  return isObject(v) && Object.keys(v).every((k) => k === 'name');
}

/**
 * Removes the value at a path, then the maps, list-map elements and lists that the removal left
 * empty, so a manager that stops applying a container or a label leaves nothing behind.
 */
export function deleteAt(node: unknown, path: FieldPath, i = 0): void {
  const seg = path[i];
  if (seg === undefined) return;
  const last = i === path.length - 1;
  if (seg.startsWith('f:')) {
    if (!isObject(node)) return;
    const key = seg.slice(2);
    if (!last) {
      const child = node[key];
      deleteAt(child, path, i + 1);
      const empty = Array.isArray(child)
        ? child.length === 0
        : isObject(child) && Object.keys(child).length === 0;
      if (!empty) return;
    }
    delete node[key];
    return;
  }
  if (!Array.isArray(node)) return;
  const idx = elementIndex(node, seg);
  if (idx < 0) return;
  if (!last) {
    const el = node[idx];
    deleteAt(el, path, i + 1);
    if (!isPrunable(el)) return;
  }
  node.splice(idx, 1);
}

/** The key field of a list-map element goes with its element, never on its own. */
export function isElementKey(path: FieldPath): boolean {
  return path.length >= 2 && path[path.length - 1] === 'f:name' && path[path.length - 2]!.startsWith('k:');
}

/** Merges an applied configuration into a live object: maps and list-maps merge, the rest replaces. */
export function mergeApplied(live: unknown, applied: unknown, field = ''): unknown {
  if (isObject(applied)) {
    const out: JsonObject = isObject(live) ? clone(live) : {};
    for (const [k, v] of Object.entries(applied)) out[k] = mergeApplied(out[k], v, k);
    return out;
  }
  if (isListMap(field, applied) && (isListMap(field, live) || live === undefined)) {
    const out = (live === undefined ? [] : clone(live)) as JsonObject[];
    for (const el of applied) {
      const idx = out.findIndex((e) => e.name === el.name);
      if (idx >= 0) out[idx] = mergeApplied(out[idx], el) as JsonObject;
      else out.push(clone(el));
    }
    return out;
  }
  return clone(applied);
}

export type Operation = 'Apply' | 'Update';

export interface ManagedFieldsEntry {
  manager: string;
  operation: Operation;
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

export interface Owner {
  manager: string;
  operation: Operation;
  subresource?: string;
  fields: Set<string>;
}

export function ownersOf(entries: unknown): Owner[] {
  if (!Array.isArray(entries)) return [];
  return entries.filter(isObject).map((e) => ({
    manager: String(e.manager ?? ''),
    operation: e.operation === 'Apply' ? 'Apply' : 'Update',
    ...(typeof e.subresource === 'string' ? { subresource: e.subresource } : {}),
    fields: fromFieldsV1(e.fieldsV1),
  }));
}

export function sameOwner(a: Omit<Owner, 'fields'>, b: Omit<Owner, 'fields'>): boolean {
  return a.manager === b.manager && a.operation === b.operation && a.subresource === b.subresource;
}

export function toManagedFields(
  owners: readonly Owner[],
  apiVersion: string,
  time: string,
): ManagedFieldsEntry[] {
  return owners
    .filter((o) => o.fields.size > 0)
    .map((o) => ({
      manager: o.manager,
      operation: o.operation,
      apiVersion,
      time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(o.fields),
      ...(o.subresource ? { subresource: o.subresource } : {}),
    }));
}

/**
 * Ownership after a non-apply write (create, PUT, merge/JSON patch, scale): the writer takes
 * every leaf it changed or added, without conflicts; leaves that disappeared lose all owners.
 */
export function recordUpdate(
  owners: readonly Owner[],
  writer: Omit<Owner, 'fields'>,
  before: JsonObject | undefined,
  after: JsonObject,
): Owner[] {
  const old = before ? leafValues(before) : new Map<string, unknown>();
  const now = leafValues(after);
  const changed = new Set<string>();
  for (const [k, v] of now) if (!old.has(k) || !deepEqual(old.get(k), v)) changed.add(k);
  const result = owners.map((o) => ({
    ...o,
    fields: new Set([...o.fields].filter((k) => now.has(k) && !changed.has(k))),
  }));
  let mine = result.find((o) => sameOwner(o, writer));
  if (!mine) {
    mine = { ...writer, fields: new Set() };
    result.push(mine);
  }
  for (const k of changed) mine.fields.add(k);
  return result.filter((o) => o.fields.size > 0);
}

export interface ApplyConflict {
  manager: string;
  operation: Operation;
  path: string;
}

export interface ApplyResult {
  object: JsonObject;
  owners: Owner[];
  conflicts: ApplyConflict[];
}

/**
 * Server-side apply of `applied` by `manager` onto `live` (or onto nothing, for a create).
 * Conflicts are leaves the applied config sets to a value different from the live one while
 * another manager owns them; with `force` they change hands instead.
 */
export function applyConfig(
  live: JsonObject | undefined,
  owners: readonly Owner[],
  applied: JsonObject,
  manager: string,
  force: boolean,
  normalize: (merged: JsonObject) => JsonObject = (merged) => merged,
): ApplyResult {
  const me = { manager, operation: 'Apply' as const };
  const appliedLeaves = leafValues(applied);
  const conflicts: ApplyConflict[] = [];
  const conflicting = new Set<string>();
  // Values are compared after defaulting, so an applied config that leaves out a defaulted
  // field (a port's protocol) does not differ from the live object.
  const projected = live ? normalize(mergeApplied(live, applied) as JsonObject) : undefined;
  for (const key of appliedLeaves.keys()) {
    if (!live || !projected) break;
    const current = getAt(live, keyPath(key));
    if (current === undefined || deepEqual(current, getAt(projected, keyPath(key)))) continue;
    for (const o of owners) {
      if (!sameOwner(o, me) && o.fields.has(key)) {
        conflicts.push({
          manager: o.manager,
          operation: o.operation,
          path: formatPath(keyPath(key)),
        });
        conflicting.add(key);
      }
    }
  }
  if (conflicts.length > 0 && !force) return { object: live ?? {}, owners: [...owners], conflicts };

  const next = owners.map((o) => ({
    ...o,
    fields: sameOwner(o, me) ? o.fields : new Set([...o.fields].filter((k) => !conflicting.has(k))),
  }));
  const previous = next.find((o) => sameOwner(o, me))?.fields ?? new Set<string>();
  const base: JsonObject = live ? clone(live) : {};
  for (const key of previous) {
    if (appliedLeaves.has(key) || isElementKey(keyPath(key))) continue;
    const ownedElsewhere = next.some((o) => !sameOwner(o, me) && o.fields.has(key));
    if (!ownedElsewhere) deleteAt(base, keyPath(key));
  }
  const object = mergeApplied(base, applied) as JsonObject;
  const mine = { ...me, fields: new Set(appliedLeaves.keys()) };
  const result = next.filter((o) => !sameOwner(o, me) && o.fields.size > 0);
  result.push(mine);
  return { object, owners: result, conflicts: force ? [] : conflicts };
}
