/**
 * The field selectors each kind supports, and the values an object has for them, as the
 * apiserver's per-resource `GetAttrs`/field-label conversion functions define them
 * (pkg/registry/core/pod/strategy.go `PodToSelectableFields`, node, secret, namespace...).
 * Kinds are matched by name so that kinds added to resources.ts later get theirs for free.
 */
import { isObject, type JsonObject } from './json';
import { METADATA_FIELDS } from './selectors';

type Getter = (obj: JsonObject) => string;

function at(obj: JsonObject, path: string): unknown {
  let v: unknown = obj;
  for (const p of path.split('.')) v = isObject(v) ? v[p] : undefined;
  return v;
}

function str(path: string): Getter {
  return (obj) => {
    const v = at(obj, path);
    return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
  };
}

function bool(path: string): Getter {
  return (obj) => (at(obj, path) === true ? 'true' : 'false');
}

const BY_KIND: Record<string, Record<string, Getter>> = {
  Pod: {
    'spec.nodeName': str('spec.nodeName'),
    'spec.restartPolicy': str('spec.restartPolicy'),
    'spec.schedulerName': str('spec.schedulerName'),
    'spec.serviceAccountName': str('spec.serviceAccountName'),
    'spec.hostNetwork': bool('spec.hostNetwork'),
    'status.phase': str('status.phase'),
    'status.podIP': str('status.podIP'),
    'status.nominatedNodeName': str('status.nominatedNodeName'),
  },
  Node: { 'spec.unschedulable': bool('spec.unschedulable') },
  Secret: { type: str('type') },
  Namespace: { 'status.phase': str('status.phase') },
  ReplicaSet: { 'status.replicas': str('status.replicas') },
  ReplicationController: { 'status.replicas': str('status.replicas') },
  Event: {
    'involvedObject.kind': str('involvedObject.kind'),
    'involvedObject.name': str('involvedObject.name'),
    'involvedObject.namespace': str('involvedObject.namespace'),
    'involvedObject.uid': str('involvedObject.uid'),
    reason: str('reason'),
    type: str('type'),
  },
};

/** Field labels a kind can be selected by. */
export function supportedFields(kind: string): string[] {
  return [...METADATA_FIELDS, ...Object.keys(BY_KIND[kind] ?? {})];
}

/** The selectable field values of one object. */
export function fieldValues(kind: string, obj: JsonObject): Record<string, string> {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const values: Record<string, string> = {
    'metadata.name': typeof meta.name === 'string' ? meta.name : '',
    'metadata.namespace': typeof meta.namespace === 'string' ? meta.namespace : '',
  };
  for (const [field, get] of Object.entries(BY_KIND[kind] ?? {})) values[field] = get(obj);
  return values;
}
