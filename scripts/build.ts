/**
 * Builds one bundle per deployed function: `dist/<functionName>/index.js` plus a `package.json`
 * that lists only the packages that function imports.
 *
 * Our own code (shared/, events/) is bundled and tree-shaken, so a cold instance parses only what
 * its function reaches. Third-party packages stay external: the Google clients load their proto
 * descriptors from files beside their own code, which bundling would break, and Cloud Build
 * installs them from the generated package.json at deploy time.
 */
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface RootPackage {
  name: string;
  version: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
}

export async function listFunctions(): Promise<string[]> {
  const dir = path.join(root, 'functions');
  const names: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const index = path.join(dir, entry.name, 'index.ts');
    if (
      await stat(index).then(
        () => true,
        () => false,
      )
    ) {
      names.push(entry.name);
    }
  }
  return names.sort();
}

/** Bare package names a bundle imports (`@scope/name/sub` -> `@scope/name`). */
function importedPackages(meta: Metafile): string[] {
  const out = new Set<string>();
  for (const output of Object.values(meta.outputs)) {
    for (const imp of output.imports) {
      if (!imp.external || imp.path.startsWith('node:') || imp.path.startsWith('.')) continue;
      const parts = imp.path.split('/');
      const name = imp.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
      out.add(name);
    }
  }
  return [...out].sort();
}

export async function buildFunction(
  name: string,
  pkg: RootPackage,
): Promise<{ bytes: number; deps: string[] }> {
  const outdir = path.join(root, 'dist', name);
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: [path.join(root, 'functions', name, 'index.ts')],
    outfile: path.join(outdir, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    treeShaking: true,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  const deps = importedPackages(result.metafile);
  const builtins = new Set(['node', 'fs', 'path', 'crypto', 'http', 'https', 'stream', 'url', 'os', 'zlib']);
  const dependencies: Record<string, string> = {};
  for (const dep of deps) {
    if (builtins.has(dep)) continue;
    const version = pkg.dependencies?.[dep];
    if (!version) throw new Error(`function ${name} imports ${dep}, which is not a runtime dependency`);
    dependencies[dep] = version;
  }
  const fnPackage = {
    name: `${pkg.name}-${name}`,
    version: pkg.version,
    private: true,
    type: 'module',
    main: 'index.js',
    engines: pkg.engines,
    dependencies,
  };
  await writeFile(path.join(outdir, 'package.json'), `${JSON.stringify(fnPackage, null, 2)}\n`);
  const bytes = (await stat(path.join(outdir, 'index.js'))).size;
  return { bytes, deps: Object.keys(dependencies) };
}

async function main(): Promise<void> {
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as RootPackage;
  const only = process.argv.slice(2);
  const names = only.length > 0 ? only : await listFunctions();
  for (const name of names) {
    const { bytes, deps } = await buildFunction(name, pkg);
    console.log(
      `dist/${name}/index.js  ${(bytes / 1024).toFixed(1)} KiB  deps: ${deps.join(', ') || '(none)'}`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
