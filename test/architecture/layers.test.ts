/**
 * Layers point one way: runtime, then contracts and domain types (events, the plan, ports, the
 * policy), then pure builders and deciders, then the executor and the adapters (which never import
 * each other), then each function's package, the wiring and the CLI on top. The local cloud
 * imports nothing from the product. This test reads every import of every module and fails on
 * one that points the wrong way, naming it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

type Layer = 'runtime' | 'domain' | 'pure' | 'execute' | 'adapters' | 'package' | 'local';

/** Which layer a module is in, by path; first match wins. */
const LAYERS: ReadonlyArray<[RegExp, Layer]> = [
  [/^infra\/local\//, 'local'],
  [/^shared\/runtime\//, 'runtime'],
  [/^events\//, 'domain'],
  [/^shared\/(domain|ports|policy|gpu)\//, 'domain'],
  [/^shared\/triton\/model-config\.ts$/, 'domain'],
  // The functions' own areas: handler, deps and function definition are the package; the rest is
  // pure deciders and builders.
  [/^shared\/(alerts|schedules|security|scaling)\/(handler|deps|function|wiring)\.ts$/, 'package'],
  [/^shared\/(cluster|triton|onnx|alerts|schedules|security|scaling)\//, 'pure'],
  [/^shared\/deploy\/(decide|manifest|model-config|upload|limits|plan|publish|records)\.ts$/, 'pure'],
  [/^shared\/security\/(?!handler|deps|function)[^/]+\.ts$/, 'pure'],
  [/^shared\/execute\//, 'execute'],
  [/^shared\/adapters\//, 'adapters'],
  [/^(shared\/deploy|shared\/security|shared\/wiring|functions|cli)\//, 'package'],
];

/** What each layer may import (besides itself). */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  runtime: [],
  domain: ['runtime'],
  pure: ['runtime', 'domain'],
  execute: ['runtime', 'domain', 'pure'],
  adapters: ['runtime', 'domain'],
  package: ['runtime', 'domain', 'pure', 'execute', 'adapters'],
  local: [],
};

function layerOf(file: string): Layer | undefined {
  return LAYERS.find(([re]) => re.test(file))?.[1];
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = path.posix.join(dir, name);
    if (statSync(path.join(ROOT, rel)).isDirectory()) walk(rel, out);
    else if (rel.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Relative import specifiers of a module (static, dynamic and type-only), resolved to repo paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map(
    (m) => m[1] as string,
  );
  return specs.map((spec) => {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
    if (target.endsWith('.ts')) return target;
    return existsSync(path.join(ROOT, `${target}.ts`)) ? `${target}.ts` : `${target}/index.ts`;
  });
}

/** Why `file` may not import `target`, or undefined when it may. */
function violation(file: string, target: string): string | undefined {
  const from = layerOf(file);
  if (!from) return undefined;
  const to = layerOf(target) ?? (target.startsWith('infra/local/') ? 'local' : 'outside');
  if (to === from) return undefined;
  if (to === 'outside' && from === 'local') return undefined; // the local cloud's own helpers
  if ((MAY_IMPORT[from] as readonly string[]).includes(to)) return undefined;
  return `${file} (${from}) imports ${target} (${to})`;
}

const modules = ['shared', 'events', 'functions', 'cli', 'infra/local'].flatMap((d) => walk(d));

describe('import direction', () => {
  it('knows the layer of every module', () => {
    expect(modules.filter((m) => layerOf(m) === undefined)).toEqual([]);
    expect(modules.length).toBeGreaterThan(100);
  });

  it('no module imports a layer above its own', () => {
    const violations: string[] = [];
    for (const file of modules) {
      for (const target of importsOf(file)) {
        const why = violation(file, target);
        if (why) violations.push(why);
      }
    }
    expect(violations).toEqual([]);
  });

  it('nothing above the adapters sees a client object (only data types of the client packages)', () => {
    const clients =
      /from\s+['"](@google-cloud\/(?:storage|container|pubsub|monitoring)|@kubernetes\/client-node|google-auth-library)['"]/;
    const offenders: string[] = [];
    for (const file of modules) {
      const layer = layerOf(file);
      if (layer === 'adapters' || layer === 'local') continue;
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+['"][^'"]+['"]/g)) {
        if (!clients.test(m[0])) continue;
        const names = (m[2] ?? '')
          .split(',')
          .map((n) => n.trim().replace(/^type\s+/, ''))
          .filter(Boolean);
        const objects = names.filter((n) =>
          /Client$|Api$|^Storage$|^File$|^Bucket$|^KubeConfig$|^PubSub$|^Topic$/.test(n),
        );
        if (!m[1] || objects.length > 0) offenders.push(`${file}: ${m[0].replace(/\s+/g, ' ')}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it.each([
    ['shared/cluster/reconcile.ts', 'shared/adapters/kubernetes.ts'],
    ['shared/cluster/reconcile.ts', 'shared/deploy/handler.ts'],
    ['shared/adapters/gke.ts', 'shared/cluster/nodepool.ts'],
    ['shared/adapters/gke.ts', 'shared/execute/executor.ts'],
    ['shared/execute/executor.ts', 'shared/adapters/gke.ts'],
    ['shared/deploy/decide.ts', 'shared/ports/storage.ts'],
    ['shared/runtime/function.ts', 'shared/domain/plan.ts'],
    ['infra/local/triton/server.ts', 'shared/triton/pbtxt.ts'],
  ])('refuses %s importing %s when it should (the check can fail)', (from, to) => {
    const allowed = from === 'shared/deploy/decide.ts'; // a pure decider may use a port's types
    expect(violation(from, to) === undefined).toBe(allowed);
  });
});
