/**
 * `npm run build` packages every functions/<name>/ folder the way Terraform deploys it: a bundle
 * whose import registers a CloudEvent function under the folder's name (Terraform's entry point),
 * and a package.json listing only runtime dependencies of the repository, at their pinned versions.
 */
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { getFunction } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunction, listFunctions, type RootPackage } from '../../scripts/build';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const names = await listFunctions();

describe('npm run build', () => {
  let outRoot: string;
  let pkg: RootPackage;

  beforeAll(async () => {
    // Inside the repository (.tmp/ is ignored), so the bundles resolve their external packages from node_modules.
    await mkdir(path.join(ROOT, '.tmp'), { recursive: true });
    outRoot = await mkdtemp(path.join(ROOT, '.tmp', 'build-'));
    pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as RootPackage;
  });
  afterAll(async () => {
    if (outRoot) await rm(outRoot, { recursive: true, force: true });
  });

  it('finds every function folder', () => {
    expect(names.length).toBeGreaterThan(0);
    expect(names).toContain('deployModel');
  });

  it.each(names)('packages %s under its own name, with only pinned runtime dependencies', async (name) => {
    // Act
    const built = await buildFunction(name, pkg, { outRoot });
    const fnPackage = JSON.parse(await readFile(path.join(built.outdir, 'package.json'), 'utf8')) as {
      main: string;
      type: string;
      dependencies: Record<string, string>;
    };
    await import(pathToFileURL(path.join(built.outdir, fnPackage.main)).href);

    // Assess
    expect(built.outdir).toBe(path.join(outRoot, name));
    expect((await stat(path.join(built.outdir, 'index.js'))).size).toBe(built.bytes);
    expect(fnPackage.type).toBe('module');
    for (const [dep, version] of Object.entries(fnPackage.dependencies))
      expect(pkg.dependencies?.[dep]).toBe(version);
    expect(getFunction(name)).toBeTypeOf('function');
  });
});
