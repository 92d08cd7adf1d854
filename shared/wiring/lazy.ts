/**
 * The cold-start pattern every function follows (issue #16). A new instance pays for everything
 * its bundle imports and builds before it answers its first CloudEvent, and an alert that scales
 * capacity waits for that. So:
 *
 * 1. **The entry starts building its dependencies when it is imported** (`startBuilding`), not
 *    on the first event: the Functions Framework imports the module, then listens, and the build's
 *    I/O (reading the policy, the first token) overlaps that. A failed build is forgotten, so the
 *    first event builds again and reports the error through the normal retry path; an import
 *    never throws for a bad configuration.
 *
 *        functions.http(
 *          fn.name,
 *          cloudEventHttpEntry(fn, startBuilding(() => buildMyDeps(loadConfig())), withCurrentPolicy),
 *        );
 *
 * 2. **A client that not every event needs is loaded when a plan first calls it**: the adapter
 *    module is reached only through `import()` inside a `lazy` factory, and the deps hand the
 *    handler a `lazyPort` that implements the port by loading it on its first call. The port's
 *    contract (its errors, its types) is unchanged, so handlers and tests do not know. What every
 *    event needs (Cloud Storage: the policy, the idempotency records) is built by the entry's
 *    build; the cluster clients (GKE, Kubernetes), Pub/Sub and the like wait for a caller.
 *
 *        const cluster = lazy(async () => (await import('../adapters/cluster')).connectCluster(target));
 *        const nodePools = lazyPort(async () => (await cluster()).nodePools, NODE_POOLS_METHODS, {
 *          clusterName: target.name, // members that are not async methods are given up front
 *        });
 *
 *    A value the handler needs from the loaded client (deployModel's `zones`) becomes an async
 *    getter on the deps (`zones(): Promise<number>`), not a field filled at build time.
 *
 * 3. **Types only, statically**: a deps module imports adapters and client packages with
 *    `import type` (erased) or `import()`; a static value import of a client package puts it on
 *    the cold path of every event. `test/wiring/lazy.test.ts` builds each function and fails when
 *    the GKE or Pub/Sub client or client-node is evaluated before the first event (`npm run build`
 *    prints each function's cold path in KiB; scripts/bundle/cold-path.ts reads it).
 *
 * 4. **Measure it**: `npm run bench -- --only coldstart` runs every folder under functions/ from
 *    spawn to its first CloudEvent against a bare function; give a new function its events in
 *    bench/coldstart-cases.ts (a tick function: one it handles without the cluster, and a whole
 *    tick). `npx tsx bench/coldstart-profile.ts <function>` shows where the CPU goes.
 *
 * 5. **Import a Google client's own module**, not its package's index when the index evaluates
 *    more than the client (GKE and Monitoring: the generated static protos, megabytes), and load
 *    a client whose every use is a plan or a metric read through `lazy`/`lazyPort` too
 *    (shared/scaling/deps.ts: `lazyMetrics`).
 *
 * 6. **A tick function connects as its own tick arrives** (shared/wiring/warm.ts): every tick
 *    needs the cluster, so loading its clients overlaps the first Storage requests instead of
 *    following them.
 *
 * shared/deploy/deps.ts is the worked example.
 */

import { z } from 'zod';
import { once } from '../runtime/function';

/** A value built on first use, once; a failed build is forgotten so the next use tries again. */
export type Lazy<T> = () => Promise<T>;

export function lazy<T>(factory: () => Promise<T>): Lazy<T> {
  // A factory that throws before its first await (loadConfig() on a bad environment) rejects
  // like any other failure instead of throwing out of the caller (at import, for startBuilding).
  return once(async () => factory());
}

/**
 * A `lazy` that starts now: what a function's entry calls for its dependencies. The first build's
 * failure is not an unhandled rejection: it is forgotten, and the first caller builds again and
 * sees the error then.
 *
 * It also tells zod not to compile a parser per object schema on its first use (`jitless`): a
 * cold instance parses its configuration, its policy and its first event once each, and compiling
 * those parsers cost ~40 ms of importing deployModel (interleaved runs); the results are the same.
 */
export function startBuilding<T>(factory: () => Promise<T>): Lazy<T> {
  z.config({ jitless: true });
  const value = lazy(factory);
  value().catch(() => undefined);
  return value;
}

/** The names of a port's async methods: what a lazy stand-in can defer. */
export type AsyncMethodsOf<T> = {
  [K in keyof T]-?: T[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof T];

/** One `true` per async method of the port: the compiler fails when the port gains one. */
export type PortMethods<T> = { readonly [K in AsyncMethodsOf<T>]-?: true };

/**
 * A port whose implementation is loaded by its first call. Each async method awaits `load`
 * (shared, and retried after a failure, when `load` is a `lazy`) and forwards its arguments; what
 * the loaded implementation returns or throws is what the caller sees. The port's other members
 * (a name known from the configuration) are given as `known`, so reading them loads nothing.
 */
export function lazyPort<T extends object>(
  load: () => Promise<T>,
  methods: PortMethods<T>,
  known: Omit<T, AsyncMethodsOf<T>>,
): T {
  const port: Record<string | symbol, unknown> = { ...known };
  for (const name of Object.keys(methods) as AsyncMethodsOf<T>[]) {
    port[name as string] = async (...args: never[]) => {
      const target = await load();
      const method = target[name] as (...a: never[]) => Promise<unknown>;
      return method.apply(target, args);
    };
  }
  return port as T;
}
