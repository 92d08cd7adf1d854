/**
 * The non-apply patch types. Strategic merge patch is a JSON merge patch that also merges the
 * name-keyed list-maps (containers, initContainers, volumes, env) element by element; its
 * `$patch`/`$retainKeys` directives are not supported.
 */
import { badRequest, KubeApiError } from './errors';
import { LIST_MAP_FIELDS } from './fields';
import { clone, deepEqual, isObject, type JsonObject } from './json';

/** RFC 7386. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function strategicMergePatch(target: unknown, patch: unknown, field = ''): unknown {
  if (
    LIST_MAP_FIELDS.has(field) &&
    Array.isArray(patch) &&
    Array.isArray(target) &&
    patch.every((e) => isObject(e) && typeof e.name === 'string')
  ) {
    const out = clone(target);
    for (const el of patch as JsonObject[]) {
      const idx = out.findIndex((e) => isObject(e) && e.name === el.name);
      if (idx >= 0) out[idx] = strategicMergePatch(out[idx], el);
      else out.push(clone(el));
    }
    return out;
  }
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = strategicMergePatch(out[k], v, k);
  }
  return out;
}

function pointer(path: unknown): string[] {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) {
    throw badRequest(`json patch: invalid path ${JSON.stringify(path)}`);
  }
  if (path === '') return [];
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function unprocessable(message: string): KubeApiError {
  return new KubeApiError(422, 'Invalid', message);
}

function parentOf(doc: unknown, tokens: string[]): { parent: unknown; last: string } {
  let node = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(t)];
    else if (isObject(node)) node = node[t];
    else node = undefined;
    if (node === undefined) throw unprocessable(`json patch: path /${tokens.join('/')} does not exist`);
  }
  return { parent: node, last: tokens[tokens.length - 1]! };
}

function read(doc: unknown, tokens: string[]): unknown {
  let node = doc;
  for (const t of tokens) {
    if (Array.isArray(node)) node = node[Number(t)];
    else if (isObject(node)) node = Object.hasOwn(node, t) ? node[t] : undefined;
    else node = undefined;
    if (node === undefined) throw unprocessable(`json patch: path /${tokens.join('/')} does not exist`);
  }
  return node;
}

function add(doc: unknown, tokens: string[], value: unknown): unknown {
  if (tokens.length === 0) return clone(value);
  const { parent, last } = parentOf(doc, tokens);
  if (Array.isArray(parent)) {
    const idx = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(idx) || idx < 0 || idx > parent.length) {
      throw unprocessable(`json patch: index ${last} out of range`);
    }
    parent.splice(idx, 0, clone(value));
  } else if (isObject(parent)) {
    parent[last] = clone(value);
  } else {
    throw unprocessable(`json patch: cannot add at /${tokens.join('/')}`);
  }
  return doc;
}

function remove(doc: unknown, tokens: string[]): unknown {
  read(doc, tokens);
  const { parent, last } = parentOf(doc, tokens);
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (isObject(parent)) delete parent[last];
  return doc;
}

/** RFC 6902 (the default patch type of the generated client-node APIs). */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch: body must be an array of operations');
  let doc = clone(target);
  for (const op of ops) {
    if (!isObject(op)) throw badRequest('json patch: each operation must be an object');
    const tokens = pointer(op.path);
    switch (op.op) {
      case 'add':
        doc = add(doc, tokens, op.value);
        break;
      case 'remove':
        doc = remove(doc, tokens);
        break;
      case 'replace':
        read(doc, tokens);
        doc = add(remove(doc, tokens), tokens, op.value);
        break;
      case 'move': {
        const from = pointer(op.from);
        const value = read(doc, from);
        doc = add(remove(doc, from), tokens, value);
        break;
      }
      case 'copy':
        doc = add(doc, tokens, read(doc, pointer(op.from)));
        break;
      case 'test':
        if (!deepEqual(read(doc, tokens), op.value)) {
          throw unprocessable(`json patch: test operation failed at ${String(op.path)}`);
        }
        break;
      default:
        throw badRequest(`json patch: unknown operation ${JSON.stringify(op.op)}`);
    }
  }
  return doc;
}
