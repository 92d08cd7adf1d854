/** Helpers shared by the local apiserver's tests: raw HTTPS requests and bounded polling. */
import { request } from 'node:https';
import type { KubernetesServer } from '../../infra/local/kubernetes/index';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): unknown;
}

/** One HTTPS request that trusts the server's CA; `token: null` sends no Authorization header. */
export function raw(
  server: Pick<KubernetesServer, 'url' | 'caCertificatePem'>,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; token?: string | null } = {},
): Promise<RawResponse> {
  const token = opts.token === undefined ? 'test-token' : opts.token;
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      {
        method: opts.method ?? 'GET',
        ca: server.caCertificatePem,
        headers: {
          ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Polls `probe` until it returns a value other than undefined (bounded: fails after `tries`). */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  tries = 200,
): Promise<T> {
  for (let i = 0; i < tries; i += 1) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export const IMAGE = 'nvcr.io/nvidia/tritonserver:24.08-py3';

export function deploymentBody(name: string, replicas = 1, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name, ...labels } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'triton', image: IMAGE }] },
      },
    },
  };
}
