/**
 * Object storage for the local apiserver: one map keyed by resource/namespace/name and one
 * global resourceVersion counter, optionally persisted as a JSON file so a sandbox restart keeps
 * the cluster's state.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clone, isObject, type JsonObject } from './json';
import type { ResourceType } from './resources';

const FILE = 'kubernetes.json';

function key(plural: string, namespace: string | undefined, name: string): string {
  return `${plural}/${namespace ?? ''}/${name}`;
}

export function metaOf(obj: JsonObject): JsonObject {
  return isObject(obj.metadata) ? obj.metadata : {};
}

export class KubeStore {
  readonly #objects = new Map<string, { plural: string; object: JsonObject }>();
  readonly #dir: string | undefined;
  readonly #listeners = new Set<(plural?: string) => void>();
  #resourceVersion = 0;

  constructor(dir?: string) {
    this.#dir = dir;
    if (dir) this.#load(dir);
  }

  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  nextResourceVersion(): string {
    this.#resourceVersion += 1;
    return String(this.#resourceVersion);
  }

  get(resource: ResourceType, namespace: string | undefined, name: string): JsonObject | undefined {
    const found = this.#objects.get(key(resource.plural, namespace, name));
    return found ? clone(found.object) : undefined;
  }

  /** Objects of a resource in namespace/name order (etcd key order), all namespaces when none given. */
  list(resource: ResourceType, namespace?: string): JsonObject[] {
    const prefix = namespace === undefined ? `${resource.plural}/` : `${resource.plural}/${namespace}/`;
    return [...this.#objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => clone(v.object));
  }

  /** A resource's objects in key order, not copied: for in-process readers that never mutate them. */
  peek(resource: ResourceType): readonly JsonObject[] {
    const prefix = `${resource.plural}/`;
    return [...this.#objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => v.object);
  }

  all(): JsonObject[] {
    return [...this.#objects.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => clone(v.object));
  }

  put(resource: ResourceType, object: JsonObject): void {
    const meta = metaOf(object);
    const ns = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    this.#objects.set(key(resource.plural, ns, String(meta.name)), {
      plural: resource.plural,
      object: clone(object),
    });
    this.#save(resource.plural);
  }

  delete(resource: ResourceType, namespace: string | undefined, name: string): void {
    this.#objects.delete(key(resource.plural, namespace, name));
    this.#save(resource.plural);
  }

  /** Drops every namespaced object in a namespace (namespace deletion, done at once here). */
  deleteNamespaceContents(namespace: string): void {
    for (const [k, v] of this.#objects) {
      if (metaOf(v.object).namespace === namespace) this.#objects.delete(k);
    }
    this.#save();
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
      this.#objects.set(key(entry.plural, ns, String(meta.name)), {
        plural: entry.plural,
        object: entry.object,
      });
    }
  }

  /** Calls `listener` after every stored change (with the resource's plural, none for bulk changes); returns the unsubscribe function. */
  subscribe(listener: (plural?: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #save(plural?: string): void {
    for (const listener of this.#listeners) listener(plural);
    if (!this.#dir) return;
    mkdirSync(this.#dir, { recursive: true });
    const path = join(this.#dir, FILE);
    const text = JSON.stringify(
      { resourceVersion: this.#resourceVersion, objects: [...this.#objects.values()] },
      null,
      1,
    );
    // Write-then-rename, so a crash mid-write never leaves a truncated state file.
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  }
}
