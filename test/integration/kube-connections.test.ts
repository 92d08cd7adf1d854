/**
 * The Kubernetes adapter reuses its TLS connections. @kubernetes/client-node 1.4 builds a new
 * https.Agent for every request, so each call would open a TCP connection and a TLS handshake; the
 * adapter's KubeConfig hands every request one keep-alive agent. Counted at the TCP level, through
 * a pass-through proxy in front of the local apiserver (TLS still ends at the apiserver, verified
 * against its CA).
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { type KubernetesServer, startKubernetesServer } from '../../infra/local/kubernetes';
import { createKubeConfig, createKubeObjects } from '../../shared/adapters/kubernetes';

describe('Kubernetes adapter connections', () => {
  let server: KubernetesServer;
  let proxy: net.Server;
  let connections = 0;
  let endpoint = '';
  const sockets = new Set<net.Socket>();

  beforeEach(async () => {
    server = await startKubernetesServer({ tokens: [LOCAL_ACCESS_TOKEN] });
    connections = 0;
    proxy = net.createServer((client) => {
      connections += 1;
      const upstream = net.connect(server.port, '127.0.0.1');
      sockets.add(client);
      sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const address = proxy.address();
    endpoint = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  afterEach(async () => {
    // The client keeps idle connections open: end them, so the servers close at once.
    for (const s of sockets) s.destroy();
    sockets.clear();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
    await server.close();
  });

  it('sends sequential requests over one connection, and parallel ones over a few', async () => {
    const kube = createKubeObjects(
      createKubeConfig({
        cluster: { endpoint, caCertificate: server.caCertificateBase64 },
        token: async () => LOCAL_ACCESS_TOKEN,
      }),
    );
    const ref = { apiVersion: 'v1', kind: 'Namespace', name: 'default' };
    // The first call also makes the client's discovery requests.
    for (let i = 0; i < 10; i++) expect((await kube.get(ref))?.metadata.name).toBe('default');
    expect(connections).toBe(1);

    await Promise.all(Array.from({ length: 4 }, () => kube.get(ref)));
    expect(connections).toBeLessThanOrEqual(4);
    for (let i = 0; i < 10; i++) await kube.get(ref);
    expect(connections).toBeLessThanOrEqual(4);
  });
});
