/**
 * How inferctl finds what to drive. A running sandbox (`npm start`) writes
 * `.sandbox/endpoints.json`; with no INFERPLANE_PROJECT in the environment and no `--project`,
 * every command reads it and takes the sandbox's endpoints, buckets and credentials, so
 * `inferctl status` beside a running sandbox needs no flags or environment. With `--project` (or
 * INFERPLANE_PROJECT) the commands aim at Google Cloud through Application Default Credentials and
 * the INFERPLANE_* variables, as the functions do.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Env } from '../shared/runtime/config';

export const SANDBOX_API_VERSION = 'inferplane.dev/sandbox/v1';
export const SANDBOX_ENDPOINTS_FILE = 'endpoints.json';

/** What `npm start` writes to `<dir>/endpoints.json` while it runs (and removes when it stops). */
export interface SandboxEndpoints {
  apiVersion: typeof SANDBOX_API_VERSION;
  pid: number;
  startedAt: string;
  dir: string;
  /** The control plane's environment (INFERPLANE_*), as the functions get it. */
  env: Record<string, string>;
  /** The sandbox's own server: the status page at `/`, `/api/status`, `/api/publish`, `/api/load`. */
  control: string;
  /** The Pub/Sub emulator (host:port), or null where the sandbox pushes in-process. */
  pubsubEmulatorHost: string | null;
  projectId: string;
  topics: { alerts: string; ticks: string; securityTicks: string };
  buckets: { incoming: string; repository: string; security: string; state: string };
  storage: string;
  /** Triton URL template of a pool's Service (`{pool}`). */
  tritonPool: string;
  /** Functions Framework URLs; null for a function not built yet (its folder does not exist). */
  functions: Record<string, string | null>;
  logs: string;
  kubeconfig: string;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where a sandbox may be: INFERPLANE_SANDBOX_DIR, else `./.sandbox`, else the repository's `.sandbox`. */
export function sandboxDirs(env: Env, cwd = process.cwd()): string[] {
  if (env.INFERPLANE_SANDBOX_DIR) return [path.resolve(cwd, env.INFERPLANE_SANDBOX_DIR)];
  return [...new Set([path.join(cwd, '.sandbox'), path.join(ROOT, '.sandbox')])];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type SandboxLookup =
  | { kind: 'running'; sandbox: SandboxEndpoints }
  | { kind: 'stopped'; dir: string; pid: number }
  | { kind: 'none'; looked: string[] };

export function findSandbox(env: Env, cwd = process.cwd()): SandboxLookup {
  const dirs = sandboxDirs(env, cwd);
  for (const dir of dirs) {
    const file = path.join(dir, SANDBOX_ENDPOINTS_FILE);
    if (!existsSync(file)) continue;
    let parsed: SandboxEndpoints;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8')) as SandboxEndpoints;
    } catch {
      continue;
    }
    if (parsed.apiVersion !== SANDBOX_API_VERSION) continue;
    if (!alive(parsed.pid)) return { kind: 'stopped', dir, pid: parsed.pid };
    return { kind: 'running', sandbox: parsed };
  }
  return { kind: 'none', looked: dirs };
}

/** What a command drives: Google Cloud (the environment as given) or the running sandbox. */
export type Target = { kind: 'cloud'; env: Env } | { kind: 'sandbox'; env: Env; sandbox: SandboxEndpoints };

/** A target could not be found; the message says what to do next. */
export class NoTargetError extends Error {
  override name = 'NoTargetError';
}

/**
 * `--project P` or INFERPLANE_PROJECT: Google Cloud. Otherwise the running sandbox, its values
 * under any INFERPLANE_* the caller set. Otherwise an error that says how to get either.
 */
export function resolveTarget(env: Env, opts: { project?: string | undefined } = {}, cwd?: string): Target {
  if (opts.project) return { kind: 'cloud', env: { ...env, INFERPLANE_PROJECT: opts.project } };
  if (env.INFERPLANE_PROJECT) return { kind: 'cloud', env };
  const found = findSandbox(env, cwd);
  if (found.kind === 'running') {
    const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
    return { kind: 'sandbox', env: { ...found.sandbox.env, ...defined }, sandbox: found.sandbox };
  }
  const cloud =
    'or aim at Google Cloud with --project PROJECT (and INFERPLANE_CLUSTER, INFERPLANE_REPOSITORY_BUCKET)';
  if (found.kind === 'stopped') {
    throw new NoTargetError(
      `the sandbox in ${found.dir} is not running (process ${found.pid} has exited); start it with 'npm start', ${cloud}`,
    );
  }
  throw new NoTargetError(
    `no running sandbox found (looked for ${found.looked.map((d) => path.join(d, SANDBOX_ENDPOINTS_FILE)).join(', ')}); ` +
      `start one with 'npm start' in another terminal, ${cloud}`,
  );
}

/** The sandbox a sandbox-only command needs (`load`), or an error saying so. */
export function requireSandbox(target: Target, command: string): SandboxEndpoints {
  if (target.kind === 'sandbox') return target.sandbox;
  throw new NoTargetError(
    `${command} drives the sandbox's Triton only; start the sandbox with 'npm start' and run it without --project`,
  );
}

/** A JSON request to the sandbox's control server; errors name the URL and what to do. */
export async function sandboxRequest<T>(
  sandbox: SandboxEndpoints,
  route: string,
  body?: unknown,
): Promise<T> {
  const url = new URL(route, sandbox.control).toString();
  let res: Response;
  try {
    res = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
  } catch (err) {
    throw new NoTargetError(
      `the sandbox does not answer at ${url} (${(err as Error).message}); is 'npm start' still running?`,
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const message = (json as { error?: string } | undefined)?.error ?? text.slice(0, 200);
    throw new Error(`the sandbox answered ${res.status} for ${route}: ${message}`);
  }
  return json as T;
}
