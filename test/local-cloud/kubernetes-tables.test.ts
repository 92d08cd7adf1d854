/**
 * Server-side printing on the wire: the meta.k8s.io Table kubectl negotiates with its Accept
 * header (v1 and v1beta1), includeObject, Table watch events, and the generic Name/Age table.
 */
import { AppsV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubernetesServer,
  localKubeConfig,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';
import { humanDuration, tableOf } from '../../infra/local/kubernetes/printers';
import { deploymentBody, raw } from './kubernetes-support';

const KUBECTL_ACCEPT =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

interface Table {
  kind: string;
  apiVersion: string;
  metadata: { resourceVersion?: string };
  columnDefinitions: { name: string; type: string; format: string; priority: number }[];
  rows: { cells: unknown[]; object?: { kind: string; apiVersion?: string; metadata: { name: string } } }[];
}

let server: KubernetesServer;

beforeAll(async () => {
  server = await startKubernetesServer({ port: 0 });
  const apps = localKubeConfig(server).makeApiClient(AppsV1Api);
  await apps.createNamespacedDeployment({ namespace: 'default', body: deploymentBody('web', 2) });
});

afterAll(async () => {
  await server.close();
});

describe('Table responses', () => {
  it('answers a list with a meta.k8s.io/v1 Table: columns with priorities, cells, partial metadata', async () => {
    // Act
    const res = await raw(server, '/apis/apps/v1/namespaces/default/deployments', {
      headers: { accept: KUBECTL_ACCEPT },
    });
    const table = res.json() as Table;

    // Assess
    expect(table.kind).toBe('Table');
    expect(table.apiVersion).toBe('meta.k8s.io/v1');
    expect(table.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(table.columnDefinitions.map((c) => [c.name, c.type, c.priority])).toEqual([
      ['Name', 'string', 0],
      ['Ready', 'string', 0],
      ['Up-to-date', 'integer', 0],
      ['Available', 'integer', 0],
      ['Age', 'string', 0],
      ['Containers', 'string', 1],
      ['Images', 'string', 1],
      ['Selector', 'string', 1],
    ]);
    expect(table.rows[0]?.cells.slice(0, 4)).toEqual(['web', '2/2', 2, 2]);
    expect(table.rows[0]?.object).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: expect.objectContaining({ name: 'web', namespace: 'default' }),
    });
  });

  it.each([
    [
      'v1beta1 when only that is asked',
      'application/json;as=Table;v=v1beta1;g=meta.k8s.io',
      '',
      'meta.k8s.io/v1beta1',
      'PartialObjectMetadata',
    ],
    [
      'the full object with includeObject=Object',
      KUBECTL_ACCEPT,
      '?includeObject=Object',
      'meta.k8s.io/v1',
      'Deployment',
    ],
    ['no object with includeObject=None', KUBECTL_ACCEPT, '?includeObject=None', 'meta.k8s.io/v1', undefined],
  ])('gives %s', async (_name, accept, query, apiVersion, objectKind) => {
    // Act
    const res = await raw(server, `/apis/apps/v1/namespaces/default/deployments/web${query}`, {
      headers: { accept },
    });
    const table = res.json() as Table;

    // Assess
    expect(table.apiVersion).toBe(apiVersion);
    expect(table.rows).toHaveLength(1);
    expect(table.rows[0]?.object?.kind).toBe(objectKind);
  });

  it('answers plain JSON when the Accept header prefers it', async () => {
    // Act
    const res = await raw(server, '/apis/apps/v1/namespaces/default/deployments/web', {
      headers: { accept: 'application/json, application/json;as=Table;v=v1;g=meta.k8s.io' },
    });

    // Assess
    expect((res.json() as { kind: string }).kind).toBe('Deployment');
  });

  it('streams watch events whose objects are one-row Tables', async () => {
    // Act
    const res = await raw(
      server,
      '/apis/apps/v1/namespaces/default/deployments?watch=true&timeoutSeconds=1',
      {
        headers: { accept: KUBECTL_ACCEPT },
      },
    );
    const events = res.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; object: Table });

    // Assess
    expect(events.map((e) => e.type)).toEqual(['ADDED']);
    expect(events[0]?.object.kind).toBe('Table');
    expect(events[0]?.object.rows[0]?.cells[0]).toBe('web');
  });

  it('prints a kind without a printer as Name and Age', () => {
    // Act
    const table = tableOf(
      {
        group: 'example.com',
        version: 'v1',
        plural: 'widgets',
        singular: 'widget',
        kind: 'Widget',
        namespaced: true,
        generation: true,
      },
      [
        {
          apiVersion: 'example.com/v1',
          kind: 'Widget',
          metadata: { name: 'w', creationTimestamp: '2026-01-01T00:00:00Z' },
        },
      ],
      { version: 'v1', includeObject: 'None' },
      {},
      Date.parse('2026-01-01T00:03:05Z'),
    ) as unknown as Table;

    // Assess
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Age']);
    expect(table.rows[0]?.cells).toEqual(['w', '3m5s']);
  });

  it.each([
    [5_000, '5s'],
    [119_000, '119s'],
    [125_000, '2m5s'],
    [600_000, '10m'],
    [3 * 3600_000 + 60_000, '3h1m'],
    [30 * 3600_000, '30h'],
    [3 * 86400_000 + 3600_000, '3d1h'],
    [40 * 86400_000, '40d'],
    [3 * 365 * 86400_000, '3y'],
  ])('renders an age of %i ms as %s', (ms, text) => {
    // Assess
    expect(humanDuration(ms)).toBe(text);
  });
});
