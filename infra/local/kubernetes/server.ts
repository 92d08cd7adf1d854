/**
 * HTTP front of the local apiserver: discovery documents, then the REST paths
 * `/api/v1/...` and `/apis/<group>/<version>/...` for the served resources.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from '../common/server';
import type { KubeApi, WatchEvent, WriteOptions } from './api';
import { badRequest, failureStatus, KubeApiError } from './errors';
import type { JsonObject } from './json';
import { openApiDocument } from './openapi';
import { type TableRequest, tableOf, tableRequest } from './printers';
import { apiGroupList, apiResourceList, apiVersions, findResource, type ResourceType } from './resources';

const VERSION = {
  major: '1',
  minor: '31',
  gitVersion: 'v1.31.0-inferplane-local',
  platform: 'linux/amd64',
};

interface Route {
  resource: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

function decode(segments: string[]): string[] {
  return segments.map((s) => decodeURIComponent(s));
}

/** Resolves the part after `/api/v1` or `/apis/g/v` to a resource, namespace, name and subresource. */
function route(group: string, version: string, rest: string[]): Route | undefined {
  const [a, b, c, d, e, ...extra] = rest;
  if (extra.length > 0 || a === undefined) return undefined;
  if (a === 'namespaces' && c !== undefined) {
    const resource = findResource(group, version, c);
    if (!resource?.namespaced) return undefined;
    return { resource, namespace: b, name: d, subresource: e };
  }
  const resource = findResource(group, version, a);
  if (!resource) return undefined;
  if (resource.namespaced) {
    // Only the all-namespaces list lives outside /namespaces/<ns>/.
    return b === undefined
      ? { resource, namespace: undefined, name: undefined, subresource: undefined }
      : undefined;
  }
  if (d !== undefined || (c !== undefined && b === undefined)) return undefined;
  return { resource, namespace: undefined, name: b, subresource: c };
}

function writeOptions(query: URLSearchParams): WriteOptions {
  const dryRun = query.getAll('dryRun');
  for (const d of dryRun) {
    if (d !== 'All') throw badRequest(`Invalid dry run value: ${d}; valid values are: All`);
  }
  const fieldManager = query.get('fieldManager') ?? undefined;
  if (fieldManager !== undefined && fieldManager.length > 128) {
    throw new KubeApiError(422, 'Invalid', 'fieldManager: Too long: may not be more than 128 bytes');
  }
  const force = query.get('force');
  return { dryRun: dryRun.length > 0, fieldManager, force: force === 'true' || force === '1' };
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function methodNotAllowed(method: string): KubeApiError {
  return new KubeApiError(
    405,
    'MethodNotAllowed',
    `the server does not allow this method on the requested resource (${method})`,
  );
}

/** What a request's handling produced: a JSON answer, or nothing when it streamed (a watch). */
type Answer = { code: number; body: unknown } | undefined;

function isWatch(query: URLSearchParams): boolean {
  const w = query.get('watch');
  return w === 'true' || w === '1';
}

export interface WatchSettings {
  /** How often a watch with `allowWatchBookmarks` gets a BOOKMARK event. */
  bookmarkIntervalMs: number;
  /** Watches without `timeoutSeconds` end after this long (the apiserver's --min-request-timeout). */
  defaultTimeoutSeconds: number;
  /** The open watches' finishers, so the server can end them all (`closeWatches`). */
  open: Set<() => void>;
}

/**
 * Streams a watch as the apiserver does: 200, chunked, one JSON event per line, until the client
 * goes, `timeoutSeconds` passes, or an ERROR event ends it.
 */
function serveWatch(
  api: KubeApi,
  r: Route,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  table: TableRequest | undefined,
  settings: WatchSettings,
): void {
  const timers: NodeJS.Timeout[] = [];
  let stop: () => void = () => {};
  let ended = false;
  const finish = (): void => {
    if (ended) return;
    ended = true;
    settings.open.delete(finish);
    for (const t of timers) clearTimeout(t);
    stop();
    res.end();
  };
  const send = (event: WatchEvent): void => {
    if (ended) return;
    const object =
      table && (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED')
        ? tableOf(r.resource, [event.object], table, {}, api.nowMs())
        : event.object;
    res.write(`${JSON.stringify({ type: event.type, object })}\n`);
  };
  // Selector and version errors answer before the stream starts, as a Status.
  let pendingEnd = false;
  res.writeHead(200, {
    'content-type': 'application/json',
    'transfer-encoding': 'chunked',
    'cache-control': 'no-cache, private',
  });
  res.flushHeaders();
  stop = api.watch(r.resource, r.namespace, query, send, () => {
    pendingEnd = true;
  });
  if (pendingEnd) {
    finish();
    return;
  }
  settings.open.add(finish);
  req.on('close', finish);
  res.on('close', finish);
  const timeoutText = query.get('timeoutSeconds');
  const timeoutSeconds =
    timeoutText !== null && Number(timeoutText) > 0 ? Number(timeoutText) : settings.defaultTimeoutSeconds;
  timers.push(setTimeout(finish, timeoutSeconds * 1000));
  if (query.get('allowWatchBookmarks') === 'true' && settings.bookmarkIntervalMs > 0) {
    const tick = (): void => {
      if (ended) return;
      send({ type: 'BOOKMARK', object: api.bookmark(r.resource) });
      timers.push(setTimeout(tick, settings.bookmarkIntervalMs));
    };
    timers.push(setTimeout(tick, settings.bookmarkIntervalMs));
  }
}

async function serveResource(
  api: KubeApi,
  r: Route,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  settings: WatchSettings,
): Promise<Answer> {
  const method = req.method ?? 'GET';
  const raw = method === 'GET' ? '' : (await readBody(req)).toString('utf8');
  const { resource, namespace, name, subresource } = r;
  if (resource.readOnly && method !== 'GET') throw methodNotAllowed(method);
  const table = tableRequest(req.headers.accept, query);

  if (subresource === 'status' && resource.status && name !== undefined) {
    if (method === 'GET') return { code: 200, body: api.get(resource, namespace, name) };
    if (method === 'PUT')
      return { code: 200, body: api.replaceStatus(resource, namespace, name, raw, writeOptions(query)) };
    if (method === 'PATCH') {
      return {
        code: 200,
        body: api.patchStatus(resource, namespace, name, mediaType(req), raw, writeOptions(query)),
      };
    }
    throw methodNotAllowed(method);
  }
  if (subresource !== undefined) {
    if (subresource !== 'scale' || resource.kind !== 'Deployment' || name === undefined) {
      throw new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (method === 'GET') return { code: 200, body: api.scale(namespace, name) };
    if (method === 'PUT')
      return { code: 200, body: api.replaceScale(namespace, name, raw, writeOptions(query)) };
    if (method === 'PATCH') {
      return { code: 200, body: api.patchScale(namespace, name, mediaType(req), raw, writeOptions(query)) };
    }
    throw methodNotAllowed(method);
  }

  if (name === undefined) {
    if (method === 'GET') {
      if (isWatch(query)) {
        // Validate the selectors before committing to a 200 stream.
        api.checkSelectors(resource, query);
        serveWatch(api, r, req, res, query, table, settings);
        return undefined;
      }
      const list = api.list(resource, namespace, query);
      if (!table) return { code: 200, body: list };
      const items = (list.items as JsonObject[]).map((o) => ({
        apiVersion: list.apiVersion,
        kind: resource.kind,
        ...o,
      }));
      return { code: 200, body: tableOf(resource, items, table, list.metadata as JsonObject, api.nowMs()) };
    }
    if (method === 'POST') {
      if (resource.namespaced && namespace === undefined) throw methodNotAllowed(method);
      return api.create(resource, namespace, raw, writeOptions(query));
    }
    throw methodNotAllowed(method);
  }

  switch (method) {
    case 'GET': {
      if (isWatch(query)) {
        // A watch on one object: the list watch with a metadata.name field selector.
        const q = new URLSearchParams(query);
        const fs = q.get('fieldSelector');
        q.set('fieldSelector', fs ? `${fs},metadata.name=${name}` : `metadata.name=${name}`);
        serveWatch(api, { ...r, name: undefined }, req, res, q, table, settings);
        return undefined;
      }
      const obj = api.get(resource, namespace, name);
      if (!table) return { code: 200, body: obj };
      return {
        code: 200,
        body: tableOf(
          resource,
          [obj],
          table,
          { resourceVersion: String((obj.metadata as JsonObject).resourceVersion) },
          api.nowMs(),
        ),
      };
    }
    case 'PUT':
      return api.replace(resource, namespace, name, raw, writeOptions(query));
    case 'PATCH':
      return api.patch(resource, namespace, name, mediaType(req), raw, writeOptions(query));
    case 'DELETE':
      return api.delete(resource, namespace, name, raw, writeOptions(query), query);
    default:
      throw methodNotAllowed(method);
  }
}

export interface HandlerOptions {
  /** Accepted bearer tokens; any non-empty token when unset. */
  tokens?: readonly string[] | undefined;
  /** Let requests without credentials through (kube-apiserver's --anonymous-auth with allow-all RBAC). */
  anonymous?: boolean | undefined;
  watch: WatchSettings;
}

/** The bearer token a request authenticates with, or undefined when it has none acceptable. */
function authenticated(req: IncomingMessage, opts: HandlerOptions): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return header === '' && opts.anonymous === true;
  return opts.tokens === undefined || opts.tokens.includes(m[1]!);
}

/** Paths any client may read without credentials (system:public-info-viewer). */
function isPublic(method: string | undefined, root: string | undefined, rest: string[]): boolean {
  if (method !== 'GET') return false;
  return (
    root === 'healthz' || root === 'readyz' || root === 'livez' || (root === 'version' && rest.length === 0)
  );
}

export function kubernetesHandler(
  api: KubeApi,
  opts: HandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const segments = decode(url.pathname.split('/').filter((s) => s !== ''));
    try {
      const [root, ...rest] = segments;
      if (!isPublic(req.method, root, rest) && !authenticated(req, opts)) {
        req.resume();
        sendJson(res, 401, failureStatus(401, 'Unauthorized', 'Unauthorized'));
        return;
      }
      if (req.method === 'GET' && (root === 'healthz' || root === 'readyz' || root === 'livez')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (req.method === 'GET' && root === 'version' && rest.length === 0) {
        sendJson(res, 200, VERSION);
        return;
      }
      if (req.method === 'GET' && root === 'openapi') {
        const doc = openApiDocument(rest);
        if (doc) return sendJson(res, 200, doc);
      }
      let group: string | undefined;
      let version: string | undefined;
      let tail: string[] = [];
      if (root === 'api') {
        if (rest.length === 0) return sendJson(res, 200, apiVersions());
        group = '';
        [version, ...tail] = rest;
      } else if (root === 'apis') {
        if (rest.length === 0) return sendJson(res, 200, apiGroupList());
        if (rest.length === 1) {
          const groupDoc = (apiGroupList().groups as { name: string }[]).find((g) => g.name === rest[0]);
          if (groupDoc) return sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc });
        } else {
          [group, version, ...tail] = rest;
        }
      }
      if (group !== undefined && version !== undefined) {
        if (tail.length === 0) {
          const list = apiResourceList(group, version);
          if (list && req.method === 'GET') return sendJson(res, 200, list);
        } else {
          const r = route(group, version, tail);
          if (r) {
            const answer = await serveResource(api, r, req, res, url.searchParams, opts.watch);
            if (answer) sendJson(res, answer.code, answer.body);
            return;
          }
        }
      }
      req.resume();
      sendJson(
        res,
        404,
        failureStatus(404, 'NotFound', 'the server could not find the requested resource', {}),
      );
    } catch (err) {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err instanceof KubeApiError) {
        sendJson(res, err.code, err.toStatus());
        return;
      }
      sendJson(res, 500, failureStatus(500, 'InternalError', `local apiserver bug: ${String(err)}`));
    }
  };
}
