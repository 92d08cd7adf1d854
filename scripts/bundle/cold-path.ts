/**
 * What a function's bundle evaluates before its first event: the entry chunk and every chunk it
 * imports statically, with the packages in them (bundled or external). What only an `import()`
 * reaches (shared/wiring/lazy.ts) is left out. Read from esbuild's metafile.
 */
import { builtinModules } from 'node:module';
import type { Metafile } from 'esbuild';

const BUILTINS: ReadonlySet<string> = new Set(builtinModules);

export interface ColdPath {
  /** Output files (as the metafile names them) loaded at import. */
  chunks: string[];
  /** Bytes of those files. */
  bytes: number;
  /** Bytes of every JavaScript output, lazy chunks included. */
  totalBytes: number;
  /** Packages bundled into those chunks (from node_modules paths). */
  bundledPackages: Set<string>;
  /** Packages those chunks import at run time (not bundled). */
  externalPackages: Set<string>;
  /** Bytes per bundled package (and per top-level source folder for our own code). */
  bytesByOrigin: Map<string, number>;
}

function packageOf(file: string): string | undefined {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  return m?.[1];
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

export function coldPath(meta: Metafile): ColdPath {
  const outputs = meta.outputs;
  // A chunk that only an import() reaches is an entry point too: the function's own entry is the
  // one built from functions/<name>/index.ts.
  const entry = Object.keys(outputs).find((k) =>
    /(^|\/)functions\/[^/]+\/index\.ts$/.test(outputs[k]?.entryPoint ?? ''),
  );
  if (entry === undefined) throw new Error('the metafile has no entry point');
  const seen = new Set<string>();
  const queue = [entry];
  const externalPackages = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const imp of outputs[file]?.imports ?? []) {
      if (imp.kind !== 'import-statement' && imp.kind !== 'require-call') continue;
      if (imp.external) {
        const name = packageName(imp.path);
        if (!imp.path.startsWith('.') && !BUILTINS.has(name.replace(/^node:/, '')))
          externalPackages.add(name);
      } else if (outputs[imp.path] !== undefined) {
        queue.push(imp.path);
      }
    }
  }
  const bundledPackages = new Set<string>();
  const bytesByOrigin = new Map<string, number>();
  let bytes = 0;
  for (const file of seen) {
    const out = outputs[file];
    if (out === undefined) continue;
    bytes += out.bytes;
    for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
      const pkg = packageOf(input);
      if (pkg !== undefined) bundledPackages.add(pkg);
      const origin = pkg ?? input.split('/').slice(0, 2).join('/');
      bytesByOrigin.set(origin, (bytesByOrigin.get(origin) ?? 0) + bytesInOutput);
    }
  }
  const totalBytes = Object.entries(outputs)
    .filter(([name]) => name.endsWith('.js'))
    .reduce((sum, [, o]) => sum + o.bytes, 0);
  return { chunks: [...seen], bytes, totalBytes, bundledPackages, externalPackages, bytesByOrigin };
}
