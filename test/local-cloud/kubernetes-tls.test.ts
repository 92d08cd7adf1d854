/**
 * The local apiserver is reached as a GKE control plane is: HTTPS with the cluster's own CA and
 * a bearer token, via the unmodified client-node KubeConfig.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubernetesServer,
  localKubeConfig,
  startKubernetesServer,
  writeKubeconfig,
} from '../../infra/local/kubernetes/index';
import { serialNumber } from '../../infra/local/kubernetes/tls';
import { raw } from './kubernetes-support';

async function codeOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

describe('local apiserver: TLS and bearer tokens', () => {
  let server: KubernetesServer;

  beforeAll(async () => {
    server = await startKubernetesServer({ port: 0 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('serves HTTPS with a certificate for 127.0.0.1 and localhost signed by its CA', () => {
    // Act
    const ca = new X509Certificate(server.caCertificatePem);

    // Assess
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(server.endpoint).toBe(server.url.slice('https://'.length));
    expect(Buffer.from(server.caCertificateBase64, 'base64').toString('utf8')).toBe(server.caCertificatePem);
    expect(ca.ca).toBe(true);
  });

  it('is reached with localKubeConfig: CA data, a bearer token, context namespace default', async () => {
    // Prepare
    const kc = localKubeConfig(server, { token: 'abc' });

    // Act
    const ns = await kc.makeApiClient(CoreV1Api).readNamespace({ name: 'default' });

    // Assess
    expect(ns.metadata?.name).toBe('default');
    expect(kc.getCurrentCluster()).toMatchObject({ server: server.url, skipTLSVerify: false });
    expect(kc.getCurrentUser()).toMatchObject({ name: 'token', token: 'abc' });
    expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe('default');
  });

  it('answers 401 with an Unauthorized Status to a request without a bearer token', async () => {
    // Act
    const res = await raw(server, '/api/v1/namespaces', { token: null });
    const health = await raw(server, '/healthz', { token: null });

    // Assess
    expect(res.status).toBe(401);
    expect(res.json()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    expect(health.status).toBe(200);
  });

  it('refuses a client that does not trust its CA', async () => {
    // Prepare
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: server.url, skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });

    // Act
    const outcome = await kc
      .makeApiClient(CoreV1Api)
      .readNamespace({ name: 'default' })
      .then(
        () => 'accepted',
        (err: unknown) => String(err),
      );

    // Assess
    expect(outcome).toMatch(/certificate/i);
  });

  it('writes a kubeconfig that KubeConfig.loadFromFile reads back to a working client', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    const file = join(dir, 'config');
    writeKubeconfig(file, server, { token: 'from-file', namespace: 'kube-system' });

    // Act
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    const list = await kc.makeApiClient(CoreV1Api).listNamespace();

    // Assess
    expect(list.items.map((n) => n.metadata?.name)).toContain('kube-system');
    expect(kc.getCurrentUser()?.token).toBe('from-file');
    expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe('kube-system');
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('local apiserver: token restriction, anonymous access and a persisted CA', () => {
  it.each<[string, string[] | undefined, string, number]>([
    ['an accepted token', ['good'], 'good', 200],
    ['a token not in the list', ['good'], 'bad', 401],
    ['any token by default', undefined, 'whatever', 200],
  ])('%s', async (_name, tokens, token, code) => {
    // Prepare
    const server = await startKubernetesServer({ port: 0, ...(tokens ? { tokens } : {}) });

    // Act
    const got = await codeOf(localKubeConfig(server, { token }).makeApiClient(CoreV1Api).listNamespace());

    // Assess
    expect(got).toBe(code);
    await server.close();
  });

  it('lets requests without credentials in when anonymous is set', async () => {
    // Prepare
    const server = await startKubernetesServer({ port: 0, anonymous: true });

    // Act
    const res = await raw(server, '/api/v1/namespaces/default', { token: null });
    const wrong = await startKubernetesServer({ port: 0, anonymous: true, tokens: ['only'] });
    const badToken = await raw(wrong, '/api/v1/namespaces/default', { token: 'other' });

    // Assess
    expect(res.status).toBe(200);
    expect(badToken.status).toBe(401);
    await server.close();
    await wrong.close();
  });

  it('keeps the same CA across a restart when dir is given, and a new dir gets a new CA', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'kube-ca-'));
    const other = mkdtempSync(join(tmpdir(), 'kube-ca-'));
    const first = await startKubernetesServer({ dir });
    const ca = first.caCertificateBase64;
    await first.close();

    // Act
    const second = await startKubernetesServer({ dir });
    const third = await startKubernetesServer({ dir: other });
    const ns = await localKubeConfig({ url: second.url, caCertificateBase64: ca })
      .makeApiClient(CoreV1Api)
      .readNamespace({ name: 'default' });

    // Assess
    expect(second.caCertificateBase64).toBe(ca);
    expect(third.caCertificateBase64).not.toBe(ca);
    expect(ns.metadata?.name).toBe('default');
    await second.close();
    await third.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  });
});

describe('certificate serial numbers', () => {
  it.each([
    ['a leading zero byte', Buffer.from([0x00, 0x10, ...Array(14).fill(0x22)])],
    ['all zero bytes', Buffer.alloc(16)],
    ['a leading 0x80 byte (top bit set)', Buffer.from([0x80, 0x05, ...Array(14).fill(0x22)])],
    ['all 0xff bytes', Buffer.alloc(16, 0xff)],
  ])('are minimal positive DER INTEGERs from random bytes with %s', (_name, bytes) => {
    // Act
    const serial = serialNumber(bytes);

    // Assess: 0x01..0x7f first, so DER needs no padding byte and the value stays positive.
    expect(serial).toHaveLength(16);
    expect(serial[0]).toBeGreaterThanOrEqual(0x01);
    expect(serial[0]).toBeLessThanOrEqual(0x7f);
    expect(serial.subarray(1)).toEqual(bytes.subarray(1));
  });
});
