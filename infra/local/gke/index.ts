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
import { type Clock, systemClock } from '../../../shared/runtime/clock';
import { type LocalServer, readBody, sendJson, startLocalServer } from '../common/server';
import { EmulatedCluster } from './cluster';
import { GkeApiError, invalidArgument, notFound, statusOfHttp } from './errors';
import {
  CreateNodePoolRequestSchema,
  type NodePool,
  SetNodePoolAutoscalingRequestSchema,
  SetNodePoolManagementRequestSchema,
  SetNodePoolSizeRequestSchema,
  UpdateNodePoolRequestSchema,
  zodProblems,
} from './model';

export type { NodePool, NodePoolAutoscaling } from './model';
export { NodePoolStatus, OperationStatus, OperationType } from './model';

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
  clock?: Clock;
}

export interface GkeServer extends LocalServer {
  /** `projects/P/locations/L/clusters/C` */
  readonly clusterName: string;
  readonly dir: string;
  /** Applies to operations started afterwards. */
  setOperationPhaseMs(ms: number): void;
  snapshot(): { nodePools: NodePool[] };
}

export async function startGkeServer(opts: GkeServerOptions = {}): Promise<GkeServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'local-gke-'));
  const cluster = new EmulatedCluster({
    dir,
    project: opts.project ?? 'local-project',
    location: opts.location ?? 'us-central1',
    cluster: opts.cluster ?? 'inference',
    operationPhaseMs: opts.operationPhaseMs ?? 50,
    clock: opts.clock ?? systemClock,
  });

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
  };
}

const PREFIX = '/v1/projects/';

async function handle(cluster: EmulatedCluster, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const body = await readBody(req);
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
