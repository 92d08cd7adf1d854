/**
 * A minimal OpenAPI v3 surface, enough for kubectl: `/openapi/v3` lists one document per served
 * group-version, and each document has, per resource, the PATCH operation with its
 * `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter. kubectl's
 * apply/create/replace look exactly for that to decide the server validates fields itself
 * (k8s.io/cli-runtime query_param_verifier_v3.go); without it they fall back to downloading
 * `/openapi/v2` for client-side schema validation. No schemas are served, so `kubectl explain`
 * has nothing to show; /openapi/v2 is not served (404), as on servers that dropped it.
 */
import { createHash } from 'node:crypto';
import { RESOURCES, type ResourceType } from './resources';

function gvPath(r: { group: string; version: string }): string {
  return r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`;
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'];

function patchOperation(r: ResourceType): Record<string, unknown> {
  return {
    description: `partially update the specified ${r.kind}`,
    operationId: `patch${r.namespaced ? 'Namespaced' : ''}${r.kind}`,
    parameters: QUERY_PARAMS.map((name) => ({
      name,
      in: 'query',
      schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true },
    })),
    responses: { '200': { description: 'OK' }, '201': { description: 'Created' } },
    'x-kubernetes-action': 'patch',
    'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
  };
}

function groupVersionDocument(group: string, version: string): Record<string, unknown> | undefined {
  const served = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (served.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of served) {
    const base = `/${gvPath(r)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}/{name}`;
    paths[base] = r.readOnly ? {} : { patch: patchOperation(r) };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.31.0' },
    paths,
    components: { schemas: {} },
  };
}

function hashOf(doc: unknown): string {
  return createHash('sha512').update(JSON.stringify(doc)).digest('hex').toUpperCase().slice(0, 128);
}

/** The document for `/openapi/<rest...>`, or undefined (404). */
export function openApiDocument(rest: readonly string[]): unknown {
  const [v, ...tail] = rest;
  if (v !== 'v3') return undefined;
  if (tail.length === 0) {
    const seen = new Map<string, { serverRelativeURL: string }>();
    for (const r of RESOURCES) {
      const key = gvPath(r);
      if (seen.has(key)) continue;
      seen.set(key, {
        serverRelativeURL: `/openapi/v3/${key}?hash=${hashOf(groupVersionDocument(r.group, r.version))}`,
      });
    }
    return { paths: Object.fromEntries(seen) };
  }
  if (tail[0] === 'api' && tail.length === 2) return groupVersionDocument('', tail[1]!);
  if (tail[0] === 'apis' && tail.length === 3) return groupVersionDocument(tail[1]!, tail[2]!);
  return undefined;
}
