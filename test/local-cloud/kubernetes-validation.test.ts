/**
 * 422 Invalid answers for autoscaling/v2 HPAs and networking.k8s.io/v1 NetworkPolicies, with the
 * apiserver's field paths, reasons and messages in `details.causes`, through client-node.
 */
import {
  ApiException,
  AutoscalingV2Api,
  NetworkingV1Api,
  type V1NetworkPolicy,
  type V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubernetesServer,
  localKubeConfig,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';

interface Cause {
  reason: string;
  message: string;
  field?: string;
}

async function causesOf(call: Promise<unknown>): Promise<{ code: number; message: string; causes: Cause[] }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = JSON.parse(String(err.body)) as { message: string; details?: { causes?: Cause[] } };
    return { code: err.code, message: body.message, causes: body.details?.causes ?? [] };
  }
  return { code: 201, message: '', causes: [] };
}

let server: KubernetesServer;
let autoscaling: AutoscalingV2Api;
let networking: NetworkingV1Api;
let n = 0;

beforeAll(async () => {
  server = await startKubernetesServer({ port: 0 });
  const kc = localKubeConfig(server);
  autoscaling = kc.makeApiClient(AutoscalingV2Api);
  networking = kc.makeApiClient(NetworkingV1Api);
});

afterAll(async () => {
  await server.close();
});

type HpaSpec = NonNullable<V2HorizontalPodAutoscaler['spec']>;

function hpa(spec: Partial<HpaSpec>): V2HorizontalPodAutoscaler {
  n += 1;
  return {
    metadata: { name: `h${n}` },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 3,
      ...spec,
    },
  };
}

const cpu = (target: Record<string, unknown>) => ({ type: 'Resource', resource: { name: 'cpu', target } });

describe('HorizontalPodAutoscaler validation', () => {
  it.each<[string, Partial<HpaSpec>, Cause[]]>([
    [
      'minReplicas below 1',
      { minReplicas: 0 },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.minReplicas',
          message: 'Invalid value: 0: must be greater than or equal to 1',
        },
      ],
    ],
    [
      'maxReplicas below minReplicas',
      { minReplicas: 4, maxReplicas: 2 },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.maxReplicas',
          message: 'Invalid value: 2: must be greater than or equal to `minReplicas`',
        },
      ],
    ],
    [
      'an unknown metric type',
      { metrics: [{ type: 'Magic' } as never] },
      [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.metrics[0].type',
          message:
            'Unsupported value: "Magic": supported values: "ContainerResource", "External", "Object", "Pods", "Resource"',
        },
      ],
    ],
    [
      'a Resource metric without its member',
      { metrics: [{ type: 'Resource' }] },
      [
        {
          reason: 'FieldValueRequired',
          field: 'spec.metrics[0].resource',
          message: 'Required value: must populate information for the given metric source',
        },
      ],
    ],
    [
      'a Pods metric carrying a resource member too',
      {
        metrics: [
          {
            type: 'Pods',
            pods: { metric: { name: 'queue' }, target: { type: 'AverageValue', averageValue: '10' } },
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } },
          } as never,
        ],
      },
      [
        {
          reason: 'FieldValueForbidden',
          field: 'spec.metrics[0].resource',
          message: 'Forbidden: must populate the given metric source only',
        },
      ],
    ],
    [
      'an unknown target type',
      { metrics: [cpu({ type: 'Percent', averageUtilization: 50 }) as never] },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.metrics[0].resource.target.type',
          message: 'Invalid value: "Percent": must be either Utilization, Value, or AverageValue',
        },
      ],
    ],
    [
      'a Utilization target without its value',
      { metrics: [cpu({ type: 'Utilization' }) as never] },
      [
        {
          reason: 'FieldValueRequired',
          field: 'spec.metrics[0].resource.target.averageUtilization',
          message: 'Required value: must set either a target raw value or a target utilization',
        },
      ],
    ],
    [
      'a zero utilization',
      { metrics: [cpu({ type: 'Utilization', averageUtilization: 0 }) as never] },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.metrics[0].resource.target.averageUtilization',
          message: 'Invalid value: 0: must be greater than 0',
        },
      ],
    ],
    [
      'a Pods metric without averageValue',
      {
        metrics: [
          {
            type: 'Pods',
            pods: { metric: { name: 'queue' }, target: { type: 'Value', value: '5' } },
          } as never,
        ],
      },
      [
        {
          reason: 'FieldValueRequired',
          field: 'spec.metrics[0].pods.target.averageValue',
          message: 'Required value: must specify a positive target averageValue',
        },
      ],
    ],
    [
      'a stabilization window over an hour',
      { behavior: { scaleUp: { stabilizationWindowSeconds: 3601 } } },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.behavior.scaleUp.stabilizationWindowSeconds',
          message: 'Invalid value: 3601: must be less than or equal to 3600',
        },
      ],
    ],
    [
      'a negative stabilization window',
      { behavior: { scaleDown: { stabilizationWindowSeconds: -1 } } },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.behavior.scaleDown.stabilizationWindowSeconds',
          message: 'Invalid value: -1: must be greater than or equal to zero',
        },
      ],
    ],
    [
      'an unknown selectPolicy',
      { behavior: { scaleDown: { selectPolicy: 'Average' } } },
      [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.behavior.scaleDown.selectPolicy',
          message: 'Unsupported value: "Average": supported values: "Disabled", "Max", "Min"',
        },
      ],
    ],
    [
      'a bad scaling policy',
      { behavior: { scaleUp: { policies: [{ type: 'Nodes', value: 0, periodSeconds: 1801 }] } } },
      [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.behavior.scaleUp.policies[0].type',
          message: 'Unsupported value: "Nodes": supported values: "Percent", "Pods"',
        },
        {
          reason: 'FieldValueInvalid',
          field: 'spec.behavior.scaleUp.policies[0].value',
          message: 'Invalid value: 0: must be greater than zero',
        },
        {
          reason: 'FieldValueInvalid',
          field: 'spec.behavior.scaleUp.policies[0].periodSeconds',
          message: 'Invalid value: 1801: must be less than or equal to 1800',
        },
      ],
    ],
    [
      'an empty policy list',
      { behavior: { scaleUp: { policies: [] } } },
      [
        {
          reason: 'FieldValueRequired',
          field: 'spec.behavior.scaleUp.policies',
          message: 'Required value: must specify at least one Policy',
        },
      ],
    ],
  ])('%s', async (_name, spec, causes) => {
    // Act
    const got = await causesOf(
      autoscaling.createNamespacedHorizontalPodAutoscaler({ namespace: 'default', body: hpa(spec) }),
    );

    // Assess
    expect(got.code).toBe(422);
    expect(got.causes).toEqual(causes);
    expect(got.message).toMatch(/^HorizontalPodAutoscaler\.autoscaling "h\d+" is invalid: /);
  });

  it('accepts a full, valid spec', async () => {
    // Act
    const got = await causesOf(
      autoscaling.createNamespacedHorizontalPodAutoscaler({
        namespace: 'default',
        body: hpa({
          metrics: [
            cpu({ type: 'Utilization', averageUtilization: 70 }) as never,
            {
              type: 'Pods',
              pods: { metric: { name: 'queue' }, target: { type: 'AverageValue', averageValue: '500m' } },
            },
            {
              type: 'External',
              external: { metric: { name: 'pubsub' }, target: { type: 'Value', value: '100' } },
            },
          ],
          behavior: {
            scaleUp: {
              stabilizationWindowSeconds: 0,
              selectPolicy: 'Max',
              policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
            },
            scaleDown: {
              stabilizationWindowSeconds: 300,
              policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }],
            },
          },
        }),
      }),
    );

    // Assess
    expect(got).toEqual({ code: 201, message: '', causes: [] });
  });
});

type NpSpec = NonNullable<V1NetworkPolicy['spec']>;

function policy(spec: Record<string, unknown>): V1NetworkPolicy {
  n += 1;
  return { metadata: { name: `np${n}` }, spec: spec as unknown as NpSpec };
}

// client-node's types name the `from` field `_from` (a reserved word) and serialise it as `from`.
describe('NetworkPolicy validation', () => {
  const sel = { matchLabels: { app: 'triton' } };
  it.each<[string, Record<string, unknown>, Cause[]]>([
    [
      'no podSelector',
      {},
      [{ reason: 'FieldValueRequired', field: 'spec.podSelector', message: 'Required value' }],
    ],
    [
      'an unknown policy type',
      { podSelector: sel, policyTypes: ['Ingress', 'Sideways'] },
      [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.policyTypes[1]',
          message: 'Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
        },
      ],
    ],
    [
      'an unknown protocol',
      { podSelector: sel, ingress: [{ ports: [{ protocol: 'ICMP', port: 80 }] }] },
      [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.ingress[0].ports[0].protocol',
          message: 'Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"',
        },
      ],
    ],
    [
      'a port out of range',
      { podSelector: sel, egress: [{ ports: [{ port: 70000 }] }] },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.egress[0].ports[0].port',
          message: 'Invalid value: 70000: must be between 1 and 65535, inclusive',
        },
      ],
    ],
    [
      'endPort below port',
      { podSelector: sel, ingress: [{ ports: [{ port: 8000, endPort: 7000 }] }] },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.ingress[0].ports[0].endPort',
          message: 'Invalid value: 8000: must be greater than or equal to `port`',
        },
      ],
    ],
    [
      'endPort with a named port',
      { podSelector: sel, ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.ingress[0].ports[0].endPort',
          message: 'Invalid value: 90: may not be specified when `port` is non-numeric',
        },
      ],
    ],
    [
      'an invalid port name',
      { podSelector: sel, ingress: [{ ports: [{ port: 'HTTP' }] }] },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.ingress[0].ports[0].port',
          message:
            'Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
        },
        {
          reason: 'FieldValueInvalid',
          field: 'spec.ingress[0].ports[0].port',
          message: 'Invalid value: "HTTP": must contain at least one letter (a-z)',
        },
      ],
    ],
    [
      'an invalid cidr',
      { podSelector: sel, ingress: [{ _from: [{ ipBlock: { cidr: '10.0.0.300/8' } }] }] },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.ingress[0].from[0].ipBlock.cidr',
          message:
            'Invalid value: "10.0.0.300/8": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
        },
      ],
    ],
    [
      'an except outside the cidr',
      {
        podSelector: sel,
        egress: [
          {
            to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.5.0/24', '10.1.0.0/24', '10.0.0.0/16'] } }],
          },
        ],
      },
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.egress[0].to[0].ipBlock.except[1]',
          message: 'Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`',
        },
        {
          reason: 'FieldValueInvalid',
          field: 'spec.egress[0].to[0].ipBlock.except[2]',
          message: 'Invalid value: "10.0.0.0/16": must be a strict subset of `cidr`',
        },
      ],
    ],
    [
      'two kinds of peer in one entry',
      { podSelector: sel, ingress: [{ _from: [{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }] }] },
      [
        {
          reason: 'FieldValueForbidden',
          field: 'spec.ingress[0].from[0]',
          message: 'Forbidden: may not specify more than 1 peer',
        },
      ],
    ],
  ])('%s', async (_name, spec, causes) => {
    // Act
    const got = await causesOf(
      networking.createNamespacedNetworkPolicy({ namespace: 'default', body: policy(spec) }),
    );

    // Assess
    expect(got.code).toBe(422);
    expect(got.causes).toEqual(causes);
    expect(got.message).toMatch(/^NetworkPolicy\.networking\.k8s\.io "np\d+" is invalid: /);
  });

  it('accepts named and ranged ports, IPv6 blocks and both policy types', async () => {
    // Act
    const got = await causesOf(
      networking.createNamespacedNetworkPolicy({
        namespace: 'default',
        body: policy({
          podSelector: sel,
          policyTypes: ['Ingress', 'Egress'],
          ingress: [
            {
              ports: [{ port: 'grpc' }, { protocol: 'TCP', port: 8000, endPort: 8002 }],
              _from: [{ podSelector: {} }],
            },
          ],
          egress: [
            {
              to: [{ ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] } }],
              ports: [{ protocol: 'UDP', port: 53 }],
            },
          ],
        }),
      }),
    );

    // Assess
    expect(got).toEqual({ code: 201, message: '', causes: [] });
  });
});
