/**
 * One Triton server per GPU pool, as in the cluster: each pool's Triton serves its own repository
 * folder (`gs://<bucket>/<root>/<pool>`). The fleet listens on one port and routes
 * `/pools/<pool>/...` to that pool's server, started on first use; so the control plane's Triton
 * URL template `http://127.0.0.1:PORT/pools/{pool}` reaches the right one.
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
  /** The URL template the control plane takes (INFERPLANE_TRITON_URL). */
  readonly urlTemplate: string;
  /** The pool's server, if a request has reached it. */
  pool(name: string): TritonServer | undefined;
  /** Starts (or returns) the pool's server. */
  ensurePool(name: string): Promise<TritonServer>;
}

const POOL = /^\/pools\/([a-z]([-a-z0-9]{0,38}[a-z0-9])?)(\/.*)$/;

export async function startTritonFleet(options: TritonFleetOptions): Promise<TritonFleet> {
  const pools = new Map<string, Promise<TritonServer>>();
  const root = options.root ?? 'models';
  const ensurePool = (name: string): Promise<TritonServer> => {
    let server = pools.get(name);
    if (!server) {
      server = startTritonServer({
        storageUrl: options.storageUrl,
        repository: `gs://${options.repositoryBucket}/${root}/${name}`,
        modelControl: 'explicit',
        ...(options.loadDelayMs === undefined ? {} : { loadDelayMs: options.loadDelayMs }),
      });
      pools.set(name, server);
    }
    return server;
  };
  const started = new Map<string, TritonServer>();

  const base = await startLocalServer(
    async (req, res) => {
      const match = POOL.exec(req.url ?? '');
      if (!match) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'expected /pools/<pool>/v2/...' }));
        return;
      }
      const pool = match[1]!;
      const header = options.restrictedApiHeader;
      if (header && match[3]!.startsWith('/v2/repository/') && !req.headers[header.toLowerCase()]) {
        req.resume();
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `This API is restricted, expecting header '${header}'` }));
        return;
      }
      const server = await ensurePool(pool);
      started.set(pool, server);
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const upstream = await fetch(`${server.url}${match[3]}`, {
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
    urlTemplate: `${base.url}/pools/{pool}`,
    pool: (name) => started.get(name),
    ensurePool,
    close: async () => {
      const servers = await Promise.all(pools.values());
      await Promise.all([...servers.map((s) => s.close()), base.close()]);
    },
  };
}
