/**
 * The Triton processes of the cluster's pods: one fresh local Triton per pod *instance* (uid),
 * started from the container's own args, as the kubelet starts `tritonserver` in a new container.
 * A pod controller (cloud.ts) calls `sync(pods)` with every pod that should run Triton now: a
 * new uid starts a new server (empty state, its repository loaded as its flags say, metrics at
 * zero), a uid that is gone stops its server. Nothing is started by a request.
 *
 * The fleet listens on one port and routes `/pools/<pool>/pods/<pod>/...` to that pod's server
 * (its HTTP endpoint, and `/metrics` as the metrics port serves it). A request for a pod that
 * has no running Triton (unknown, removed, replaced by another pool's pod, still loading its
 * repository at start, or exited) gets no answer: the connection is reset, as connecting to an
 * unreachable pod IP fails. `/pools/<pool>/...` (no pod) stands for the pool's Service: it
 * forwards to the first ready pod by name, or answers 503 while none is ready.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type LocalServer, startLocalServer } from '../common/server';
import { parseTritonArgs, type TritonArgs } from './args';
import type { Clock } from './engine';
import { startTritonServer, type TritonServer } from './server';

/** One pod's Triton container, as the pod controller sees it. */
export interface TritonPodProcess {
  uid: string;
  name: string;
  namespace: string;
  pool: string;
  /** The container's args exactly as it gets them (`$(VAR)` already expanded). */
  args: string[];
}

export interface TritonFleetOptions {
  port?: number;
  host?: string;
  storageUrl: string;
  loadDelayMs?: number;
  /** Simulated compute time per execution (ms); per model when a function. Default 5. */
  computeMs?: number | ((model: string) => number);
  clock?: Clock;
}

export type TritonProcessState = 'starting' | 'running' | 'exited';

export interface TritonFleet extends LocalServer {
  /** The per-pod URL template the control plane takes (INFERPLANE_TRITON_URL): `{pool}`, `{pod}`. */
  readonly urlTemplate: string;
  /** Each pod's metrics port `/metrics`: `{pool}`, `{pod}`. */
  readonly metricsUrlTemplate: string;
  /** The pool-level URL template (`{pool}`): the pool's Service. */
  readonly poolUrlTemplate: string;
  /**
   * Makes the running Tritons exactly these pods: starts one for each new uid (resolves once each
   * has started or exited) and stops those whose uid is absent. Calls are serialized.
   */
  sync(pods: readonly TritonPodProcess[]): Promise<void>;
  /** Resolves once every sync called so far has finished (new pods started or exited). */
  idle(): Promise<void>;
  /** What the pod's `/v2/health/ready` answers; false for an unknown uid. */
  isReady(uid: string): boolean;
  /** What the pod's `/v2/health/live` answers; false for an unknown or exited uid. */
  isLive(uid: string): boolean;
  /** The process state of a uid, undefined when the fleet has none. */
  state(uid: string): TritonProcessState | undefined;
  /** Why a pod's Triton exited (bad flags, `--exit-on-error` with a failed model). */
  exitReason(uid: string): string | undefined;
  /** The running server of a pod, by pool and pod name. */
  pod(pool: string, pod: string): TritonServer | undefined;
  /** Names of a pool's pods with a running Triton, sorted. */
  pods(pool: string): string[];
}

interface Running {
  proc: TritonPodProcess;
  state: TritonProcessState;
  server?: TritonServer;
  args?: TritonArgs;
  reason?: string;
  started: Promise<void>;
}

const POOL = '([a-z](?:[-a-z0-9]{0,38}[a-z0-9])?)';
const POD = '([a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?)';
const POD_ROUTE = new RegExp(`^/pools/${POOL}/pods/${POD}(/.*)$`);
const POOL_ROUTE = new RegExp(`^/pools/${POOL}(/.*)$`);

export async function startTritonFleet(options: TritonFleetOptions): Promise<TritonFleet> {
  const byUid = new Map<string, Running>();
  let queue: Promise<void> = Promise.resolve();
  let closing = false;

  const running = (pool: string, pod: string): Running | undefined =>
    [...byUid.values()].find(
      (r) => r.state === 'running' && r.proc.pool === pool && r.proc.name === pod && r.server !== undefined,
    );

  function start(proc: TritonPodProcess): Running {
    const entry: Running = { proc, state: 'starting', started: Promise.resolve() };
    entry.started = (async () => {
      try {
        const args = parseTritonArgs(proc.args);
        entry.args = args;
        const server = await startTritonServer({
          storageUrl: options.storageUrl,
          repository: args.repository!,
          modelControl: args.modelControl,
          loadAllAtStart: args.loadModels.includes('*'),
          loadModels: args.loadModels.filter((m) => m !== '*'),
          strictReadiness: args.strictReadiness,
          restrictedApis: args.httpRestricted,
          allowMetrics: args.allowMetrics,
          gpu: { uuid: gpuUuidOf(proc.uid) },
          ...(options.loadDelayMs === undefined ? {} : { loadDelayMs: options.loadDelayMs }),
          ...(options.computeMs === undefined ? {} : { computeMs: options.computeMs }),
          ...(options.clock === undefined ? {} : { clock: options.clock }),
        });
        if (byUid.get(proc.uid) !== entry || closing) {
          await server.close();
          return;
        }
        if (args.exitOnError && server.startupFailures.length > 0) {
          // Triton with --exit-on-error=true (its default) exits when a model fails to load at start.
          entry.state = 'exited';
          entry.reason = `failed to load all models: ${server.startupFailures.join(', ')}`;
          await server.close();
          return;
        }
        entry.server = server;
        entry.state = 'running';
      } catch (err) {
        entry.state = 'exited';
        entry.reason = err instanceof Error ? err.message : String(err);
      }
    })();
    return entry;
  }

  async function stop(entry: Running): Promise<void> {
    await entry.started;
    entry.state = 'exited';
    entry.reason = 'pod deleted';
    const server = entry.server;
    entry.server = undefined;
    await server?.close();
  }

  const sync = (pods: readonly TritonPodProcess[]): Promise<void> => {
    const run = queue.then(async () => {
      const wanted = new Map(pods.map((p) => [p.uid, p]));
      const gone = [...byUid.entries()].filter(([uid]) => !wanted.has(uid));
      for (const [uid] of gone) byUid.delete(uid);
      const fresh: Running[] = [];
      for (const proc of wanted.values()) {
        // A pod's args are fixed for its life: a running uid keeps its Triton whatever changes.
        if (!byUid.has(proc.uid)) {
          const entry = start(proc);
          byUid.set(proc.uid, entry);
          fresh.push(entry);
        }
      }
      await Promise.all([...gone.map(([, e]) => stop(e)), ...fresh.map((e) => e.started)]);
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const noAnswer = (req: IncomingMessage) => {
    req.socket.destroy();
  };

  const base = await startLocalServer(
    async (req, res) => {
      const url = req.url ?? '';
      const podMatch = POD_ROUTE.exec(url);
      const poolMatch = podMatch ? undefined : POOL_ROUTE.exec(url);
      const rest = podMatch?.[3] ?? poolMatch?.[2];
      if (rest === undefined) {
        req.resume();
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: 'expected /pools/<pool>/pods/<pod>/v2/... or /pools/<pool>/v2/...' }),
        );
        return;
      }
      let target: Running | undefined;
      if (podMatch) {
        target = running(podMatch[1]!, podMatch[2]!);
        if (!target) return noAnswer(req);
      } else {
        const pool = poolMatch![1]!;
        target = [...byUid.values()]
          .filter((r) => r.state === 'running' && r.proc.pool === pool && r.server?.isReady())
          .sort((a, b) => (a.proc.name < b.proc.name ? -1 : a.proc.name > b.proc.name ? 1 : 0))[0];
        if (!target) {
          req.resume();
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `no ready Triton pod behind the Service of pool ${pool}` }));
          return;
        }
      }
      await forward(req, res, target.server!, rest);
    },
    { port: options.port, host: options.host },
  );

  return {
    url: base.url,
    port: base.port,
    faults: base.faults,
    requestLog: base.requestLog,
    urlTemplate: `${base.url}/pools/{pool}/pods/{pod}`,
    metricsUrlTemplate: `${base.url}/pools/{pool}/pods/{pod}/metrics`,
    poolUrlTemplate: `${base.url}/pools/{pool}`,
    sync,
    idle: () => queue,
    isReady: (uid) => {
      const r = byUid.get(uid);
      return r?.state === 'running' && r.server?.isReady() === true;
    },
    isLive: (uid) => {
      const r = byUid.get(uid);
      return r?.state === 'running' && r.server?.isLive() === true;
    },
    state: (uid) => byUid.get(uid)?.state,
    exitReason: (uid) => byUid.get(uid)?.reason,
    pod: (pool, pod) => running(pool, pod)?.server,
    pods: (pool) =>
      [...byUid.values()]
        .filter((r) => r.state === 'running' && r.proc.pool === pool)
        .map((r) => r.proc.name)
        .sort(),
    close: async () => {
      closing = true;
      await queue;
      const all = [...byUid.values()];
      byUid.clear();
      await Promise.all([...all.map((e) => stop(e)), base.close()]);
    },
  };
}

/** Forwards one request to a pod's server, with its headers (the admin key among them). */
async function forward(req: IncomingMessage, res: ServerResponse, server: TritonServer, rest: string) {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (
      v === undefined ||
      ['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(k)
    ) {
      continue;
    }
    headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  let upstream: Response;
  try {
    upstream = await fetch(`${server.url}${rest}`, {
      method: req.method ?? 'GET',
      headers,
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
    });
  } catch {
    // The pod's Triton went away mid-request.
    req.socket.destroy();
    return;
  }
  const body = Buffer.from(await upstream.arrayBuffer());
  const out: Record<string, string> = {};
  const type = upstream.headers.get('content-type');
  if (type) out['content-type'] = type;
  res.writeHead(upstream.status, out);
  res.end(body);
}

/** A stable GPU UUID per pod instance, shaped like nvidia-smi's. */
function gpuUuidOf(uid: string): string {
  let h = 2166136261;
  for (const c of uid) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  const hex = `${h.toString(16).padStart(8, '0')}${uid.replace(/[^0-9a-f]/gi, '').padEnd(24, '0')}`.slice(
    0,
    32,
  );
  return `GPU-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
