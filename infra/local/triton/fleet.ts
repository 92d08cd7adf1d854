/**
 * The Triton pods of every GPU pool, as in the cluster: each pool's Triton serves its own
 * repository folder (`gs://<bucket>/<root>/<pool>`), and each pod of the pool's Deployment is a
 * Triton server of its own. The fleet listens on one port and routes
 * `/pools/<pool>/pods/<pod>/...` to that pod's server, started on first use; a new pod loads every
 * model of the repository at start, as `--model-control-mode=explicit --load-model=*` does. So the
 * control plane's Triton URL template `http://127.0.0.1:PORT/pools/{pool}/pods/{pod}` reaches
 * the right pod (pod names come from the local apiserver's Pods).
 *
 * `/pools/<pool>/...` (no pod) stands for the pool's Service, for humans poking at a pool: it
 * forwards to the pool's first started pod (by name), or answers 503 while none has started. The
 * control plane never calls it.
 */
import { type LocalServer, startLocalServer } from '../common/server';
import { startTritonServer, type TritonServer } from './server';

export interface TritonFleetOptions {
  port?: number;
  host?: string;
  storageUrl: string;
  repositoryBucket: string;
  /** Folder holding one repository per pool. */
  root?: string;
  loadDelayMs?: number;
  /**
   * Like `--http-restricted-api=model-repository:<header>=<key>` on each pool's Triton: repository
   * calls without this header are refused with 403. The fleet cannot know the key (the control
   * plane generates it into a Secret), so it checks that one is sent.
   */
  restrictedApiHeader?: string;
}

export interface TritonFleet extends LocalServer {
  /** The per-pod URL template the control plane takes (INFERPLANE_TRITON_URL): `{pool}`, `{pod}`. */
  readonly urlTemplate: string;
  /** The pool-level URL template (`{pool}`): the pool's Service, for humans. */
  readonly poolUrlTemplate: string;
  /** One pod's server, if a request has reached it. */
  pod(pool: string, pod: string): TritonServer | undefined;
  /** Starts (or returns) one pod's server; a new one loads the whole repository first. */
  ensurePod(pool: string, pod: string): Promise<TritonServer>;
  /** Names of the pods of a pool that requests have reached, sorted. */
  pods(pool: string): string[];
  /**
   * Stops the servers of pods not named in `live` (the pod is gone: scaled down, deleted); a pod
   * of that name started later is a new server that loads the repository again.
   */
  retainPods(live: Iterable<string>): Promise<void>;
}

const POOL = '([a-z](?:[-a-z0-9]{0,38}[a-z0-9])?)';
const POD = '([a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?)';
const POD_ROUTE = new RegExp(`^/pools/${POOL}/pods/${POD}(/.*)$`);
const POOL_ROUTE = new RegExp(`^/pools/${POOL}(/.*)$`);

export async function startTritonFleet(options: TritonFleetOptions): Promise<TritonFleet> {
  const root = options.root ?? 'models';
  const servers = new Map<string, Promise<TritonServer>>();
  const started = new Map<string, TritonServer>();
  const podKey = (pool: string, pod: string) => `${pool}/pods/${pod}`;
  const ensurePod = (pool: string, pod: string): Promise<TritonServer> => {
    const key = podKey(pool, pod);
    let server = servers.get(key);
    if (!server) {
      server = startTritonServer({
        storageUrl: options.storageUrl,
        repository: `gs://${options.repositoryBucket}/${root}/${pool}`,
        modelControl: 'explicit',
        loadAllAtStart: true,
        ...(options.loadDelayMs === undefined ? {} : { loadDelayMs: options.loadDelayMs }),
      });
      servers.set(key, server);
      // A pod that failed to start is started again by the next request.
      server.catch(() => servers.delete(key));
    }
    return server.then((s) => {
      started.set(key, s);
      return s;
    });
  };
  const podsOf = (pool: string) =>
    [...started.keys()]
      .filter((k) => k.startsWith(`${pool}/pods/`))
      .map((k) => k.slice(`${pool}/pods/`.length))
      .sort();

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
      const header = options.restrictedApiHeader;
      if (header && rest.startsWith('/v2/repository/') && !req.headers[header.toLowerCase()]) {
        req.resume();
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `This API is restricted, expecting header '${header}'` }));
        return;
      }
      let server: TritonServer | undefined;
      if (podMatch) server = await ensurePod(podMatch[1]!, podMatch[2]!);
      else {
        const pool = poolMatch![1]!;
        const first = podsOf(pool)[0];
        server = first === undefined ? undefined : started.get(podKey(pool, first));
      }
      if (!server) {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `no Triton pod of pool ${poolMatch![1]!} has started` }));
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const upstream = await fetch(`${server.url}${rest}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      const body = Buffer.from(await upstream.arrayBuffer());
      res.writeHead(upstream.status, {
        'content-type': upstream.headers.get('content-type') ?? 'application/json',
      });
      res.end(body);
    },
    { port: options.port, host: options.host },
  );

  return {
    url: base.url,
    port: base.port,
    faults: base.faults,
    requestLog: base.requestLog,
    urlTemplate: `${base.url}/pools/{pool}/pods/{pod}`,
    poolUrlTemplate: `${base.url}/pools/{pool}`,
    pod: (pool, pod) => started.get(podKey(pool, pod)),
    ensurePod,
    pods: podsOf,
    retainPods: async (live) => {
      const keep = new Set(live);
      const gone = [...servers.keys()].filter((k) => !keep.has(k.slice(k.indexOf('/pods/') + 6)));
      const closing = gone.map((k) => {
        const server = servers.get(k)!;
        servers.delete(k);
        started.delete(k);
        return server.then((s) => s.close()).catch(() => undefined);
      });
      await Promise.all(closing);
    },
    close: async () => {
      const all = await Promise.allSettled(servers.values());
      await Promise.all([
        ...all.flatMap((r) => (r.status === 'fulfilled' ? [r.value.close()] : [])),
        base.close(),
      ]);
    },
  };
}
