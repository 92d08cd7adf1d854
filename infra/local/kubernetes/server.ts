/**
 * HTTP front of the local apiserver: discovery documents, then the REST paths
 * `/api/v1/...` and `/apis/<group>/<version>/...` for the served resources.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from '../common/server';
import type { KubeApi, WriteOptions } from './api';
import { badRequest, failureStatus, KubeApiError } from './errors';
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

async function serveResource(
  api: KubeApi,
  r: Route,
  req: IncomingMessage,
  query: URLSearchParams,
): Promise<{ code: number; body: unknown }> {
  const method = req.method ?? 'GET';
  const raw = method === 'GET' ? '' : (await readBody(req)).toString('utf8');
  const { resource, namespace, name, subresource } = r;
  if (resource.readOnly && method !== 'GET') throw methodNotAllowed(method);

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
    if (method === 'GET') return { code: 200, body: api.list(resource, namespace, query) };
    if (method === 'POST') {
      if (resource.namespaced && namespace === undefined) throw methodNotAllowed(method);
      return api.create(resource, namespace, raw, writeOptions(query));
    }
    throw methodNotAllowed(method);
  }

  switch (method) {
    case 'GET':
      return { code: 200, body: api.get(resource, namespace, name) };
    case 'PUT':
      return api.replace(resource, namespace, name, raw, writeOptions(query));
    case 'PATCH':
      return api.patch(resource, namespace, name, mediaType(req), raw, writeOptions(query));
    case 'DELETE':
      return { code: 200, body: api.delete(resource, namespace, name, raw, writeOptions(query)) };
    default:
      throw methodNotAllowed(method);
  }
}

export function kubernetesHandler(
  api: KubeApi,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const segments = decode(url.pathname.split('/').filter((s) => s !== ''));
    try {
      const [root, ...rest] = segments;
      if (req.method === 'GET' && (root === 'healthz' || root === 'readyz' || root === 'livez')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (req.method === 'GET' && root === 'version' && rest.length === 0) {
        sendJson(res, 200, VERSION);
        return;
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
            const { code, body } = await serveResource(api, r, req, url.searchParams);
            return sendJson(res, code, body);
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
      if (err instanceof KubeApiError) {
        sendJson(res, err.code, err.toStatus());
        return;
      }
      sendJson(res, 500, failureStatus(500, 'InternalError', `local apiserver bug: ${String(err)}`));
    }
  };
}
