import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildFunction, listFunctions } from '../../scripts/build';
import { coldPath } from '../../scripts/bundle/cold-path';
import { dump, load, loadAll } from '../../scripts/bundle/js-yaml';
import whatwgUrl, { URLSearchParams as ShimParams, URL as ShimURL } from '../../scripts/bundle/whatwg-url';
import { lazy, lazyPort, type PortMethods, startBuilding } from '../../shared/wiring/lazy';

interface Port {
  readonly name: string;
  add(a: number, b: number): Promise<number>;
  fail(): Promise<never>;
}

const METHODS: PortMethods<Port> = { add: true, fail: true };

function loader(): { loads: () => number; load: () => Promise<Port> } {
  let loads = 0;
  return {
    loads: () => loads,
    load: lazy(async () => {
      loads += 1;
      return {
        name: 'real',
        add: async (a, b) => a + b,
        fail: async () => {
          throw new RangeError('refused');
        },
      };
    }),
  };
}

describe('lazyPort', () => {
  it('loads nothing until a method is called, and reads known members without loading', () => {
    const l = loader();
    const port = lazyPort(l.load, METHODS, { name: 'from config' });
    expect(port.name).toBe('from config');
    expect(l.loads()).toBe(0);
  });

  it('loads once for concurrent first calls and forwards arguments and results', async () => {
    const l = loader();
    const port = lazyPort(l.load, METHODS, { name: 'x' });
    await expect(Promise.all([port.add(1, 2), port.add(3, 4)])).resolves.toEqual([3, 7]);
    expect(l.loads()).toBe(1);
  });

  it("passes the implementation's errors through unchanged", async () => {
    const port = lazyPort(loader().load, METHODS, { name: 'x' });
    await expect(port.fail()).rejects.toThrow(RangeError);
  });

  it('retries a failed load on the next call', async () => {
    let attempts = 0;
    const port = lazyPort<Port>(
      lazy(async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('cluster unreachable');
        return { name: 'x', add: async (a, b) => a * b, fail: async () => Promise.reject(new Error()) };
      }),
      METHODS,
      { name: 'x' },
    );
    await expect(port.add(2, 5)).rejects.toThrow('cluster unreachable');
    await expect(port.add(2, 5)).resolves.toBe(10);
    expect(attempts).toBe(2);
  });
});

describe('startBuilding', () => {
  it('starts the build at once and hands the same value to every caller', async () => {
    let builds = 0;
    const deps = startBuilding(async () => ++builds);
    expect(builds).toBe(1);
    await expect(deps()).resolves.toBe(1);
    await expect(deps()).resolves.toBe(1);
    expect(builds).toBe(1);
  });

  it('turns a synchronous throw into a rejection, forgotten so the first caller builds again', async () => {
    let builds = 0;
    const deps = startBuilding((): Promise<number> => {
      builds += 1;
      if (builds === 1) throw new Error('INFERPLANE_PROJECT is required');
      return Promise.resolve(builds);
    });
    // The failed first build has settled: no unhandled rejection, nothing cached.
    await new Promise((resolve) => setImmediate(resolve));
    await expect(deps()).resolves.toBe(2);
  });
});

describe('the js-yaml shim bundled in place of js-yaml', () => {
  it.each([
    { text: 'a: 1\nb: [x, y]\n', want: { a: 1, b: ['x', 'y'] } },
    { text: 'plain', want: 'plain' },
  ])('load($text)', ({ text, want }) => {
    expect(load(text)).toEqual(want);
  });

  it('loadAll reads every document and dump round-trips', () => {
    expect(loadAll('a: 1\n---\nb: 2\n')).toEqual([{ a: 1 }, { b: 2 }]);
    expect(load(dump({ kind: 'Config', users: [{ name: 'u' }] }))).toEqual({
      kind: 'Config',
      users: [{ name: 'u' }],
    });
  });

  it('loadAll throws on a malformed document', () => {
    expect(() => loadAll('a: [1\n')).toThrow();
  });
});

describe('the whatwg-url shim bundled in place of whatwg-url', () => {
  it("hands out Node's own URL classes, as node-fetch 2 would pick them", () => {
    expect(ShimURL).toBe(globalThis.URL);
    expect(ShimParams).toBe(globalThis.URLSearchParams);
    expect(whatwgUrl.URL).toBe(globalThis.URL);
    expect(new whatwgUrl.URL('http://127.0.0.1:8080/b/o?x=1').port).toBe('8080');
  });
});

/**
 * Packages that must never be evaluated before a function's first event. google-auth-library is
 * the top-level copy (Monitoring's and GKE's credentials); Cloud Storage's own copy is bundled
 * inside its chunk (node_modules/@google-cloud/storage/node_modules/...), which every event needs.
 */
const NOT_ON_THE_COLD_PATH = [
  '@google-cloud/container',
  '@google-cloud/monitoring',
  '@google-cloud/pubsub',
  '@kubernetes/client-node',
  'google-auth-library',
];

describe('function bundles', async () => {
  const pkg = JSON.parse(await readFile(path.join(import.meta.dirname, '../../package.json'), 'utf8'));
  const names = await listFunctions();

  it.each(names)(
    '%s: no cluster or Pub/Sub client before the first event, one YAML parser in the bundle',
    async (name) => {
      const { metafile } = await buildFunction(name, pkg, {
        outRoot: path.join(tmpdir(), `inferplane-lazy-test-${process.pid}`),
      });
      const cold = coldPath(metafile);
      const onColdPath = [...cold.bundledPackages, ...cold.externalPackages];
      expect(onColdPath.filter((p) => NOT_ON_THE_COLD_PATH.includes(p))).toEqual([]);
      const inputs = Object.values(metafile.outputs).flatMap((o) => Object.keys(o.inputs));
      expect(inputs.filter((f) => f.includes('node_modules/js-yaml/'))).toEqual([]);
      // The GKE and Monitoring clients are imported as their own modules: the packages' index
      // also evaluates v1beta1 and the generated static protos (megabytes the REST clients never use).
      const clientImports = Object.values(metafile.outputs)
        .flatMap((o) => o.imports)
        .filter((i) => i.external && /^@google-cloud\/(container|monitoring)(\/|$)/.test(i.path))
        .map((i) => i.path);
      for (const p of clientImports) {
        expect(p).toMatch(
          /^@google-cloud\/(container\/build\/src\/v1\/cluster_manager_client|monitoring\/build\/src\/v3\/metric_service_client)\.js$/,
        );
      }
      // node-fetch's whatwg-url fallback (and tr46's Unicode table) is Node's own URL instead.
      expect(inputs.filter((f) => /node_modules\/(whatwg-url|tr46)\//.test(f))).toEqual([]);
      // zod's locales are cut to English.
      expect(
        inputs.filter(
          (f) => !f.startsWith('zod-locales-en:') && /node_modules\/zod\/v4\/locales\/(?!en\.js)/.test(f),
        ),
      ).toEqual([]);
    },
    60_000,
  );

  it('the cold-path reader sees a client that is imported statically', async () => {
    // deployModel reaches client-node through import(): present in the bundle, off the cold path.
    const { metafile } = await buildFunction('deployModel', pkg, {
      outRoot: path.join(tmpdir(), `inferplane-lazy-test-${process.pid}`),
    });
    const all = new Set(
      Object.values(metafile.outputs).flatMap((o) =>
        Object.keys(o.inputs).filter((f) => f.includes('@kubernetes/client-node')),
      ),
    );
    expect(all.size).toBeGreaterThan(0);
    expect(coldPath(metafile).bundledPackages.has('@kubernetes/client-node')).toBe(false);
  }, 60_000);

  it("the cold path starts at the function's entry, not at a chunk only an import() reaches", async () => {
    // esbuild marks the chunk of each import() as an entry point too; listed first, one would
    // hide what the real entry imports.
    const { metafile } = await buildFunction('scaleOnAlert', pkg, {
      outRoot: path.join(tmpdir(), `inferplane-lazy-test-${process.pid}`),
    });
    const entries = Object.entries(metafile.outputs).filter(([, o]) => o.entryPoint !== undefined);
    expect(entries.length).toBeGreaterThan(1);
    const cold = coldPath(metafile);
    expect(cold.chunks[0]).toMatch(/scaleOnAlert\/index\.js$/);
    expect(cold.bundledPackages.has('zod')).toBe(true);
  }, 60_000);
});
