/**
 * Builds one bundle per deployed function: `dist/<functionName>/index.js` (with the chunks it
 * imports on demand under `chunks/`) plus a `package.json` that lists only the packages that
 * function imports.
 *
 * Our own code (shared/, events/) is bundled and tree-shaken, so a cold instance parses only what
 * its function reaches. The Google clients stay external: they load their proto descriptors from
 * files beside their own code, which bundling would break, and Cloud Build installs them from the
 * generated package.json at deploy time. Cloud Storage and google-auth-library have no such files
 * (Storage requires its own package.json by a literal path, which esbuild inlines): bundled. `@kubernetes/client-node`, zod and yaml are bundled:
 * client-node alone is a thousand small ESM files, and as one file it imports in about a quarter of
 * the time; the deployModel bundle's import went from ~1.35 s to ~0.85 s (see `npm run bench`).
 *
 * Code splitting keeps what an `import()` reaches (shared/wiring/lazy.ts: the cluster clients) out
 * of the entry chunk, so a cold instance evaluates it only when a plan first needs it. js-yaml,
 * which client-node imports, is aliased to a shim over `yaml` (scripts/bundle/js-yaml.ts); zod's
 * locales are cut to English (scripts/bundle/zod-locales.ts); `whatwg-url`, node-fetch 2's
 * fallback for a Node without `URL`, is aliased to Node's own classes (scripts/bundle/whatwg-url.ts).
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { COMPILE_CACHE_DIR } from '../shared/wiring/compile-cache';
import { coldPath } from './bundle/cold-path';
import { zodEnglishOnly } from './bundle/zod-locales';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface RootPackage {
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

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Packages the bundle imports at run time, split by who imports them: our code (each must be a
 * declared dependency) and bundled third-party code (whose optional imports, such as ws's
 * `bufferutil` or node-fetch's `encoding`, sit in try/catch and may be absent).
 */
function externalImports(meta: Metafile): { ours: Set<string>; bundled: Set<string> } {
  const ours = new Set<string>();
  const bundled = new Set<string>();
  for (const [file, input] of Object.entries(meta.inputs)) {
    for (const imp of input.imports) {
      if (!imp.external || imp.path.startsWith('node:') || imp.path.startsWith('.')) continue;
      (file.includes('node_modules/') ? bundled : ours).add(packageName(imp.path));
    }
  }
  return { ours, bundled };
}

/** Runtime dependencies bundled into the function instead of installed beside it. */
export const BUNDLED_DEPENDENCIES: ReadonlySet<string> = new Set([
  '@kubernetes/client-node',
  'zod',
  'yaml',
  // JSON-API clients with no descriptor files: bundled, @google-cloud/storage imports in ~90 ms
  // instead of ~240 ms, and every event imports it.
  '@google-cloud/storage',
  'google-auth-library',
]);

/**
 * Bundles functions/<name>/ into `<outRoot>/<name>/` (default `dist/`, which Terraform zips: one
 * folder per function, whatever functions/ holds).
 */
export async function buildFunction(
  name: string,
  pkg: RootPackage,
  /** `outdir`: the bundle's folder; `outRoot`: a folder for `<name>/` (default `dist/`). Inside the repository, so imports resolve. */
  options: { outRoot?: string; outdir?: string } = {},
): Promise<{ bytes: number; deps: string[]; metafile: Metafile; outdir: string }> {
  const outdir = options.outdir ?? path.join(options.outRoot ?? path.join(root, 'dist'), name);
  await rm(outdir, { recursive: true, force: true });
  const external = Object.keys(pkg.dependencies ?? {})
    .filter((d) => !BUNDLED_DEPENDENCIES.has(d))
    .flatMap((d) => [d, `${d}/*`]);
  const result = await build({
    entryPoints: { index: path.join(root, 'functions', name, 'index.ts') },
    outdir,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    alias: {
      'js-yaml': path.join(root, 'scripts/bundle/js-yaml.ts'),
      'whatwg-url': path.join(root, 'scripts/bundle/whatwg-url.ts'),
    },
    plugins: [zodEnglishOnly],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external,
    // Bundled CommonJS dependencies call require() for Node's built-ins; ESM output has none.
    banner: {
      js: "import { createRequire as __inferplaneCreateRequire } from 'node:module';\nconst require = __inferplaneCreateRequire(import.meta.url);",
    },
    treeShaking: true,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  const { ours, bundled } = externalImports(result.metafile);
  const builtins = new Set(builtinModules);
  const dependencies: Record<string, string> = {};
  for (const dep of [...ours, ...bundled].sort()) {
    if (builtins.has(dep)) continue;
    const version = pkg.dependencies?.[dep];
    if (version) {
      dependencies[dep] = version;
    } else if (ours.has(dep)) {
      throw new Error(`function ${name} imports ${dep}, which is not a runtime dependency`);
    }
  }
  const fnPackage = {
    name: `${pkg.name}-${name}`,
    version: pkg.version,
    private: true,
    type: 'module',
    main: 'index.js',
    engines: pkg.engines,
    // Cloud Build runs `gcp-build` after installing the dependencies, with the runtime's Node:
    // the compile cache it writes matches the instance (shared/wiring/compile-cache.ts).
    scripts: { 'gcp-build': `node ${COMPILE_CACHE_SCRIPT}` },
    dependencies,
  };
  await writeFile(path.join(outdir, 'package.json'), `${JSON.stringify(fnPackage, null, 2)}\n`);
  await writeFile(path.join(outdir, COMPILE_CACHE_SCRIPT), compileCacheScript());
  const bytes = (await stat(path.join(outdir, 'index.js'))).size;
  return { bytes, deps: Object.keys(dependencies), metafile: result.metafile, outdir };
}

/** The function's `gcp-build` step: fills `compile-cache/` (see shared/wiring/compile-cache.ts). */
export const COMPILE_CACHE_SCRIPT = 'compile-cache.mjs';

/**
 * Compiles every chunk of the function (and the packages they load) with Node's compile cache on,
 * and writes the cache beside the entry. A Node without a compile cache (20) writes nothing. A
 * chunk that fails to load is skipped: the cache is an optimisation, never a reason to fail a
 * deploy. Plain JavaScript: it runs where only the bundle and its dependencies are installed.
 */
function compileCacheScript(): string {
  return `// Generated by scripts/build.ts: the function's gcp-build step (shared/wiring/compile-cache.ts).
import { mkdirSync, readdirSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

if (typeof module.enableCompileCache === 'function' && typeof module.flushCompileCache === 'function') {
  const dir = fileURLToPath(new URL('./${COMPILE_CACHE_DIR}/', import.meta.url));
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    // Nowhere to write it: the function runs without a cache, and the build goes on.
    console.error(\`compile cache: \${dir} cannot be written: \${err instanceof Error ? err.message : err}\`);
    process.exit(0);
  }
  module.enableCompileCache(dir);
  const chunks = new URL('./chunks/', import.meta.url);
  for (const file of readdirSync(chunks).sort()) {
    if (!file.endsWith('.js')) continue;
    try {
      await import(new URL(file, chunks).href);
    } catch (err) {
      console.error(\`compile cache: \${file} not cached: \${err instanceof Error ? err.message : err}\`);
    }
  }
  module.flushCompileCache();
  console.log(\`compile cache written to \${dir}\`);
} else {
  console.log('this Node has no compile cache: none written');
}
process.exit(0);
`;
}

/**
 * Runs a built function's `gcp-build` step here, as Cloud Build would (with this process's Node,
 * or `nodePath`): for the benchmark and tests on Node 22.
 */
export async function generateCompileCache(outdir: string, nodePath = process.execPath): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(nodePath, [COMPILE_CACHE_SCRIPT], { cwd: outdir }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${COMPILE_CACHE_SCRIPT} failed in ${outdir}: ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

async function main(): Promise<void> {
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as RootPackage;
  const only = process.argv.slice(2);
  const names = only.length > 0 ? only : await listFunctions();
  for (const name of names) {
    const { deps, metafile } = await buildFunction(name, pkg);
    const cold = coldPath(metafile);
    console.log(
      `dist/${name}/index.js  ${(cold.bytes / 1024).toFixed(1)} KiB before the first event, ${(cold.totalBytes / 1024).toFixed(1)} KiB in all  deps: ${deps.join(', ') || '(none)'}`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
