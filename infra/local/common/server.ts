/**
 * The base every local wire-level server stands on: a plain node:http server on loopback, with
 * fault injection in front of the real handler. Faults are set in-process (`server.faults`) or
 * over HTTP (`POST /__faults` with a FaultConfig JSON body, `DELETE /__faults` to clear), so the
 * sandbox and tests in other processes can inject them too.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface FaultConfig {
  /** Added before every matching request is handled. */
  latencyMs?: number;
  /** Probability (0..1) that a matching request gets `errorStatus` instead of being handled. */
  errorRate?: number;
  errorStatus?: number;
  /** With `errorRate`: each failure's status drawn from this list (e.g. [429, 500, 503]). */
  errorStatuses?: number[];
  /** Probability (0..1) that a matching request has its connection destroyed without a response. */
  dropRate?: number;
  /**
   * Seeds the random source of `errorRate`/`dropRate`/`errorStatuses` for this config, so a
   * failing run reproduces (the server's own `random` otherwise).
   */
  seed?: number;
  /** The next N matching requests fail with `failStatus` (default 503). */
  failNext?: number;
  failStatus?: number;
  /** The next N matching requests have their connection destroyed without a response. */
  dropNext?: number;
  /** Only requests whose `METHOD path` contains this substring are affected (all when unset). */
  match?: string;
}

export interface FaultInjector {
  set(config: FaultConfig): void;
  clear(): void;
  readonly config: Readonly<FaultConfig>;
  /** How many requests the injector failed or dropped since the last `set`/`clear`. */
  readonly injected: number;
}

/** One request a server answered, as the wire saw it (oldest first in `requestLog`). */
export interface LoggedRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  status: number;
}

export interface LocalServer {
  readonly url: string;
  readonly port: number;
  readonly faults: FaultInjector;
  /** Every request answered since start (injected failures included), for tests to assert on. */
  readonly requestLog: readonly LoggedRequest[];
  close(): Promise<void>;
}

export interface StartOptions {
  port?: number;
  host?: string;
  /** Random source for `errorRate`; tests pass a seeded one. */
  random?: () => number;
  /** Serve HTTPS with this PEM key and certificate chain (the URL then starts with `https://`). */
  tls?: { key: string; cert: string };
}

/** mulberry32: a small seeded PRNG, enough to make fault sequences reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Faults implements FaultInjector {
  #config: FaultConfig = {};
  #injected = 0;
  #random: (() => number) | undefined;

  get config(): Readonly<FaultConfig> {
    return this.#config;
  }

  get injected(): number {
    return this.#injected;
  }

  set(config: FaultConfig): void {
    this.#config = { ...config };
    this.#injected = 0;
    this.#random = config.seed === undefined ? undefined : seeded(config.seed);
  }

  clear(): void {
    this.set({});
  }

  /** Decides what happens to one request. */
  take(
    req: IncomingMessage,
    serverRandom: () => number,
  ): { delayMs: number; action: 'pass' | 'drop' | number } {
    const c = this.#config;
    const random = this.#random ?? serverRandom;
    if (c.match && !`${req.method} ${req.url}`.includes(c.match)) return { delayMs: 0, action: 'pass' };
    const delayMs = c.latencyMs ?? 0;
    if (c.dropNext && c.dropNext > 0) {
      c.dropNext -= 1;
      this.#injected += 1;
      return { delayMs, action: 'drop' };
    }
    if (c.failNext && c.failNext > 0) {
      c.failNext -= 1;
      this.#injected += 1;
      return { delayMs, action: c.failStatus ?? 503 };
    }
    if (c.dropRate || c.errorRate) {
      const roll = random();
      if (c.dropRate && roll < c.dropRate) {
        this.#injected += 1;
        return { delayMs, action: 'drop' };
      }
      if (c.errorRate && roll < (c.dropRate ?? 0) + c.errorRate) {
        this.#injected += 1;
        const statuses = c.errorStatuses;
        const status = statuses?.length
          ? (statuses[Math.floor(random() * statuses.length)] ?? 503)
          : (c.errorStatus ?? 503);
        return { delayMs, action: status };
      }
    }
    return { delayMs, action: 'pass' };
  }
}

/** The error body for an injected failure; each server may give its own API's error shape. */
export type InjectedErrorWriter = (res: ServerResponse, status: number) => void;

const defaultInjectedError: InjectedErrorWriter = (res, status) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code: status, message: 'injected fault', status: 'UNAVAILABLE' } }));
};

export async function startLocalServer(
  handler: RequestHandler,
  options: StartOptions & { injectedError?: InjectedErrorWriter; name?: string } = {},
): Promise<LocalServer> {
  const faults = new Faults();
  const random = options.random ?? Math.random;
  const writeInjected = options.injectedError ?? defaultInjectedError;
  const sockets = new Set<Socket>();
  const requestLog: LoggedRequest[] = [];

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    res.on('finish', () =>
      requestLog.push({ method: req.method ?? '', url: req.url ?? '', status: res.statusCode }),
    );
    void (async () => {
      if (req.url?.startsWith('/__faults')) {
        await controlFaults(faults, req, res);
        return;
      }
      const { delayMs, action } = faults.take(req, random);
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      if (action === 'drop') {
        req.socket.destroy();
        return;
      }
      if (typeof action === 'number') {
        req.resume();
        writeInjected(res, action);
        return;
      }
      try {
        await handler(req, res);
      } catch (err) {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 500, message: `local server bug: ${String(err)}` } }));
        } else {
          res.destroy();
        }
      }
    })();
  };
  const server: Server | HttpsServer = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, listener)
    : createServer(listener);
  // The raw TCP socket in both cases: destroying it also ends a TLS session.
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // Official clients keep connections alive; a quick close must not wait for their idle timeout.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';

  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    faults,
    requestLog,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function controlFaults(
  faults: FaultInjector,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (req.method === 'DELETE') {
    faults.clear();
  } else if (req.method === 'POST' || req.method === 'PUT') {
    try {
      faults.set(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as FaultConfig);
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'body must be a JSON FaultConfig' }));
      return;
    }
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ config: faults.config, injected: faults.injected }));
}

/** Reads a whole request body (for JSON APIs; uploads stream instead). */
export async function readBody(req: IncomingMessage, limitBytes = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new Error(`request body over ${limitBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
