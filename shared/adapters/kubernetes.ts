/**
 * Kubernetes objects of one cluster, over the official `@kubernetes/client-node` 1.x
 * `KubernetesObjectApi`. A narrow port (`KubeObjects`) that takes and returns plain JSON.
 *
 * Why not `KubernetesObjectApi.patch/read` as they are: they pass bodies and responses through the
 * client's typed model serializer, which drops every field its model does not know and renames
 * others (`NetworkPolicyIngressRule.from` becomes `_from`, so a NetworkPolicy would be applied with
 * its peers silently removed, i.e. allow-nothing; timestamps become Date objects). The subclass
 * below keeps the client's discovery (kind -> plural, namespaced), auth and transport, and sends
 * and reads the JSON untouched.
 *
 * Failures surface as `KubeApiError` (an HTTP answer, with the apiserver's Status reason, message
 * and causes, and Retry-After) or `KubeConnectionError` (no answer): never as client exceptions.
 */
import { Agent as HttpsAgent } from 'node:https';
import {
  HttpMethod,
  KubeConfig,
  KubernetesObjectApi,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { GoogleAuth } from 'google-auth-library';
import { z } from 'zod';
import type { KubernetesObject } from '../domain/plan';
import {
  type ApplyOptions,
  KubeApiError,
  KubeConnectionError,
  type KubeObjects,
  type LiveObject,
  type ObjectRef,
  type WorkloadScale,
} from '../ports/kubernetes';
import { ConfigurationError } from '../runtime/errors';

// ---------------------------------------------------------------------------------------------
// Errors

const StatusCause = z.looseObject({
  reason: z.string().optional(),
  message: z.string().optional(),
  field: z.string().optional(),
});

const StatusBody = z.looseObject({
  kind: z.literal('Status'),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
  details: z.looseObject({ causes: z.array(StatusCause).optional() }).optional(),
});

async function errorFromResponse(response: ResponseContext): Promise<KubeApiError> {
  const text = await response.body.text();
  let parsed: z.infer<typeof StatusBody> | undefined;
  try {
    const result = StatusBody.safeParse(JSON.parse(text));
    parsed = result.success ? result.data : undefined;
  } catch {
    parsed = undefined;
  }
  const causes = (parsed?.details?.causes ?? []).map((c) => ({
    reason: c.reason,
    message: c.message,
    field: c.field,
  }));
  return new KubeApiError({
    code: response.httpStatusCode,
    statusReason: parsed?.reason ?? '',
    apiMessage: parsed?.message ?? (text.slice(0, 500) || 'no response body'),
    causes,
    retryAfter: response.headers['retry-after'],
  });
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

/** node-fetch's FetchError (type `system`), socket errors and aborts (timeouts) are connection errors. */
function toConnectionError(err: unknown): KubeConnectionError | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown; type?: unknown; errno?: unknown };
  const code = typeof e.code === 'string' ? e.code : typeof e.errno === 'string' ? e.errno : undefined;
  if (
    e.type === 'system' ||
    e.name === 'AbortError' ||
    e.name === 'TimeoutError' ||
    (code !== undefined && CONNECTION_CODES.has(code)) ||
    /socket hang up/i.test(e.message)
  ) {
    return new KubeConnectionError(`no answer from the Kubernetes API: ${e.message}`, err);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Raw JSON access over KubernetesObjectApi

const LiveObjectSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
});

const ListSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  items: z.array(z.looseObject({ metadata: z.looseObject({ name: z.string() }) })).nullish(),
  metadata: z.looseObject({ continue: z.string().optional() }).optional(),
});

function asLive(value: unknown, what: string): LiveObject {
  const parsed = LiveObjectSchema.safeParse(value);
  if (!parsed.success) {
    throw new KubeConnectionError(`unexpected ${what} response from the Kubernetes API`, parsed.error);
  }
  return parsed.data as LiveObject;
}

/**
 * KubernetesObjectApi with JSON in and out. `processResponse` is overridden so that every call,
 * including the base class's discovery requests, yields parsed JSON or a KubeApiError.
 */
class RawObjectApi extends KubernetesObjectApi {
  requestTimeoutMs = 30_000;

  static make(kc: KubeConfig): RawObjectApi {
    const api = kc.makeApiClient(RawObjectApi);
    api.setDefaultNamespace(kc);
    return api;
  }

  protected override async processResponse<T>(response: ResponseContext): Promise<T> {
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) {
      const text = await response.body.text();
      return (text ? JSON.parse(text) : {}) as T;
    }
    throw await errorFromResponse(response);
  }

  async #path(ref: ObjectRef, action: 'read' | 'patch' | 'delete' | 'list'): Promise<string> {
    // specUriPath fills a default namespace into the spec it is given: hand it a copy.
    return this.specUriPath(
      {
        apiVersion: ref.apiVersion,
        kind: ref.kind,
        metadata: {
          ...(ref.name ? { name: ref.name } : {}),
          ...(ref.namespace ? { namespace: ref.namespace } : {}),
        },
      },
      action,
    );
  }

  #context(path: string, method: HttpMethod): RequestContext {
    const ctx = this.configuration.baseServer.makeRequestContext(path, method);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setSignal(AbortSignal.timeout(this.requestTimeoutMs));
    return ctx;
  }

  async readJson(ref: ObjectRef): Promise<unknown> {
    const ctx = this.#context(await this.#path(ref, 'read'), HttpMethod.GET);
    return this.requestPromise(ctx);
  }

  async applyJson(obj: KubernetesObject, opts: Required<ApplyOptions>): Promise<unknown> {
    const ref = { apiVersion: obj.apiVersion, kind: obj.kind, ...obj.metadata };
    const ctx = this.#context(await this.#path(ref, 'patch'), HttpMethod.PATCH);
    // JSON is YAML, so the body goes out exactly as built.
    ctx.setHeaderParam('Content-Type', 'application/apply-patch+yaml');
    ctx.setQueryParam('fieldManager', opts.fieldManager);
    if (opts.force) ctx.setQueryParam('force', 'true');
    if (opts.dryRun) ctx.setQueryParam('dryRun', 'All');
    ctx.setBody(JSON.stringify(obj));
    return this.requestPromise(ctx);
  }

  async readScaleJson(ref: ObjectRef): Promise<unknown> {
    const ctx = this.#context(`${await this.#path(ref, 'read')}/scale`, HttpMethod.GET);
    return this.requestPromise(ctx);
  }

  async replaceScaleJson(ref: ObjectRef, body: unknown, fieldManager: string): Promise<unknown> {
    const ctx = this.#context(`${await this.#path(ref, 'read')}/scale`, HttpMethod.PUT);
    ctx.setHeaderParam('Content-Type', 'application/json');
    ctx.setQueryParam('fieldManager', fieldManager);
    ctx.setBody(JSON.stringify(body));
    return this.requestPromise(ctx);
  }

  async deleteJson(ref: ObjectRef, dryRun: boolean): Promise<unknown> {
    const ctx = this.#context(await this.#path(ref, 'delete'), HttpMethod.DELETE);
    if (dryRun) ctx.setQueryParam('dryRun', 'All');
    return this.requestPromise(ctx);
  }

  async listJson(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    labelSelector: string | undefined,
    continueToken: string | undefined,
  ): Promise<unknown> {
    const path = await this.#path({ apiVersion, kind, name: '', namespace }, 'list');
    const ctx = this.#context(path, HttpMethod.GET);
    if (labelSelector) ctx.setQueryParam('labelSelector', labelSelector);
    if (continueToken) ctx.setQueryParam('continue', continueToken);
    ctx.setQueryParam('limit', '500');
    return this.requestPromise(ctx);
  }
}

const ScaleSchema = z.object({
  metadata: z.object({ resourceVersion: z.string().optional() }).optional(),
  spec: z.object({ replicas: z.number().int().optional() }).optional(),
  status: z.object({ replicas: z.number().int().optional() }).optional(),
});

function scaleOf(raw: unknown): WorkloadScale {
  const parsed = ScaleSchema.safeParse(raw);
  if (!parsed.success) throw new KubeConnectionError('unexpected Scale response', parsed.error);
  return {
    replicas: parsed.data.spec?.replicas ?? 0,
    currentReplicas: parsed.data.status?.replicas ?? 0,
    resourceVersion: parsed.data.metadata?.resourceVersion ?? '',
  };
}

export interface KubeObjectsOptions {
  /** Field manager for server-side apply when `apply` names none. */
  fieldManager?: string;
  /** Per-request timeout; a timed-out request is a KubeConnectionError. */
  requestTimeoutMs?: number;
}

export const DEFAULT_FIELD_MANAGER = 'inferplane';

/** `KubeObjects` over a KubeConfig (see `createKubeConfig`). Build once per process and reuse. */
export function createKubeObjects(kc: KubeConfig, options: KubeObjectsOptions = {}): KubeObjects {
  const api = RawObjectApi.make(kc);
  if (options.requestTimeoutMs !== undefined) api.requestTimeoutMs = options.requestTimeoutMs;
  const fieldManager = options.fieldManager ?? DEFAULT_FIELD_MANAGER;

  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof KubeApiError) throw err;
      const connection = toConnectionError(err);
      if (connection) throw connection;
      if (err instanceof Error && /Unrecognized API version and kind/.test(err.message)) {
        throw new KubeApiError({ code: 404, statusReason: 'NotFound', apiMessage: err.message });
      }
      throw err;
    }
  }

  return {
    async get(ref) {
      try {
        return asLive(await call(() => api.readJson(ref)), 'get');
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) return undefined;
        throw err;
      }
    },

    async apply(obj, opts = {}) {
      const body = await call(() =>
        api.applyJson(obj, {
          dryRun: opts.dryRun ?? false,
          fieldManager: opts.fieldManager ?? fieldManager,
          force: opts.force ?? false,
        }),
      );
      return asLive(body, 'apply');
    },

    async delete(ref, opts = {}) {
      try {
        await call(() => api.deleteJson(ref, opts.dryRun ?? false));
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) return false;
        throw err;
      }
    },

    async getScale(ref) {
      try {
        return scaleOf(await call(() => api.readScaleJson(ref)));
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) return undefined;
        throw err;
      }
    },

    async setScale(ref, replicas, opts = {}) {
      const body = {
        apiVersion: 'autoscaling/v1',
        kind: 'Scale',
        metadata: {
          name: ref.name,
          ...(ref.namespace ? { namespace: ref.namespace } : {}),
          ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}),
        },
        spec: { replicas },
      };
      return scaleOf(await call(() => api.replaceScaleJson(ref, body, fieldManager)));
    },

    async list(apiVersion, kind, namespace, labelSelector) {
      const out: LiveObject[] = [];
      let token: string | undefined;
      do {
        const raw = await call(() => api.listJson(apiVersion, kind, namespace, labelSelector, token));
        const parsed = ListSchema.safeParse(raw);
        if (!parsed.success) {
          throw new KubeConnectionError(`unexpected list response for ${apiVersion} ${kind}`, parsed.error);
        }
        // List items carry no apiVersion/kind on the wire; the list does.
        for (const item of parsed.data.items ?? []) {
          out.push(asLive({ apiVersion, kind, ...item }, 'list'));
        }
        token = parsed.data.metadata?.continue || undefined;
      } while (token);
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// KubeConfig

export interface KubeConfigOptions {
  /** A GKE cluster: `Cluster.endpoint` (IP or host[:port]) and `masterAuth.clusterCaCertificate` (base64 PEM). */
  cluster: { endpoint: string; caCertificate: string };
  /**
   * Bearer token source for `cluster`. Called before every request; defaults to Application
   * Default Credentials (see `googleAccessToken`).
   */
  token?: () => Promise<string>;
  /** Namespace used for namespaced objects that name none. */
  namespace?: string;
}

const AUTH_PROVIDER = 'inferplane-google-adc';

/**
 * A KubeConfig whose requests share connections. @kubernetes/client-node 1.x builds a new
 * `https.Agent` for every request (KubeConfig.applySecurityAuthentication), so every call opened a
 * new TCP connection and TLS handshake (and parsed the CA again). This keeps one keep-alive agent
 * per set of TLS options (the cluster CA, client certificate, server name, verification) and
 * hands it to every request instead; agents of a proxy configuration are left as they are. Idle
 * pooled sockets do not keep the process alive (Node unrefs them).
 */
class ReusingKubeConfig extends KubeConfig {
  readonly #agents = new Map<string, HttpsAgent>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    if (!(made instanceof HttpsAgent) || made.constructor !== HttpsAgent) return;
    const o = made.options;
    const key = JSON.stringify([
      String(o.ca ?? ''),
      String(o.cert ?? ''),
      String(o.key ?? ''),
      String(o.pfx ?? ''),
      o.rejectUnauthorized ?? null,
      o.servername ?? null,
    ]);
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = new HttpsAgent({ ...o, keepAlive: true });
      this.#agents.set(key, agent);
    }
    context.setAgent(agent);
  }
}

/**
 * Access tokens from Application Default Credentials (the Cloud Run service account, or
 * `gcloud auth application-default login` locally), scoped for cloud-platform, which GKE accepts
 * as a Kubernetes bearer token (RBAC then maps the Google identity). google-auth-library caches
 * the token and refreshes it shortly before expiry, so calling this per request costs nothing
 * once warm and never sends an expired token.
 */
export function googleAccessToken(): () => Promise<string> {
  const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  return async () => {
    const token = await auth.getAccessToken();
    if (!token)
      throw new ConfigurationError('NO_CREDENTIALS', 'Application Default Credentials gave no access token');
    return token;
  };
}

/**
 * A KubeConfig for a GKE cluster's apiserver (the local cloud's is one too: HTTPS, its own CA, a
 * bearer token).
 *
 * The token is not baked into the KubeConfig (it would expire after an hour in a warm Cloud Run
 * instance): a custom authenticator asks `token()` on every request, the way the
 * `gke-gcloud-auth-plugin` exec plugin does for kubectl, minus the subprocess. TLS verification
 * against the cluster CA stays on.
 */
export function createKubeConfig(opts: KubeConfigOptions): KubeConfig {
  const namespace = opts.namespace ?? 'default';
  const kc = new ReusingKubeConfig();
  const { endpoint, caCertificate } = opts.cluster;
  if (!endpoint || !caCertificate) {
    throw new ConfigurationError(
      'INVALID_KUBE_CLUSTER',
      'a GKE cluster needs both endpoint and caCertificate',
    );
  }
  const server = /^https?:\/\//.test(endpoint) ? endpoint : `https://${endpoint}`;
  const token = opts.token ?? googleAccessToken();
  kc.loadFromOptions({
    clusters: [{ name: 'gke', server, caData: caCertificate, skipTLSVerify: false }],
    users: [{ name: 'gke', authProvider: { name: AUTH_PROVIDER, config: {} } }],
    contexts: [{ name: 'gke', cluster: 'gke', user: 'gke', namespace }],
    currentContext: 'gke',
  });
  kc.addAuthenticator({
    isAuthProvider: (user) => {
      const provider: unknown = user.authProvider;
      return (
        typeof provider === 'object' &&
        provider !== null &&
        'name' in provider &&
        provider.name === AUTH_PROVIDER
      );
    },
    applyAuthentication: async (_user, requestOptions) => {
      const headers = (requestOptions.headers ?? {}) as Record<
        string,
        string | string[] | number | undefined
      >;
      headers.Authorization = `Bearer ${await token()}`;
      requestOptions.headers = headers;
    },
  });
  return kc;
}
