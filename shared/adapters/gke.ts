/**
 * Node pools of one GKE cluster, over the official `ClusterManagerClient`. A narrow port
 * (`NodePools`) returning plain objects, with every API failure mapped onto the error taxonomy:
 * callers never see a GoogleError or a GaxiosError.
 *
 * The client surfaces failures in two shapes, depending on transport and on the google-gax bug
 * described in infra/local/gke/README.md: a GoogleError with the gRPC code, `reason` and `details`,
 * or an error whose `code` is the HTTP status and whose `message` is the raw JSON error body. Both are
 * classified here.
 */
// The v1 client's own module, not the package's index: the index also loads v1beta1 and the
// generated static protos (protos.js, 12 MB of JavaScript), which the REST client never uses; it
// reads its descriptors from protos.json. ~0.1-0.17 s of a tick's cold start (the same class).
import { ClusterManagerClient } from '@google-cloud/container/build/src/v1/cluster_manager_client.js';
import { OAuth2Client } from 'google-auth-library';
import type { NodePool, NodePoolAutoscaling } from '../domain/plan';
import type { KubeObjects } from '../ports/kubernetes';
import {
  CLUSTER_ALREADY_HAS_OPERATION,
  ClusterBusyError,
  type ClusterInfo,
  type ClusterOperation,
  NodePoolNotFoundError,
  type NodePools,
  type NodePoolUpdate,
  type OperationStatus,
} from '../ports/nodepools';
import { type ControlPlaneError, PermanentError, RetryableError } from '../runtime/errors';

/**
 * Where the live node count of a pool comes from. The v1 NodePool keeps `initialNodeCount` at its
 * creation value; the live size is in the pool's instance groups. Kubernetes sees the same nodes:
 * each carries the label `cloud.google.com/gke-nodepool=<pool>` (see `kubernetesNodeCount`).
 */
export type NodeCountSource = (pool: NodePool) => Promise<number | undefined>;

export const unknownNodeCount: NodeCountSource = async () => undefined;

export const GKE_NODEPOOL_LABEL = 'cloud.google.com/gke-nodepool';
const ZONE_LABEL = 'topology.kubernetes.io/zone';

/**
 * Live nodes per zone, counted from the cluster's Node objects. When the zones differ (a stockout
 * left one short) there is no single per-zone count: undefined, so a fixed-size pool gets its
 * (idempotent) setSize planned again.
 */
export function kubernetesNodeCount(kube: KubeObjects): NodeCountSource {
  return async (pool) => {
    const name = pool.name ?? '';
    const nodes = await kube.list('v1', 'Node', undefined, `${GKE_NODEPOOL_LABEL}=${name}`);
    const zones = pool.locations && pool.locations.length > 0 ? [...pool.locations] : undefined;
    const perZone = new Map<string, number>((zones ?? []).map((z) => [z, 0]));
    for (const node of nodes) {
      const zone = node.metadata.labels?.[ZONE_LABEL] ?? '';
      perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
    }
    const counts = [...perZone.values()];
    if (counts.length === 0) return 0;
    return counts.every((c) => c === counts[0]) ? counts[0] : undefined;
  };
}

type ClientOptions = NonNullable<ConstructorParameters<typeof ClusterManagerClient>[0]>;

/**
 * The GKE API over REST (`fallback: true`), in production and against a local server alike; only
 * the endpoint (`http://127.0.0.1:PORT` for the local cloud) and the credentials differ: a fixed
 * `accessToken`, or Application Default Credentials. With the token, `validateStatus: () => true`
 * lets google-gax decode HTTP errors itself (googleapis/gax-nodejs#1803); with ADC the client's own
 * transporter is used and the adapter classifies the other error shape (see `apiErrorFacts`).
 */
export function createContainerClient(
  opts: { endpoint?: string; accessToken?: string } = {},
): ClusterManagerClient {
  const u = opts.endpoint ? new URL(opts.endpoint) : undefined;
  // google-gax bundles its own google-auth-library: same class at runtime, two declarations to tsc.
  const authClient = opts.accessToken
    ? (new OAuth2Client({
        credentials: { access_token: opts.accessToken },
        transporterOptions: { validateStatus: () => true },
      }) as unknown as ClientOptions['authClient'])
    : undefined;
  return new ClusterManagerClient({
    fallback: true,
    ...(u
      ? {
          protocol: u.protocol.replace(/:$/, ''),
          apiEndpoint: u.hostname,
          port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
        }
      : {}),
    ...(authClient ? { authClient } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Errors

const GRPC_STATUS = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

const TRANSIENT_STATUSES = new Set([
  'UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'INTERNAL',
  'RESOURCE_EXHAUSTED',
  'ABORTED',
  'UNKNOWN',
  // Besides a busy cluster, GKE answers FAILED_PRECONDITION for a pool that is still provisioning
  // or being repaired: a later attempt succeeds.
  'FAILED_PRECONDITION',
]);

const TRANSPORT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** What can be told about a failed call, whichever shape the client gave it. */
export interface ApiErrorFacts {
  /** Canonical status name (`FAILED_PRECONDITION`), from the gRPC code or the JSON body. */
  status: string | undefined;
  httpStatus: number | undefined;
  /** ErrorInfo reason. */
  reason: string | undefined;
  message: string;
  /** Node-level transport error code (`ECONNRESET`). */
  transport: string | undefined;
  /** The operation named by a busy-cluster error. */
  operation: string | undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `{"error":{code,message,status,details}}`, as gaxios leaves it in `message` when it throws first. */
function parseErrorBody(text: string): Record<string, unknown> | undefined {
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  try {
    return record(record(JSON.parse(text.slice(start)))?.error);
  } catch {
    return undefined;
  }
}

function reasonOfDetails(details: unknown): string | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    const reason = str(record(d)?.reason);
    if (reason) return reason;
  }
  return undefined;
}

export function apiErrorFacts(err: unknown): ApiErrorFacts {
  const e = record(err) ?? {};
  const rawMessage = err instanceof Error ? err.message : String(err);
  const body = parseErrorBody(rawMessage) ?? record(record(record(e.response)?.data)?.error);
  const code = e.code;
  let status: string | undefined;
  let httpStatus: number | undefined;
  let transport: string | undefined;
  if (typeof code === 'number' && code >= 0 && code < GRPC_STATUS.length) status = GRPC_STATUS[code];
  else if (typeof code === 'number' && code >= 100) httpStatus = code;
  else if (typeof code === 'string') transport = code;
  const responseStatus = record(e.response)?.status;
  if (httpStatus === undefined && typeof responseStatus === 'number') httpStatus = responseStatus;
  if (typeof body?.code === 'number') httpStatus ??= body.code;
  status ??= str(body?.status);
  const causeCode = str(record(e.cause)?.code) ?? str(record(record(e.error)?.cause)?.code);
  transport ??= causeCode;
  const message = str(body?.message) ?? rawMessage;
  const reason = str(e.reason) ?? reasonOfDetails(e.statusDetails) ?? reasonOfDetails(body?.details);
  const operation = /\b(operation-[\w-]+)/.exec(message)?.[1];
  return { status, httpStatus, reason, message, transport, operation };
}

/** Busy cluster: the ErrorInfo reason, or the wording of the message (current and older). */
export function isClusterBusy(facts: ApiErrorFacts): boolean {
  if (facts.reason === CLUSTER_ALREADY_HAS_OPERATION) return true;
  const maybePrecondition =
    facts.status === 'FAILED_PRECONDITION' || facts.httpStatus === 400 || facts.status === undefined;
  if (!maybePrecondition) return false;
  return (
    facts.message.includes(CLUSTER_ALREADY_HAS_OPERATION) ||
    /running incompatible operation/i.test(facts.message) ||
    /is currently .* Please wait and try again/i.test(facts.message)
  );
}

export interface ErrorContext {
  /** The API call, e.g. `createNodePool`. */
  call: string;
  pool?: string;
}

/** Maps any failure of the client onto the taxonomy; `NOT_FOUND` becomes NodePoolNotFoundError. */
export function classifyContainerError(err: unknown, ctx: ErrorContext): ControlPlaneError {
  const facts = apiErrorFacts(err);
  const what = ctx.pool ? `${ctx.call} on node pool ${ctx.pool}` : ctx.call;
  const details: Record<string, unknown> = {
    call: ctx.call,
    ...(ctx.pool ? { pool: ctx.pool } : {}),
    ...(facts.status ? { apiStatus: facts.status } : {}),
    ...(facts.httpStatus ? { httpStatus: facts.httpStatus } : {}),
    ...(facts.reason ? { apiReason: facts.reason } : {}),
  };
  if (isClusterBusy(facts)) {
    return new ClusterBusyError(`${what}: cluster busy: ${facts.message}`, {
      cause: err,
      details: { ...details, ...(facts.operation ? { operation: facts.operation } : {}) },
      ...(facts.operation ? { operation: facts.operation } : {}),
    });
  }
  const status = facts.status;
  const http = facts.httpStatus;
  if (status === 'NOT_FOUND' || (status === undefined && http === 404)) {
    return new NodePoolNotFoundError('NOT_FOUND', `${what}: not found: ${facts.message}`, {
      cause: err,
      details,
    });
  }
  if (facts.transport && TRANSPORT_CODES.has(facts.transport)) {
    return new RetryableError('GKE_CONNECTION_FAILED', `${what}: ${facts.transport}: ${facts.message}`, {
      cause: err,
      details: { ...details, transport: facts.transport },
    });
  }
  const transient =
    (status !== undefined && TRANSIENT_STATUSES.has(status)) ||
    (status === undefined && http !== undefined && (http >= 500 || http === 429 || http === 408));
  if (transient) {
    return new RetryableError(status ?? `HTTP_${http}`, `${what} failed (retryable): ${facts.message}`, {
      cause: err,
      details,
    });
  }
  if (status !== undefined || http !== undefined) {
    return new PermanentError(status ?? `HTTP_${http}`, `${what} refused: ${facts.message}`, {
      cause: err,
      details,
    });
  }
  // No code at all: not an API answer (a bug, an aborted fetch). Redelivery is the safe default.
  return new RetryableError('GKE_CALL_FAILED', `${what} failed: ${facts.message}`, { cause: err, details });
}

// ---------------------------------------------------------------------------------------------
// Adapter

const OPERATION_STATUSES: readonly OperationStatus[] = [
  'STATUS_UNSPECIFIED',
  'PENDING',
  'RUNNING',
  'DONE',
  'ABORTING',
];

function enumName<T extends string>(value: unknown, names: readonly T[]): string {
  if (typeof value === 'number') return names[value] ?? String(value);
  if (typeof value === 'string') return value;
  return names[0] ?? '';
}

/** Message objects of the client become plain JSON data (no prototypes, longs as strings). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export interface GkeNodePoolsOptions {
  nodeCount?: NodeCountSource;
}

export class GkeNodePools implements NodePools {
  readonly clusterName: string;
  readonly #client: ClusterManagerClient;
  readonly #locationPath: string;
  readonly #nodeCount: NodeCountSource;

  constructor(client: ClusterManagerClient, clusterName: string, options: GkeNodePoolsOptions = {}) {
    const m = /^(projects\/[^/]+\/locations\/[^/]+)\/clusters\/[^/]+$/.exec(clusterName);
    if (!m?.[1]) throw new PermanentError('INVALID_CLUSTER', `not a cluster path: ${clusterName}`);
    this.clusterName = clusterName;
    this.#locationPath = m[1];
    this.#client = client;
    this.#nodeCount = options.nodeCount ?? unknownNodeCount;
  }

  #poolPath(name: string): string {
    return `${this.clusterName}/nodePools/${name}`;
  }

  async #call<T>(ctx: ErrorContext, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyContainerError(err, ctx);
    }
  }

  async getCluster(): Promise<ClusterInfo> {
    const [c] = await this.#call({ call: 'getCluster' }, () =>
      this.#client.getCluster({ name: this.clusterName }),
    );
    return {
      name: c.name ?? '',
      location: c.location ?? '',
      locations: [...(c.locations ?? [])],
      status: enumName(c.status, [
        'STATUS_UNSPECIFIED',
        'PROVISIONING',
        'RUNNING',
        'RECONCILING',
        'STOPPING',
        'ERROR',
        'DEGRADED',
      ]),
      currentNodeCount: Number(c.currentNodeCount ?? 0),
      ...(c.binaryAuthorization
        ? {
            binaryAuthorization: {
              evaluationMode: enumName(c.binaryAuthorization.evaluationMode, [
                'EVALUATION_MODE_UNSPECIFIED',
                'DISABLED',
                'PROJECT_SINGLETON_POLICY_ENFORCE',
                'POLICY_BINDINGS',
                'POLICY_BINDINGS_AND_PROJECT_SINGLETON_POLICY_ENFORCE',
              ]),
              enabled: c.binaryAuthorization.enabled === true,
            },
          }
        : {}),
    };
  }

  async list(): Promise<NodePool[]> {
    const [res] = await this.#call({ call: 'listNodePools' }, () =>
      this.#client.listNodePools({ parent: this.clusterName }),
    );
    return plain(res.nodePools ?? []);
  }

  async get(name: string): Promise<NodePool | undefined> {
    try {
      const [pool] = await this.#call({ call: 'getNodePool', pool: name }, () =>
        this.#client.getNodePool({ name: this.#poolPath(name) }),
      );
      return plain(pool);
    } catch (err) {
      if (err instanceof NodePoolNotFoundError) return undefined;
      throw err;
    }
  }

  nodeCountPerZone(pool: NodePool): Promise<number | undefined> {
    return this.#nodeCount(pool);
  }

  async create(pool: NodePool): Promise<ClusterOperation> {
    const [op] = await this.#call({ call: 'createNodePool', pool: pool.name ?? '' }, () =>
      this.#client.createNodePool({ parent: this.clusterName, nodePool: pool }),
    );
    return this.#operation(op);
  }

  async setAutoscaling(name: string, autoscaling: NodePoolAutoscaling): Promise<ClusterOperation> {
    const [op] = await this.#call({ call: 'setNodePoolAutoscaling', pool: name }, () =>
      this.#client.setNodePoolAutoscaling({ name: this.#poolPath(name), autoscaling }),
    );
    return this.#operation(op);
  }

  async setSize(name: string, nodeCount: number): Promise<ClusterOperation> {
    const [op] = await this.#call({ call: 'setNodePoolSize', pool: name }, () =>
      this.#client.setNodePoolSize({ name: this.#poolPath(name), nodeCount }),
    );
    return this.#operation(op);
  }

  async update(name: string, changes: NodePoolUpdate): Promise<ClusterOperation> {
    // Only the fields being changed: nodeVersion "-" would mean "the master's version", an upgrade.
    const request = {
      name: this.#poolPath(name),
      ...(changes.labels ? { labels: { labels: { ...changes.labels } } } : {}),
      ...(changes.taints ? { taints: { taints: changes.taints.map((t) => ({ ...t })) } } : {}),
      ...(changes.locations ? { locations: [...changes.locations] } : {}),
    };
    const [op] = await this.#call({ call: 'updateNodePool', pool: name }, () =>
      this.#client.updateNodePool(request as Parameters<ClusterManagerClient['updateNodePool']>[0]),
    );
    return this.#operation(op);
  }

  async delete(name: string): Promise<ClusterOperation> {
    const [op] = await this.#call({ call: 'deleteNodePool', pool: name }, () =>
      this.#client.deleteNodePool({ name: this.#poolPath(name) }),
    );
    return this.#operation(op);
  }

  async getOperation(name: string): Promise<ClusterOperation> {
    const path = name.includes('/') ? name : `${this.#locationPath}/operations/${name}`;
    const [op] = await this.#call({ call: 'getOperation' }, () => this.#client.getOperation({ name: path }));
    return this.#operation(op);
  }

  async listRunningOperations(): Promise<ClusterOperation[]> {
    const [res] = await this.#call({ call: 'listOperations' }, () =>
      this.#client.listOperations({ parent: this.#locationPath }),
    );
    // Real target links may name the project by number and use `zones/` for the location, so only
    // the cluster id is compared; the listing is already scoped to this project and location.
    const clusterId = this.clusterName.slice(this.clusterName.lastIndexOf('/') + 1);
    const ofCluster = new RegExp(`/clusters/${clusterId.replace(/[^\w-]/g, '')}(/|$)`);
    return (res.operations ?? [])
      .map((op) => this.#operation(op))
      .filter((op) => op.status !== 'DONE' && ofCluster.test(op.targetLink));
  }

  #operation(op: {
    name?: string | null;
    operationType?: unknown;
    status?: unknown;
    statusMessage?: string | null;
    targetLink?: string | null;
    error?: { code?: number | null; message?: string | null } | null;
    startTime?: string | null;
    endTime?: string | null;
  }): ClusterOperation {
    const name = op.name ?? '';
    const targetLink = op.targetLink ?? '';
    const error =
      op.error && (op.error.code || op.error.message)
        ? { code: Number(op.error.code ?? 0), message: op.error.message ?? '' }
        : undefined;
    return {
      name,
      path: `${this.#locationPath}/operations/${name}`,
      operationType: enumName(op.operationType, ['TYPE_UNSPECIFIED']),
      status: enumName(op.status, OPERATION_STATUSES) as OperationStatus,
      statusMessage: op.statusMessage ?? '',
      targetLink,
      pool: /\/nodePools\/([^/]+)$/.exec(targetLink)?.[1],
      error,
      startTime: op.startTime || undefined,
      endTime: op.endTime || undefined,
    };
  }
}
