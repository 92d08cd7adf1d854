/**
 * One cold start, measured from outside: spawn the Functions Framework's own CLI (what a Cloud
 * Functions / Cloud Run instance runs) on a function's folder, POST one CloudEvent as soon as the
 * port accepts connections, and stop the clock when the answer arrives. The figure covers Node's
 * start, the framework, the function's import, its dependency build and the first delivery; the
 * process's peak RSS (VmHWM) is read from /proc while it is still alive.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

/** The framework's CLI entry (its package does not export it, so it is found beside its index). */
export const FUNCTIONS_FRAMEWORK_MAIN = join(
  dirname(createRequire(import.meta.url).resolve('@google-cloud/functions-framework')),
  'main.js',
);

/** One CloudEvent delivery in binary mode, as in events/fixtures. */
export interface Delivery {
  headers: Record<string, string>;
  body: unknown;
}

export async function readDelivery(file: string): Promise<Delivery> {
  return JSON.parse(await readFile(file, 'utf8')) as Delivery;
}

export interface ColdStartSample {
  /** Spawn -> the first CloudEvent's answer received. */
  firstEventMs: number;
  /** Spawn -> the port first accepted a connection. */
  listeningMs: number;
  status: number;
  /** Peak resident set of the function's process, undefined where /proc is absent. */
  peakRssBytes: number | undefined;
  /**
   * CPU time (user + system) the function's process used up to its answer, undefined where /proc
   * is absent. Steadier than the wall-clock figures on a shared machine: a neighbour's load delays
   * the process but does not add to its CPU time. Kernel clock ticks (10 ms on Linux).
   */
  cpuMs: number | undefined;
  headers: Record<string, string>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no loopback port');
  return address.port;
}

function post(
  port: number,
  delivery: Delivery,
  headers: Record<string, string>,
): Promise<{ status: number; connectedAt: number } | { refused: true }> {
  const body = JSON.stringify(delivery.body);
  let connectedAt = 0;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connectedAt }));
        res.on('error', reject);
      },
    );
    req.on('socket', (socket) => {
      socket.once('connect', () => {
        connectedAt = performance.now();
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') resolve({ refused: true });
      else reject(err);
    });
    req.end(body);
  });
}

async function peakRss(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** utime + stime of a live process, from /proc/<pid>/stat (fields 14 and 15, in clock ticks). */
async function cpuTime(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is parenthesised and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * CLOCK_TICK_MS : undefined;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux build Node supports. */
const CLOCK_TICK_MS = 10;

async function stop(child: ChildProcess, gentle: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(gentle ? 'SIGTERM' : 'SIGKILL');
  await exited;
}

/**
 * Spawns the framework on `source` (a folder with a package.json naming the module), sends the
 * delivery with `headers` (a fresh ce-id per call, so no two runs share an idempotency key), and
 * kills the process once it answered. Bounded: gives up after `timeoutMs`.
 */
export async function coldStartOnce(opts: {
  source: string;
  target: string;
  delivery: Delivery;
  headers: Record<string, string>;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Options for node itself (`--cpu-prof`); with them the process is stopped with SIGTERM, so
   * the framework exits cleanly and a profile is written. */
  nodeArgs?: readonly string[];
}): Promise<ColdStartSample> {
  const port = await freePort();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let output = '';
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      FUNCTIONS_FRAMEWORK_MAIN,
      `--target=${opts.target}`,
      `--source=${opts.source}`,
      '--signature-type=cloudevent',
      `--port=${port}`,
    ],
    { env: { ...opts.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString('utf8');
  });
  try {
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`${opts.target} exited with ${child.exitCode} before answering:\n${output}`);
      }
      if (performance.now() - started > timeoutMs) {
        throw new Error(`${opts.target} did not answer within ${timeoutMs} ms:\n${output}`);
      }
      // A refused connection costs well under a millisecond on loopback: poll tightly, so the
      // figure does not include a polling interval.
      const res = await post(port, opts.delivery, opts.headers);
      if ('refused' in res) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      return {
        firstEventMs: performance.now() - started,
        listeningMs: res.connectedAt - started,
        status: res.status,
        cpuMs: await cpuTime(child.pid),
        peakRssBytes: await peakRss(child.pid),
        headers: opts.headers,
      };
    }
  } finally {
    await stop(child, (opts.nodeArgs ?? []).length > 0);
  }
}
