/**
 * Node 22's compile cache, shipped with the function (issue #16). A new Cloud Run instance starts
 * with an empty /tmp, so a cache written at run time never helps a cold start; one generated at
 * build time by the runtime's own Node does. The function's package.json runs
 * `node compile-cache.mjs` as its `gcp-build` step (scripts/build.ts): Cloud Build runs it after
 * installing the dependencies, with the runtime's Node, in the folder the instance runs from, so
 * the cache's paths and V8 version match the instance's.
 *
 * The entry's own chunks are compiled before any of its code runs (ES modules are linked first),
 * so what the cache saves is the compilation of what loads after: the Storage chunk every first
 * event imports, the cluster chunk and the client packages (google-gax, gRPC, protobufjs) a tick
 * loads. Node 20 has no compile cache: there this does nothing. A cache of another Node (its V8
 * differs) is ignored by Node itself. A folder that was not shipped is not created: an entry run
 * from the source tree (tests, tsx) writes nothing.
 */
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

/** The cache's folder, beside the function's entry (`dist/<function>/compile-cache`). */
export const COMPILE_CACHE_DIR = 'compile-cache';

type EnableCompileCache = (directory: string) => unknown;

/**
 * Uses the cache shipped beside `entryUrl` (the entry's `import.meta.url`) when this Node has a
 * compile cache, the folder exists and the operator set no `NODE_COMPILE_CACHE` of their own.
 * Returns whether it was enabled.
 */
export function useShippedCompileCache(entryUrl: string): boolean {
  const enable = (module as { enableCompileCache?: EnableCompileCache }).enableCompileCache;
  if (typeof enable !== 'function' || process.env.NODE_COMPILE_CACHE !== undefined) return false;
  const dir = fileURLToPath(new URL(`./${COMPILE_CACHE_DIR}/`, entryUrl));
  if (!existsSync(dir)) return false;
  try {
    enable(dir);
    return true;
  } catch {
    // A cache that cannot be used costs compilation, nothing else.
    return false;
  }
}
