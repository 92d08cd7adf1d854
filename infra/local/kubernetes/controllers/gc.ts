/**
 * Garbage collection of dependents: an object whose ownerReferences all point at owners that no
 * longer exist (by uid) is deleted, as the real garbage collector does with background
 * propagation. Pods go through graceful deletion. Only ReplicaSets and Pods are collected here (the
 * kinds these controllers own).
 */
import { findKind } from '../resources';
import { arr, type Ctx, isTerminating, meta, POD, REPLICA_SET, str } from './context';

export function collectGarbage(ctx: Ctx): void {
  for (const o of [...ctx.list(REPLICA_SET), ...ctx.list(POD)]) {
    const refs = arr(meta(o).ownerReferences);
    if (refs.length === 0 || isTerminating(o)) continue;
    const resource = findKind(String(o.kind));
    if (!resource) continue;
    const ns = str(meta(o).namespace);
    const gone = refs.every((ref) => {
      const owner = findKind(String(ref.kind));
      if (!owner) return false;
      const found = ctx.get(owner, owner.namespaced ? ns : undefined, String(ref.name));
      return !found || meta(found).uid !== ref.uid;
    });
    if (gone) ctx.remove(resource, o);
  }
}
