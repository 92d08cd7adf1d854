/**
 * The sandbox's own HTTP server (loopback): the status page at `/`, the report as JSON at
 * `/api/status` (what `inferctl status --json` prints), the sampled history at `/api/history`,
 * `POST /api/publish` (the in-process Pub/Sub where there is no emulator), `POST /api/load`
 * (inference load on the sandbox's Triton, for `inferctl load`), and `POST /push/<function>`, the
 * Eventarc stand-in the emulator's push subscriptions deliver to.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { StatusReport } from '../../cli/status-data';
import { deliver, messagePublishedRequest, type PushMessage } from './delivery';
import { type HistorySample, renderContent, renderPage } from './page';

export interface ControlServerOptions {
  project: string;
  status: () => Promise<StatusReport>;
  publish?: (topic: string, data: Buffer, attributes: Record<string, string>) => Promise<string>;
  load: (req: { model: string; rps: number; durationMs: number; version?: string }) => Promise<unknown>;
  /** Function name -> Functions Framework URL. */
  functions: Record<string, string>;
  refreshMs?: number;
  sampleEveryMs?: number;
  log: (line: string) => void;
}

export interface ControlServer {
  url: string;
  history(): HistorySample[];
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;
const MAX_SAMPLES = 720;

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

function send(res: ServerResponse, status: number, value: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? `${JSON.stringify(value, null, 2)}\n` : String(value);
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
  res.end(text);
}

export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  const history: HistorySample[] = [];
  let cached: { at: number; report: Promise<StatusReport> } | undefined;
  const report = () => {
    if (!cached || Date.now() - cached.at > 1000) {
      const p = o.status();
      cached = { at: Date.now(), report: p };
      p.catch(() => {
        cached = undefined;
      });
    }
    return cached.report;
  };
  const sample = async () => {
    try {
      const r = await report();
      history.push({
        time: new Date().toISOString(),
        nodes: Object.fromEntries(r.nodePools.map((p) => [p.name, p.nodeCount])),
        replicas: Object.fromEntries(r.deployments.map((d) => [`${d.namespace}/${d.name}`, d.replicas])),
      });
      if (history.length > MAX_SAMPLES) history.shift();
    } catch {
      // The page says so when it asks; a sample is simply skipped.
    }
  };
  const sampler = setInterval(() => void sample(), o.sampleEveryMs ?? 5000);
  sampler.unref();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /') {
      let content: string;
      try {
        content = renderContent(await report(), history, new Date().toISOString());
      } catch (err) {
        content = `<p class="error">The status could not be read: ${String((err as Error).message).replace(/</g, '&lt;')}</p>`;
      }
      if (url.searchParams.get('fragment') === '1') return send(res, 200, content, 'text/html');
      return send(res, 200, renderPage(content, o.refreshMs ?? 3000), 'text/html');
    }
    if (route === 'GET /api/status') return send(res, 200, await report());
    if (route === 'GET /api/history') return send(res, 200, history);
    if (route === 'POST /api/publish') {
      if (!o.publish)
        return send(res, 409, { error: 'this sandbox uses the Pub/Sub emulator: publish there' });
      const b = (await body(req)) as { topic?: unknown; data?: unknown; attributes?: Record<string, string> };
      if (typeof b.topic !== 'string' || typeof b.data !== 'string') {
        return send(res, 400, { error: 'give {"topic": "...", "data": "<base64>", "attributes": {...}}' });
      }
      const messageId = await o.publish(b.topic, Buffer.from(b.data, 'base64'), b.attributes ?? {});
      return send(res, 200, { messageId });
    }
    if (route === 'POST /api/load') {
      const b = (await body(req)) as {
        model?: unknown;
        rps?: unknown;
        durationMs?: unknown;
        version?: unknown;
      };
      if (typeof b.model !== 'string' || typeof b.rps !== 'number' || typeof b.durationMs !== 'number') {
        return send(res, 400, { error: 'give {"model": "...", "rps": N, "durationMs": N}' });
      }
      return send(
        res,
        200,
        await o.load({
          model: b.model,
          rps: b.rps,
          durationMs: b.durationMs,
          ...(typeof b.version === 'string' ? { version: b.version } : {}),
        }),
      );
    }
    const push = /^POST \/push\/([A-Za-z0-9_-]+)$/.exec(route);
    if (push) {
      const fn = push[1] ?? '';
      const target = o.functions[fn];
      if (!target) return send(res, 404, { error: `no function ${fn}` });
      const b = (await body(req)) as {
        message?: PushMessage & { message_id?: string; publish_time?: string };
        subscription?: string;
      };
      const m = b.message;
      const topic = url.searchParams.get('topic') ?? '';
      if (!m) return send(res, 400, { error: 'not a Pub/Sub push body' });
      const message: PushMessage = {
        ...(m.data !== undefined ? { data: m.data } : {}),
        attributes: m.attributes ?? {},
        messageId: m.messageId ?? m.message_id ?? '',
        publishTime: m.publishTime ?? m.publish_time ?? new Date().toISOString(),
      };
      const status = await deliver(
        target,
        messagePublishedRequest(o.project, topic, b.subscription ?? '', message),
      );
      if (status >= 200 && status < 300) {
        res.writeHead(204).end();
        return;
      }
      // The emulator redelivers on a non-2xx answer, as Eventarc does.
      return send(res, 500, { error: `${fn} answered ${status || 'nothing'}` });
    }
    return send(res, 404, { error: `no route ${route}` });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log(`control server: ${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) send(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  void sample();
  return {
    url: `http://127.0.0.1:${port}`,
    history: () => [...history],
    close: async () => {
      clearInterval(sampler);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
