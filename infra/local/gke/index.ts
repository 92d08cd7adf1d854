/**
 * Local wire-level GKE Container API v1 (REST) for one cluster's node pools and operations. The
 * official `@google-cloud/container` client talks to it unchanged in REST fallback mode (see
 * `client.ts`). What differs from the real API is listed in README.md.
 */
import { mkdtempSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { statusOfHttp } from '../common/google-errors';
import { type LocalServer, readBody, sendJson, startLocalServer } from '../common/server';
import { type ClusterSecurity, EmulatedCluster, type GkeClock, type KubernetesEndpoint } from './cluster';
import { GkeApiError, invalidArgument, notFound } from './errors';
import {
  type CapacityControl,
  type CapacityRule,
  capacityRuleProblems,
  type OperationFaultConfig,
  type OperationFaultControl,
  operationFaultProblems,
} from './faults';
import {
  CreateNodePoolRequestSchema,
  type NodePool,
  SetNodePoolAutoscalingRequestSchema,
  SetNodePoolManagementRequestSchema,
  SetNodePoolSizeRequestSchema,
  UpdateNodePoolRequestSchema,
  zodProblems,
} from './model';
import { type LocalNodePoolView, viewOf } from './view';

export type { ClusterSecurity, GkeClock, KubernetesEndpoint } from './cluster';
export type {
  CapacityControl,
  CapacityRule,
  FailingOperations,
  OperationFaultConfig,
  OperationFaultControl,
  OperationTypeName,
  SlowOperations,
} from './faults';
export type { NodePool, NodePoolAutoscaling } from './model';
export { NodePoolStatus, OperationStatus, OperationType } from './model';
export type { LocalNodePoolView } from './view';

export interface GkeServerOptions {
  port?: number;
  host?: string;
  /** Where state is kept as JSON; a server restarted on the same dir keeps its node pools. */
  dir?: string;
  project?: string;
  location?: string;
  cluster?: string;
  /** Duration of each of the PENDING and RUNNING phases of an operation; 0 = DONE at once. */
  operationPhaseMs?: number;
  /** Defaults to the system clock; a manual clock moves operations only when it is advanced. */
  clock?: GkeClock;
  /** The cluster's apiserver, reported by GetCluster (`endpoint`, `masterAuth`, `privateClusterConfig`). */
  kubernetes?: KubernetesEndpoint;
  /** Binary Authorization and Workload Identity as GetCluster reports them (see `ClusterSecurity`). */
  security?: ClusterSecurity;
  /** The cluster's node locations (a regional cluster: usually three zones); default `<region>-a`. */
  locations?: readonly string[];
}

export interface GkeServer extends LocalServer {
  /** `projects/P/locations/L/clusters/C` */
  readonly clusterName: string;
  readonly dir: string;
  /** Applies to operations started afterwards. */
  setOperationPhaseMs(ms: number): void;
  /** Stored pools as served (plus the internal live counts), for assertions. */
  snapshot(): { nodePools: NodePool[] };
  /** The live view of every pool, in creation order. */
  nodePools(): LocalNodePoolView[];
  /** Called after any pool change (create, resize, delete, status, ...); returns unsubscribe. */
  onChange(listener: () => void): () => void;
  /** The cluster autoscaler's resize: live nodes per zone, clamped to the autoscaling bounds; no operation. */
  autoscale(pool: string, nodeCountPerZone: Record<string, number>): void;
  /** Reports another apiserver from now on (one started after this server, say). */
  setKubernetesEndpoint(kubernetes: KubernetesEndpoint | undefined): void;
  /** Changes what GetCluster reports of Binary Authorization / Workload Identity from now on. */
  setSecurity(security: ClusterSecurity): void;
  /** Zone capacity (stockouts); also `POST /__capacity` with a CapacityRule, `DELETE /__capacity`. */
  readonly capacity: CapacityControl;
  /** Slow and failing operations; also `POST /__operation-faults`, `DELETE /__operation-faults`. */
  readonly operationFaults: OperationFaultControl;
}

export async function startGkeServer(opts: GkeServerOptions = {}): Promise<GkeServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'local-gke-'));
  const listeners = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let notifying = false;
  let again = false;
  const cluster: EmulatedCluster = new EmulatedCluster({
    dir,
    project: opts.project ?? 'local-project',
    location: opts.location ?? 'us-central1',
    cluster: opts.cluster ?? 'inference',
    operationPhaseMs: opts.operationPhaseMs ?? 50,
    clock: opts.clock ?? { nowMs: () => Date.now() },
    ...(opts.kubernetes ? { kubernetes: opts.kubernetes } : {}),
    ...(opts.security ? { security: opts.security } : {}),
    ...(opts.locations ? { locations: opts.locations } : {}),
    onChange: () => {
      // A listener that reads the view may settle a due operation, which is a change too: it
      // is announced after the current round instead of re-entering the listeners.
      if (notifying) {
        again = true;
        return;
      }
      notifying = true;
      try {
        do {
          again = false;
          for (const listener of [...listeners]) {
            // A listener's bug must not fail the API call that caused the change.
            try {
              listener();
            } catch (err) {
              console.error('local gke: onChange listener failed', err);
            }
          }
        } while (again);
      } finally {
        notifying = false;
      }
      schedule();
    },
  });
  // Operations settle lazily on reads; a timer also settles them when they are due, so the view
  // and onChange listeners see a pool change without anyone polling the API.
  function schedule(): void {
    if (closed) return;
    const due = cluster.nextDueInMs();
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (due === undefined) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        cluster.settle();
        schedule();
      },
      Math.max(1, due),
    );
    timer.unref();
  }
  schedule();

  const server = await startLocalServer((req, res) => handle(cluster, req, res), {
    ...(opts.port === undefined ? {} : { port: opts.port }),
    ...(opts.host === undefined ? {} : { host: opts.host }),
    name: 'gke',
    injectedError: (res, status) =>
      sendJson(res, status, {
        error: { code: status, message: 'injected fault', status: statusOfHttp(status) },
      }),
  });

  return {
    ...server,
    clusterName: cluster.clusterName,
    dir,
    setOperationPhaseMs: (ms) => {
      cluster.phaseMs = ms;
    },
    snapshot: () => ({ nodePools: cluster.snapshotPools() }),
    nodePools: () => cluster.snapshotPools().map(viewOf),
    onChange: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    autoscale: (pool, nodeCountPerZone) => cluster.autoscale(pool, nodeCountPerZone),
    setKubernetesEndpoint: (kubernetes) => {
      cluster.kubernetes = kubernetes;
    },
    setSecurity: (security) => {
      cluster.security = { ...cluster.security, ...security };
    },
    capacity: cluster.capacity,
    operationFaults: cluster.operationFaults,
    close: async () => {
      closed = true;
      if (timer) clearTimeout(timer);
      await server.close();
    },
  };
}

const PREFIX = '/v1/projects/';

async function handle(cluster: EmulatedCluster, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const body = await readBody(req);
    const pathname = new URL(req.url ?? '/', 'http://local').pathname;
    if (pathname.startsWith('/__')) {
      control(cluster, req.method ?? 'GET', pathname, body, res);
      return;
    }
    const result = route(
      cluster,
      req.method ?? 'GET',
      new URL(req.url ?? '/', 'http://local').pathname,
      body,
    );
    sendJson(res, 200, result);
  } catch (err) {
    if (err instanceof GkeApiError) {
      sendJson(res, err.httpStatus, err.toJSON());
      return;
    }
    throw err;
  }
}

/**
 * Test controls over HTTP, for the sandbox and tests in other processes: `/__capacity` (POST a
 * CapacityRule or a list of them, DELETE clears, GET lists), `/__operation-faults` (POST an
 * OperationFaultConfig, DELETE clears, GET shows), `GET /__node-pools` (the view) and
 * `POST /__autoscale` (`{pool, nodeCountPerZone}`, the autoscaler's resize).
 */
function control(
  cluster: EmulatedCluster,
  method: string,
  path: string,
  body: Buffer,
  res: ServerResponse,
): void {
  let json: unknown;
  try {
    json = body.length === 0 ? undefined : JSON.parse(body.toString('utf8'));
  } catch {
    sendJson(res, 400, { error: 'body must be JSON' });
    return;
  }
  if (path === '/__capacity') {
    if (method === 'DELETE') cluster.capacity.clear();
    else if (method === 'POST' || method === 'PUT') {
      const rules = Array.isArray(json) ? json : [json];
      const problems = rules.flatMap(capacityRuleProblems);
      if (problems.length > 0) {
        sendJson(res, 400, { error: problems.join(' ') });
        return;
      }
      for (const rule of rules as CapacityRule[]) cluster.capacity.set(rule);
    }
    sendJson(res, 200, { rules: cluster.capacity.list() });
    return;
  }
  if (path === '/__operation-faults') {
    if (method === 'DELETE') cluster.operationFaults.clear();
    else if (method === 'POST' || method === 'PUT') {
      const problems = operationFaultProblems(json ?? {});
      if (problems.length > 0) {
        sendJson(res, 400, { error: problems.join(' ') });
        return;
      }
      cluster.operationFaults.set((json ?? {}) as OperationFaultConfig);
    }
    sendJson(res, 200, { config: cluster.operationFaults.config });
    return;
  }
  if (path === '/__node-pools' && method === 'GET') {
    sendJson(res, 200, { nodePools: cluster.snapshotPools().map(viewOf) });
    return;
  }
  if (path === '/__autoscale' && method === 'POST') {
    const body = (json ?? {}) as { pool?: unknown; nodeCountPerZone?: unknown };
    if (
      typeof body.pool !== 'string' ||
      typeof body.nodeCountPerZone !== 'object' ||
      body.nodeCountPerZone === null
    ) {
      sendJson(res, 400, { error: 'body must be {"pool": NAME, "nodeCountPerZone": {ZONE: N}}' });
      return;
    }
    try {
      cluster.autoscale(body.pool, body.nodeCountPerZone as Record<string, number>);
    } catch (err) {
      sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
      return;
    }
    sendJson(res, 200, { nodePools: cluster.snapshotPools().map(viewOf) });
    return;
  }
  sendJson(res, 404, { error: `no control endpoint ${path}` });
}

/** Maps one REST call to the cluster. Paths follow the `google.api.http` rules of ClusterManager. */
function route(cluster: EmulatedCluster, method: string, rawPath: string, body: Buffer): unknown {
  const path = decodeURIComponent(rawPath);
  if (!path.startsWith(PREFIX)) throw new GkeApiError('NOT_FOUND', `No such API path: ${path}`);
  const [resource, verb] = splitVerb(path.slice('/v1/'.length));
  const s = resource.split('/');
  // projects/P/locations/L/...
  if (s.length < 4 || s[2] !== 'locations') throw new GkeApiError('NOT_FOUND', `No such API path: ${path}`);
  const [project, location] = [s[1], s[3]];
  const sameLocation = project === cluster.project && (location === cluster.location || location === '-');

  if (s[4] === 'operations') {
    if (s.length === 5 && method === 'GET' && !verb) {
      return { operations: sameLocation ? cluster.listOperations() : [] };
    }
    if (s.length === 6 && s[5]) {
      if (!sameLocation) throw notFound(resource);
      if (method === 'GET' && !verb) return cluster.getOperation(s[5]);
      if (method === 'POST' && verb === 'cancel') {
        cluster.cancelOperation(s[5]);
        return {};
      }
    }
    throw unsupported(method, path);
  }

  if (s[4] !== 'clusters') throw unsupported(method, path);
  if (s.length === 5 && method === 'GET') {
    return { clusters: sameLocation ? [cluster.getCluster()] : [] };
  }
  if (!sameLocation || s[5] !== cluster.cluster) throw notFound(s.slice(0, 6).join('/'));
  if (s.length === 6 && method === 'GET' && !verb) return cluster.getCluster();
  if (s[6] !== 'nodePools') throw unsupported(method, path);

  if (s.length === 7) {
    if (method === 'GET' && !verb) return { nodePools: cluster.listNodePools() };
    if (method === 'POST' && !verb) {
      return cluster.createNodePool(parse(CreateNodePoolRequestSchema, body).nodePool);
    }
    throw unsupported(method, path);
  }
  const pool = s[7];
  if (s.length !== 8 || !pool) throw unsupported(method, path);
  switch (`${method} ${verb}`) {
    case 'GET ':
      return cluster.getNodePool(pool);
    case 'PUT ':
      return cluster.updateNodePool(pool, parse(UpdateNodePoolRequestSchema, body));
    case 'DELETE ':
      return cluster.deleteNodePool(pool);
    case 'POST setSize':
      return cluster.setNodePoolSize(pool, parse(SetNodePoolSizeRequestSchema, body).nodeCount);
    case 'POST setAutoscaling':
      return cluster.setNodePoolAutoscaling(
        pool,
        parse(SetNodePoolAutoscalingRequestSchema, body).autoscaling,
      );
    case 'POST setManagement':
      return cluster.setNodePoolManagement(pool, parse(SetNodePoolManagementRequestSchema, body).management);
    default:
      throw unsupported(method, path);
  }
}

/** `a/b/c:verb` -> [`a/b/c`, `verb`]; custom verbs only follow the last segment. */
function splitVerb(path: string): [string, string] {
  const slash = path.lastIndexOf('/');
  const colon = path.indexOf(':', slash + 1);
  return colon < 0 ? [path, ''] : [path.slice(0, colon), path.slice(colon + 1)];
}

function parse<S extends z.ZodType>(schema: S, body: Buffer): z.output<S> {
  let json: unknown;
  try {
    json = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidArgument(['Request body is not valid JSON.']);
  }
  const result = schema.safeParse(json);
  if (!result.success) throw invalidArgument(zodProblems(result.error));
  return result.data;
}

function unsupported(method: string, path: string): GkeApiError {
  return new GkeApiError('UNIMPLEMENTED', `The local GKE server does not implement ${method} ${path}.`);
}
