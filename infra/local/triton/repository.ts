/**
 * How the local Triton reads its model repository. Real Triton reads `gs://` itself; the fake
 * reads through the official Storage client pointed at the local storage server, so uploads made
 * by the control plane (or tests) are what it sees.
 */
import type { Storage } from '@google-cloud/storage';

export interface RepositoryReader {
  /** Object paths under `prefix`, relative to the repository root, sorted. */
  list(prefix: string): Promise<string[]>;
  /** The bytes of one object, by path relative to the repository root; rejects if absent. */
  read(path: string): Promise<Buffer>;
}

export interface RepositoryLocation {
  bucket: string;
  /** Without leading or trailing slash; '' for the bucket root. */
  prefix: string;
}

export function parseRepositoryUrl(url: string): RepositoryLocation {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`repository must look like gs://bucket[/prefix], got ${JSON.stringify(url)}`);
  return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

export function gcsRepositoryReader(storage: Storage, location: RepositoryLocation): RepositoryReader {
  const bucket = storage.bucket(location.bucket);
  const root = location.prefix === '' ? '' : `${location.prefix}/`;
  return {
    async list(prefix) {
      const [files] = await bucket.getFiles({ prefix: `${root}${prefix}`, autoPaginate: true });
      return files.map((f) => f.name.slice(root.length)).sort();
    },
    async read(path) {
      const [bytes] = await bucket.file(`${root}${path}`).download();
      return bytes;
    },
  };
}

/** For unit tests of the server logic without a storage server. */
export function memoryRepositoryReader(files: Map<string, Buffer | string>): RepositoryReader {
  return {
    async list(prefix) {
      return [...files.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
    async read(path) {
      const v = files.get(path);
      if (v === undefined) throw new Error(`No such object: ${path}`);
      return typeof v === 'string' ? Buffer.from(v) : v;
    },
  };
}
