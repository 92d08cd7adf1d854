/**
 * A local Triton Inference Server: the HTTP endpoints of the KServe v2 protocol and Triton's model
 * repository, statistics and configuration extensions (health, model readiness, metadata, config,
 * repository index, load, unload, infer, stats, metrics). It judges the repository the way Triton
 * does, from the same bucket, with Triton's own schema, so a bad upload fails here as it would on
 * GKE. Inference is simulated (engine.ts): inputs are checked against the config, outputs are
 * zeros, and service time follows a capacity model, so metrics move under load.
 *
 * Wire behaviour follows Triton: errors are `{"error": "..."}`; load/unload in model control mode
 * NONE are refused with 503 "explicit model load / unload is not allowed if polling is enabled";
 * readiness endpoints answer 200 or 400. Loading is asynchronous when `loadDelayMs` is set: the
 * load call returns while versions are LOADING, as a slow real load looks to a client that timed
 * out, so callers must poll readiness.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { type LocalServer, readBody, sendJson, startLocalServer } from '../common/server';
import { localStorageClient } from '../storage/client';
import { instanceCount, isEnsemble, type ModelConfig, servedConfig } from './config';
import { type Clock, defaultGpu, Engine, type GpuOptions, systemClock } from './engine';
import { inferResponse, validateInfer } from './infer';
import { type ModelState, planLoad, tensorMetadata } from './models';
import { gcsRepositoryReader, parseRepositoryUrl, type RepositoryReader } from './repository';

export interface TritonServerOptions {
  port?: number;
  host?: string;
  /** Local storage server URL; ignored when `reader` is given. */
  storageUrl?: string;
  /** `gs://bucket[/prefix]`. */
  repository: string;
  /** Default 'explicit'. 'none' loads every model at start and refuses load/unload. */
  modelControl?: 'explicit' | 'none' | 'poll';
  /**
   * Explicit mode only: load every model in the repository at start, as `--load-model=*` does
   * (mode 'none' always does). Models that fail to load end UNAVAILABLE; the server still starts.
   */
  loadAllAtStart?: boolean;
  /** Explicit mode: models to load at start (`--load-model=<name>`, repeatable). */
  loadModels?: readonly string[];
  /** How long versions stay LOADING (and UNLOADING) before the change completes. Default 0. */
  loadDelayMs?: number;
  /** Reads the repository; default a GCS reader over `storageUrl`. */
  reader?: RepositoryReader;
  random?: () => number;
  /**
   * `--http-restricted-api`: each API category (`model-repository`, `inference`, `health`,
   * `metadata`, `model-config`, `statistics`, ...) may demand one header with one value; calls
   * without it get 403 as from Triton.
   */
  restrictedApis?: readonly RestrictedApi[];
  /**
   * `--strict-readiness` (Triton's default is true): `/v2/health/ready` answers 200 only while every
   * model the server knows is READY. Default false here, so a lone server stays ready.
   */
  strictReadiness?: boolean;
  /** Simulated compute time of one execution, in ms (default 5); per model when a function. */
  computeMs?: number | ((model: string) => number);
  clock?: Clock;
  /** The simulated GPU (default an L4 with a uuid derived from the port). */
  gpu?: Partial<GpuOptions>;
  /** `--allow-metrics=false` turns `/metrics` off. Default true. */
  allowMetrics?: boolean;
}

export interface RestrictedApi {
  category: string;
  header: string;
  value: string;
}

export interface ModelStatus {
  name: string;
  version?: string;
  state?: ModelState;
  reason?: string;
}

export interface TritonServer extends LocalServer {
  readonly repository: string;
  readonly modelControl: 'explicit' | 'none' | 'poll';
  /** The index as `POST /v2/repository/index` returns it. */
  index(readyOnly?: boolean): Promise<ModelStatus[]>;
  /** What `/v2/health/live` answers. */
  isLive(): boolean;
  /** What `/v2/health/ready` answers (strict readiness included). */
  isReady(): boolean;
  /** Models that failed to load at start, or the repository poll failure (for `--exit-on-error`). */
  readonly startupFailures: readonly string[];
  /** The metrics port's `/metrics` text. */
  metricsText(): string;
}

interface VersionRecord {
  state: ModelState;
  reason: string;
}

interface ModelRecord {
  config?: ModelConfig;
  versions: Map<number, VersionRecord>;
  /** The model-level outcome when no version got as far as a state (e.g. a bad config). */
  failure?: string;
  timer?: NodeJS.Timeout;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const loadBodySchema = z.looseObject({ parameters: z.record(z.string(), z.unknown()).optional() });
const unloadBodySchema = z.looseObject({
  parameters: z.looseObject({ unload_dependents: z.boolean().optional() }).optional(),
});
const indexBodySchema = z.looseObject({ ready: z.boolean().optional() });

export async function startTritonServer(opts: TritonServerOptions): Promise<TritonServer> {
  const modelControl = opts.modelControl ?? 'explicit';
  const loadDelayMs = opts.loadDelayMs ?? 0;
  const location = parseRepositoryUrl(opts.repository);
  const reader =
    opts.reader ??
    (() => {
      if (!opts.storageUrl) throw new Error('startTritonServer needs storageUrl or reader');
      return gcsRepositoryReader(localStorageClient(opts.storageUrl), location);
    })();
  const models = new Map<string, ModelRecord>();
  const clock = opts.clock ?? systemClock;
  const computeMsOf = (model: string) =>
    typeof opts.computeMs === 'function' ? opts.computeMs(model) : (opts.computeMs ?? 5);
  const engine = new Engine(clock, defaultGpu(opts.gpu?.uuid ?? `GPU-${randomUUID()}`, opts.gpu));
  let serverReady = false;
  let closed = false;
  // Triton serializes repository changes; so does this, which also keeps state updates simple.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const isReady = (name: string, version?: number): boolean => {
    const r = models.get(name);
    if (!r) return false;
    if (version !== undefined) return r.versions.get(version)?.state === 'READY';
    return [...r.versions.values()].some((v) => v.state === 'READY');
  };

  const settleLater = (record: ModelRecord, from: ModelState, to: ModelState, reason: string) => {
    const apply = () => {
      record.timer = undefined;
      for (const v of record.versions.values()) {
        if (v.state === from) Object.assign(v, { state: to, reason });
      }
    };
    if (record.timer) clearTimeout(record.timer);
    if (loadDelayMs <= 0 || closed) apply();
    else record.timer = setTimeout(apply, loadDelayMs);
  };

  async function repositoryModels(): Promise<string[]> {
    const paths = await reader.list('');
    return [...new Set(paths.filter((p) => p.includes('/')).map((p) => p.split('/')[0]!))]
      .filter((n) => n !== '')
      .sort();
  }

  async function load(name: string, configOverride: string | undefined): Promise<void> {
    const files = (await reader.list(`${name}/`))
      .map((p) => p.slice(name.length + 1))
      .filter((p) => p !== '');
    const configText = files.includes('config.pbtxt')
      ? (await reader.read(`${name}/config.pbtxt`)).toString('utf8')
      : undefined;
    const plan = planLoad({
      name,
      files,
      ...(configText === undefined ? {} : { configText }),
      configPath: `${opts.repository.replace(/\/+$/, '')}/${name}/config.pbtxt`,
      ...(configOverride === undefined ? {} : { configOverride }),
      isReady: (m) => isReady(m),
    });
    const previous = models.get(name);
    if (!plan.ok) {
      // Triton keeps serving what was loaded when a reload fails.
      if (previous && isReady(name)) {
        throw new HttpError(
          400,
          `failed to load '${name}', failed to poll from model repository: ${plan.reason}`,
        );
      }
      if (previous?.timer) clearTimeout(previous.timer);
      models.set(name, {
        ...(previous?.config ? { config: previous.config } : {}),
        versions: new Map(),
        failure: plan.reason,
      });
      throw new HttpError(
        400,
        `failed to load '${name}', failed to poll from model repository: ${plan.reason}`,
      );
    }
    if (previous?.timer) clearTimeout(previous.timer);
    const record: ModelRecord = { config: plan.config, versions: new Map() };
    for (const v of plan.versions) record.versions.set(v, { state: 'LOADING', reason: '' });
    // Versions no longer selected by the policy are unloaded, as on a Triton reload.
    for (const [v, old] of previous?.versions ?? []) {
      if (!record.versions.has(v) && old.state !== 'UNAVAILABLE')
        record.versions.set(v, { state: 'UNAVAILABLE', reason: 'unloaded' });
    }
    models.set(name, record);
    for (const v of plan.versions) engine.setInstances(name, v, instanceCount(plan.config));
    settleLater(record, 'LOADING', 'READY', '');
  }

  function unload(name: string, dependents: boolean): void {
    const record = models.get(name);
    if (!record) return;
    for (const v of record.versions.values()) {
      if (v.state === 'READY' || v.state === 'LOADING') Object.assign(v, { state: 'UNLOADING', reason: '' });
    }
    record.failure = undefined;
    settleLater(record, 'UNLOADING', 'UNAVAILABLE', 'unloaded');
    if (dependents && record.config && isEnsemble(record.config)) {
      for (const step of record.config.ensemble_scheduling?.step ?? []) unload(step.model_name ?? '', true);
    }
  }

  async function index(readyOnly = false): Promise<ModelStatus[]> {
    const names = new Set([...(await repositoryModels()), ...models.keys()]);
    const rows: ModelStatus[] = [];
    for (const name of [...names].sort()) {
      const r = models.get(name);
      if (!r) {
        rows.push({ name });
      } else if (r.versions.size === 0) {
        rows.push({ name, state: 'UNAVAILABLE', reason: r.failure ?? 'unloaded' });
      } else {
        for (const [v, s] of [...r.versions].sort(([a], [b]) => a - b)) {
          rows.push({ name, version: String(v), state: s.state, reason: s.reason });
        }
      }
    }
    return readyOnly ? rows.filter((r) => r.state === 'READY') : rows;
  }

  /** Which restricted-API category a route belongs to (Triton's RestrictedCategory). */
  function categoryOf(route: string): string | undefined {
    if (route.includes(' /v2/health/') || route.endsWith('/ready')) return 'health';
    if (route.includes(' /v2/repository/')) return 'model-repository';
    if (route.endsWith('/infer')) return 'inference';
    if (route.endsWith('/config')) return 'model-config';
    if (route.endsWith('/stats')) return 'statistics';
    if (route === 'GET /v2' || route.startsWith('GET /v2/models/')) return 'metadata';
    return undefined;
  }

  function refuseIfRestricted(req: IncomingMessage, route: string): void {
    const category = categoryOf(route);
    const rule = opts.restrictedApis?.find((r) => r.category === category);
    if (!rule) return;
    const sent = req.headers[rule.header.toLowerCase()];
    if (sent !== rule.value) {
      throw new HttpError(403, `This API is restricted, expecting header '${rule.header}'`);
    }
  }

  function serverIsReady(): boolean {
    if (!serverReady || closed) return false;
    if (!opts.strictReadiness) return true;
    return [...models.values()].every(
      (r) =>
        r.versions.size > 0 &&
        [...r.versions.values()].every((v) => v.state === 'READY' || v.reason === 'unloaded'),
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://triton');
    const parts = url.pathname
      .split('/')
      .filter((p) => p !== '')
      .map(decodeSegment);
    const method = req.method ?? 'GET';
    const route = `${method} /${parts.map((p, i) => (isParam(parts, i) ? ':' : p)).join('/')}`;
    refuseIfRestricted(req, route);

    switch (route) {
      case 'GET /v2/health/live':
        return status(res, closed ? 400 : 200);
      case 'GET /v2/health/ready':
        return status(res, serverIsReady() ? 200 : 400);
      case 'GET /v2':
        return sendJson(res, 200, {
          name: 'triton',
          version: 'local',
          extensions: [
            'classification',
            'sequence',
            'model_repository',
            'model_repository(unload_dependents)',
            'schedule_policy',
            'model_configuration',
            'system_shared_memory',
            'cuda_shared_memory',
            'binary_tensor_data',
            'parameters',
            'statistics',
            'trace',
            'logging',
          ],
        });
      case 'GET /v2/models/:/ready':
        return status(res, isReady(parts[2]!) ? 200 : 400);
      case 'GET /v2/models/:/versions/:/ready':
        return status(res, isReady(parts[2]!, versionOf(parts[4]!)) ? 200 : 400);
      case 'GET /v2/models/:':
      case 'GET /v2/models/:/versions/:':
        return sendJson(res, 200, metadata(parts[2]!, parts[4]));
      case 'GET /v2/models/:/config':
      case 'GET /v2/models/:/versions/:/config':
        return sendJson(res, 200, servedConfig(readyRecord(parts[2]!, parts[4]).config!));
      case 'POST /v2/models/:/infer':
      case 'POST /v2/models/:/versions/:/infer':
        return infer(req, res, parts[2]!, parts[4]);
      case 'GET /v2/models/stats':
        return sendJson(res, 200, { model_stats: statistics(undefined, undefined) });
      case 'GET /v2/models/:/stats':
      case 'GET /v2/models/:/versions/:/stats':
        return sendJson(res, 200, { model_stats: statistics(parts[2]!, parts[4]) });
      case 'POST /v2/repository/index': {
        const body = await jsonBody(req, indexBodySchema);
        return sendJson(res, 200, await index(body.ready === true));
      }
      case 'POST /v2/repository/models/:/load': {
        const body = await jsonBody(req, loadBodySchema);
        const override = loadOverride(body.parameters);
        refuseWithoutModelControl();
        await serialized(() => load(parts[3]!, override));
        return sendJson(res, 200, {});
      }
      case 'POST /v2/repository/models/:/unload': {
        const body = await jsonBody(req, unloadBodySchema);
        refuseWithoutModelControl();
        await serialized(async () => unload(parts[3]!, body.parameters?.unload_dependents === true));
        return sendJson(res, 200, {});
      }
      case 'GET /metrics':
        if (opts.allowMetrics === false) throw new HttpError(404, 'Not Found');
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(metricsText());
        return;
      default:
        throw new HttpError(404, `Not Found: ${method} ${url.pathname}`);
    }
  }

  /** The version a request is served by: the one named, or the highest READY one. */
  function servingVersion(
    name: string,
    version: string | undefined,
  ): { record: ModelRecord; version: number } {
    const record = readyRecord(name, version);
    const v =
      version === undefined
        ? Math.max(...[...record.versions].filter(([, s]) => s.state === 'READY').map(([n]) => n))
        : versionOf(version);
    return { record, version: v };
  }

  async function infer(req: IncomingMessage, res: ServerResponse, name: string, version: string | undefined) {
    const arrived = clock.now();
    const raw = (await readBody(req, 64 * 1024 * 1024)).toString('utf8');
    const { record, version: v } = servingVersion(name, version);
    const config = record.config!;
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch (err) {
      engine.recordFailure(name, v, 'OTHER', arrived);
      throw new HttpError(400, `failed to parse the request JSON buffer: ${String(err)}`);
    }
    const checked = validateInfer(name, config, body);
    if (!checked.ok) {
      engine.recordFailure(name, v, 'OTHER', arrived);
      throw new HttpError(400, checked.error);
    }
    await engine.execute(name, v, checked.request.batch, computeMsOf(name), arrived);
    return sendJson(res, 200, inferResponse(name, v, config, checked.request));
  }

  function statistics(name: string | undefined, version: string | undefined): unknown[] {
    const wanted = version === undefined ? undefined : versionOf(version);
    if (name !== undefined) readyRecord(name, version);
    const rows: unknown[] = [];
    for (const [m, r] of [...models].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (name !== undefined && m !== name) continue;
      for (const [v, s] of [...r.versions].sort(([a], [b]) => a - b)) {
        if (s.state !== 'READY' || (wanted !== undefined && v !== wanted)) continue;
        const st = engine.stats(m, v);
        const d = (x: { count: number; ns: number }) => ({ count: x.count, ns: x.ns });
        rows.push({
          name: m,
          version: String(v),
          last_inference: Math.round(st.lastInferenceMs),
          inference_count: st.inferenceCount,
          execution_count: st.executionCount,
          inference_stats: {
            success: d(st.success),
            fail: d(st.fail),
            queue: d(st.queue),
            compute_input: d(st.computeInput),
            compute_infer: d(st.computeInfer),
            compute_output: d(st.computeOutput),
            cache_hit: { count: 0, ns: 0 },
            cache_miss: { count: 0, ns: 0 },
          },
          response_stats: {},
          batch_stats: [...st.batches]
            .sort(([a], [b]) => a - b)
            .map(([size, b]) => ({
              batch_size: size,
              compute_input: d(b.computeInput),
              compute_infer: d(b.computeInfer),
              compute_output: d(b.computeOutput),
            })),
          memory_usage: [],
        });
      }
    }
    return rows;
  }

  function refuseWithoutModelControl(): void {
    if (modelControl !== 'explicit') {
      throw new HttpError(503, 'explicit model load / unload is not allowed if polling is enabled');
    }
  }

  function readyRecord(name: string, version: string | undefined): ModelRecord {
    const v = version === undefined ? undefined : versionOf(version);
    const r = models.get(name);
    if (!r || !isReady(name, v)) {
      throw new HttpError(
        400,
        v === undefined
          ? `Request for unknown model: '${name}' is not found`
          : `Request for unknown model: '${name}' version ${v} is not found`,
      );
    }
    return r;
  }

  function metadata(name: string, version: string | undefined): unknown {
    const r = readyRecord(name, version);
    const c = r.config!;
    const batch = c.max_batch_size ?? 0;
    return {
      name,
      versions: [...r.versions].filter(([, s]) => s.state === 'READY').map(([v]) => String(v)),
      platform: c.platform || c.backend || '',
      inputs: (c.input ?? []).map((t) => tensorMetadata(t, batch)),
      outputs: (c.output ?? []).map((t) => tensorMetadata(t, batch)),
    };
  }

  function metricsText(): string {
    const loaded: Array<[string, number]> = [];
    for (const [name, r] of models) {
      for (const [v, s] of r.versions) if (s.state === 'READY') loaded.push([name, v]);
    }
    return engine.metricsText(loaded);
  }

  const base = await startLocalServer(
    async (req, res) => {
      try {
        await handle(req, res);
      } catch (err) {
        if (err instanceof HttpError) sendJson(res, err.status, { error: err.message });
        else sendJson(res, 500, { error: `local triton: ${String(err)}` });
      }
    },
    {
      ...(opts.port === undefined ? {} : { port: opts.port }),
      ...(opts.host === undefined ? {} : { host: opts.host }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
      name: 'triton',
      injectedError: (res, status) => sendJson(res, status, { error: 'injected fault' }),
    },
  );

  const startupFailures: string[] = [];
  if (modelControl !== 'explicit' || opts.loadAllAtStart === true || (opts.loadModels ?? []).length > 0) {
    // Mode NONE (and `--load-model=*`) loads the whole repository at start. A failed model gets a
    // second try after the others, so an ensemble listed before its steps still loads (without a
    // load delay).
    const failed: string[] = [];
    // With --exit-on-error=false Triton starts even when the repository cannot be polled.
    const all = modelControl !== 'explicit' || opts.loadAllAtStart === true;
    const names = all
      ? await repositoryModels().catch((err: unknown) => {
          startupFailures.push(`failed to poll model repository '${opts.repository}': ${String(err)}`);
          return [] as string[];
        })
      : [...(opts.loadModels ?? [])];
    for (const name of names) {
      await load(name, undefined).catch(() => failed.push(name));
    }
    for (const name of failed) await load(name, undefined).catch(() => startupFailures.push(name));
  }
  serverReady = true;

  return {
    url: base.url,
    port: base.port,
    faults: base.faults,
    requestLog: base.requestLog,
    repository: opts.repository,
    modelControl,
    index,
    isLive: () => !closed,
    isReady: serverIsReady,
    startupFailures,
    metricsText,
    close: async () => {
      closed = true;
      for (const r of models.values()) if (r.timer) clearTimeout(r.timer);
      await base.close();
    },
  };
}

/** Which path segments are parameters: model names and versions. */
function isParam(parts: string[], i: number): boolean {
  if (parts[0] !== 'v2') return false;
  if (parts[1] === 'models') {
    if (parts.length === 3 && parts[2] === 'stats') return false;
    return i === 2 || (i === 4 && parts[3] === 'versions');
  }
  if (parts[1] === 'repository' && parts[2] === 'models') return i === 3;
  return false;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `malformed URL path segment '${segment}'`);
  }
}

function versionOf(s: string): number {
  if (!/^[0-9]+$/.test(s)) throw new HttpError(400, `failed to parse model version '${s}'`);
  return Number(s);
}

function status(res: ServerResponse, code: number): void {
  res.writeHead(code, { 'content-length': 0 });
  res.end();
}

async function jsonBody<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const raw = (await readBody(req, 64 * 1024 * 1024)).toString('utf8');
  if (raw.trim() === '') return schema.parse({});
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new HttpError(400, `failed to parse the request JSON buffer: ${String(err)}`);
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    throw new HttpError(
      400,
      `invalid request body: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  return r.data;
}

/** The load API's parameters: only `config` (a JSON string) is supported. */
function loadOverride(parameters: Record<string, unknown> | undefined): string | undefined {
  if (!parameters) return undefined;
  const files = Object.keys(parameters).filter((k) => k.startsWith('file:'));
  if (files.length > 0 && parameters.config === undefined) {
    throw new HttpError(400, "failed to load model: file overrides require the 'config' parameter");
  }
  if (files.length > 0) throw new HttpError(400, 'file overrides are not supported by the local Triton');
  const config = parameters.config;
  if (config === undefined) return undefined;
  if (typeof config !== 'string') {
    throw new HttpError(
      400,
      "Unable to parse 'config': the 'config' parameter must be a JSON string of the model configuration",
    );
  }
  return config;
}
