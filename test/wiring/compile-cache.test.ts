import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import module from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildFunction,
  COMPILE_CACHE_SCRIPT,
  generateCompileCache,
  type RootPackage,
} from '../../scripts/build';
import { COMPILE_CACHE_DIR, useShippedCompileCache } from '../../shared/wiring/compile-cache';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Node 22 has a compile cache; Node 20 does not, and there nothing is ever enabled or written. */
const HAS_COMPILE_CACHE =
  typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';

describe('useShippedCompileCache', () => {
  const saved = process.env.NODE_COMPILE_CACHE;
  afterEach(() => {
    if (saved === undefined) delete process.env.NODE_COMPILE_CACHE;
    else process.env.NODE_COMPILE_CACHE = saved;
  });

  it.each([
    { name: 'no cache shipped beside the entry', shipped: false, operatorCache: false, enabled: false },
    { name: "the operator's NODE_COMPILE_CACHE wins", shipped: true, operatorCache: true, enabled: false },
    { name: 'a shipped cache', shipped: true, operatorCache: false, enabled: HAS_COMPILE_CACHE },
  ])('$name', async ({ shipped, operatorCache, enabled }) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'compile-cache-'));
    try {
      if (shipped) await mkdir(path.join(dir, COMPILE_CACHE_DIR));
      if (operatorCache) process.env.NODE_COMPILE_CACHE = path.join(dir, 'elsewhere');
      else delete process.env.NODE_COMPILE_CACHE;
      expect(useShippedCompileCache(pathToFileURL(path.join(dir, 'index.js')).href)).toBe(enabled);
      // Nothing is created where no cache was shipped.
      expect((await readdir(dir)).sort()).toEqual(shipped ? [COMPILE_CACHE_DIR] : []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a built function's gcp-build step", () => {
  it('writes a compile cache for the Node that runs it (none on a Node without one)', async () => {
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as RootPackage;
    // Inside the repository (ignored by git), so the bundle's imports resolve.
    await mkdir(path.join(ROOT, '.tmp'), { recursive: true });
    const outRoot = await mkdtemp(path.join(ROOT, '.tmp', 'compile-cache-'));
    try {
      const built = await buildFunction('deployModel', pkg, { outRoot });
      const fnPackage = JSON.parse(await readFile(path.join(built.outdir, 'package.json'), 'utf8')) as {
        scripts?: Record<string, string>;
      };
      expect(fnPackage.scripts?.['gcp-build']).toBe(`node ${COMPILE_CACHE_SCRIPT}`);
      // `npm run build` ships no cache: only the runtime's Node may write it.
      expect(await readdir(built.outdir)).not.toContain(COMPILE_CACHE_DIR);
      const said = await generateCompileCache(built.outdir);
      if (HAS_COMPILE_CACHE) {
        expect(said).toContain('compile cache written');
        const [versionDir, ...others] = await readdir(path.join(built.outdir, COMPILE_CACHE_DIR));
        expect(others).toEqual([]);
        expect(versionDir).toMatch(new RegExp(`^${process.version}-`));
        // One entry per module compiled: the chunks and the client packages they load.
        expect(
          (await readdir(path.join(built.outdir, COMPILE_CACHE_DIR, versionDir!))).length,
        ).toBeGreaterThan(10);
      } else {
        expect(said).toBe('this Node has no compile cache: none written');
        expect(await readdir(built.outdir)).not.toContain(COMPILE_CACHE_DIR);
      }
    } finally {
      await rm(outRoot, { recursive: true, force: true });
    }
  }, 60_000);
});
