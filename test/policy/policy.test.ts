import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  exportPolicyJsonSchema,
  InvalidPolicyError,
  loadPolicy,
  type PolicyIssue,
  resolveModelPolicy,
} from '../../shared/policy';
import { ConfigurationError } from '../../shared/runtime/errors';

const examplePath = fileURLToPath(new URL('../../examples/policy.yaml', import.meta.url));
const exampleText = readFileSync(examplePath, 'utf8');

/** The smallest valid file; invalid cases below add one mistake each. */
const MINIMAL = `apiVersion: inferplane.dev/v1
kind: ControlPlanePolicy
cluster:
  project: my-proj
  name: inference
  repositoryBucket: acme-triton-repo
  incomingBucket: acme-models-incoming
guardrails: { maxGpusTotal: 16, maxGpusPerPool: 8, maxNodes: 16, maxDollarsPerHour: 60 }
`;

function issuesOf(text: string): PolicyIssue[] {
  try {
    loadPolicy(text, 'test.yaml');
  } catch (err) {
    if (err instanceof InvalidPolicyError) return [...err.issues];
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

describe('loadPolicy', () => {
  it('loads the example file', () => {
    // Act
    const policy = loadPolicy(exampleText, examplePath);

    // Assess
    expect(policy.cluster.repositoryBucket).toBe('acme-triton-repo');
    expect(policy.models.resnet50).toEqual({ gpuClass: 'a100-40gb', replicas: { min: 2, max: 8 } });
    expect(policy.alertRules.map((r) => r.name)).toEqual(['queue-high', 'gpu-idle']);
    expect(policy.alertRules[1]).toMatchObject({ nodesStep: 0, replicasStep: 1, cooldownSeconds: 900 });
    expect(policy.schedules[0]?.downtime).toHaveLength(2);
    expect(policy.gpuClasses.l4?.pricesAsOf).toBe('2026-11-01');
  });

  it('fills every default of a minimal file', () => {
    // Act
    const policy = loadPolicy(MINIMAL);

    // Assess
    expect(policy).toEqual({
      apiVersion: 'inferplane.dev/v1',
      kind: 'ControlPlanePolicy',
      cluster: {
        project: 'my-proj',
        location: 'us-central1',
        name: 'inference',
        namespace: 'triton',
        repositoryBucket: 'acme-triton-repo',
        incomingBucket: 'acme-models-incoming',
        tritonImage: 'nvcr.io/nvidia/tritonserver:25.01-py3',
      },
      gpuClasses: {},
      modelDefaults: {
        gpuClass: 'l4',
        maxBatchSize: 8,
        dynamicBatching: { maxQueueDelayMicroseconds: 100 },
        instanceCount: 1,
        replicas: { min: 1, max: 4 },
        autoscaling: { metric: 'queue-time', target: 50000 },
        readinessTimeoutSeconds: 600,
      },
      models: {},
      alertRules: [],
      schedules: [],
      security: {
        networkPolicy: {
          allowNamespaces: [],
          allowCidrs: [],
          allowPodLabels: {},
          monitoringNamespace: 'gmp-system',
          googleApiCidrs: ['199.36.153.8/30'],
        },
        apiKeys: {
          rotateEveryDays: 30,
          overlapMinutes: 60,
          inferenceKey: false,
        },
        posture: {
          imageAllowlist: ['nvcr.io/nvidia/tritonserver'],
          requireDigest: true,
          enforce: false,
          directPrincipalBinding: false,
          requireBinaryAuthorization: true,
        },
        exposure: { mode: 'internal', onDrift: 'repair' },
      },
      guardrails: { maxGpusTotal: 16, maxGpusPerPool: 8, maxNodes: 16, maxDollarsPerHour: 60 },
    });
  });

  it('still loads the deprecated apiKeys.secretName and apiKeys.keep, and nothing reads them', () => {
    const policy = loadPolicy(`${MINIMAL}security: { apiKeys: { secretName: triton-api-keys, keep: 2 } }\n`);
    expect(policy.security.apiKeys).toMatchObject({ rotateEveryDays: 30, overlapMinutes: 60 });
  });

  it('applies defaults inside partially written sections', () => {
    const policy = loadPolicy(
      `${MINIMAL}modelDefaults: { replicas: { max: 6 } }\nsecurity: { apiKeys: { overlapMinutes: 30 } }\n`,
    );
    expect(policy.modelDefaults.replicas).toEqual({ min: 1, max: 6 });
    expect(policy.security.apiKeys).toEqual({
      rotateEveryDays: 30,
      overlapMinutes: 30,
      inferenceKey: false,
    });
  });

  it('accepts a class defined in gpuClasses as a model gpuClass', () => {
    const text = `${MINIMAL}gpuClasses:\n  l4-x2: { machineType: g2-standard-24, spot: true }\nmodels:\n  llm: { gpuClass: l4-x2 }\n`;
    expect(resolveModelPolicy(loadPolicy(text), 'llm').gpuClass).toBe('l4-x2');
  });

  it.each<[string, string, string[]]>([
    ['wrong apiVersion', MINIMAL.replace('inferplane.dev/v1', 'inferplane.dev/v2'), ['apiVersion']],
    ['missing guardrails', MINIMAL.replace(/^guardrails:.*$/m, ''), ['guardrails']],
    ['missing cluster name', MINIMAL.replace('  name: inference\n', ''), ['cluster.name']],
    ['misspelt field', `${MINIMAL}modelDefaults: { replica: { min: 1 } }\n`, ['modelDefaults.replica']],
    ['bad model name', `${MINIMAL}models:\n  "res net": { maxBatchSize: 4 }\n`, ['models.res net']],
    ['dot-only model name', `${MINIMAL}models:\n  "..": { maxBatchSize: 4 }\n`, ['models...']],
    ['unknown gpu class', `${MINIMAL}models:\n  resnet50: { gpuClass: t4 }\n`, ['models.resnet50.gpuClass']],
    [
      'unknown default gpu class',
      `${MINIMAL}modelDefaults: { gpuClass: v100 }\n`,
      ['modelDefaults.gpuClass'],
    ],
    [
      'new gpu class without machine shape',
      `${MINIMAL}gpuClasses:\n  b200: { onDemandPerGpuHour: 12 }\n`,
      ['gpuClasses.b200.machineType'],
    ],
    [
      'machine type of another GPU',
      `${MINIMAL}gpuClasses:\n  l4: { machineType: a2-highgpu-1g }\n`,
      ['gpuClasses.l4.machineType'],
    ],
    [
      'new gpu class on an unknown machine type',
      `${MINIMAL}gpuClasses:\n  big: { machineType: n2-standard-8 }\n`,
      ['gpuClasses.big.machineType'],
    ],
    [
      'bad gpu class id',
      `${MINIMAL}gpuClasses:\n  L4_Big: { machineType: g2-standard-24 }\n`,
      ['gpuClasses.L4_Big'],
    ],
    [
      'bad pricesAsOf',
      `${MINIMAL}gpuClasses:\n  l4: { pricesAsOf: 2026-13-01 }\n`,
      ['gpuClasses.l4.pricesAsOf'],
    ],
    [
      'zero min replicas',
      `${MINIMAL}modelDefaults: { replicas: { min: 0 } }\n`,
      ['modelDefaults.replicas.min'],
    ],
    [
      'default min above max',
      `${MINIMAL}modelDefaults: { replicas: { min: 5, max: 2 } }\n`,
      ['modelDefaults.replicas'],
    ],
    [
      'model min above default max',
      `${MINIMAL}models:\n  resnet50: { replicas: { min: 6 } }\n`,
      ['models.resnet50.replicas'],
    ],
    [
      'bad autoscaling metric',
      `${MINIMAL}modelDefaults: { autoscaling: { metric: cpu } }\n`,
      ['modelDefaults.autoscaling.metric'],
    ],
    [
      'duplicate rule names',
      `${MINIMAL}alertRules:\n  - { name: q, match: { policyName: a }, action: scale-out }\n  - { name: q, match: { policyName: b }, action: scale-in }\n`,
      ['alertRules.1.name'],
    ],
    [
      'bad rule action',
      `${MINIMAL}alertRules:\n  - { name: q, match: { policyName: a }, action: scale-up }\n`,
      ['alertRules.0.action'],
    ],
    [
      'empty rule match',
      `${MINIMAL}alertRules:\n  - { name: q, match: {}, action: scale-out }\n`,
      ['alertRules.0.match'],
    ],
    [
      'duplicate schedule names',
      `${MINIMAL}schedules:\n  - { name: n, target: { all: true }, downtime: ["Sat 00:00-24:00 UTC"] }\n  - { name: n, target: { all: true }, downtime: ["Sun 00:00-24:00 UTC"] }\n`,
      ['schedules.1.name'],
    ],
    [
      'bad downtime window',
      `${MINIMAL}schedules:\n  - { name: n, target: { all: true }, downtime: ["Sat 00:00-24:00 UTC", "Mon-Fri 20:00-07:00 Mars/Olympus"] }\n`,
      ['schedules.0.downtime.1'],
    ],
    [
      'invalid holiday',
      `${MINIMAL}schedules:\n  - { name: n, target: { all: true }, downtime: ["Sat 00:00-24:00 UTC"], holidays: ["2026-02-30"] }\n`,
      ['schedules.0.holidays.0'],
    ],
    [
      'two targets',
      `${MINIMAL}schedules:\n  - { name: n, target: { all: true, models: [a] }, downtime: ["Sat 00:00-24:00 UTC"] }\n`,
      ['schedules.0.target'],
    ],
    [
      'bad target model name',
      `${MINIMAL}schedules:\n  - { name: n, target: { models: [ok, "not ok"] }, downtime: ["Sat 00:00-24:00 UTC"] }\n`,
      ['schedules.0.target.models.1'],
    ],
    [
      'bad CIDR',
      `${MINIMAL}security: { networkPolicy: { allowCidrs: ["10.0.0.0/33"] } }\n`,
      ['security.networkPolicy.allowCidrs.0'],
    ],
    [
      'gateway exposure without Cloud Armor',
      `${MINIMAL}security: { exposure: { mode: gateway, gateway: { hostname: "{pool}.example.com" } } }\n`,
      ['security.exposure.gateway.cloudArmorPolicy'],
    ],
    [
      'gateway exposure without its section',
      `${MINIMAL}security: { exposure: { mode: gateway } }\n`,
      ['security.exposure.gateway'],
    ],
    [
      'non-positive guardrail',
      MINIMAL.replace('maxDollarsPerHour: 60', 'maxDollarsPerHour: 0'),
      ['guardrails.maxDollarsPerHour'],
    ],
    [
      'per-pool GPUs above total',
      MINIMAL.replace('maxGpusPerPool: 8', 'maxGpusPerPool: 32'),
      ['guardrails.maxGpusPerPool'],
    ],
    ['a YAML syntax error', `${MINIMAL}models: [a, b\n`, ['']],
    ['a duplicate YAML key', `${MINIMAL}guardrails: {}\n`, ['']],
    ['a document that is not a mapping', '- a\n- b\n', ['']],
  ])('refuses a file with %s, naming the path', (_what, text, paths) => {
    // Act
    const issues = issuesOf(text);

    // Assess
    expect(issues.map((i) => i.path)).toEqual(paths);
  });

  it('lists all three problems of a file with three mistakes, in file order, with their lines', () => {
    // Prepare
    const text = `apiVersion: inferplane.dev/v1
kind: ControlPlanePolicy
cluster:
  project: my-proj
  name: inference
  repositoryBucket: acme-triton-repo
  incomingBucket: acme-models-incoming
models:
  resnet50: { gpuClass: t4, replicas: { min: 3, max: 2 } }
schedules:
  - name: nights
    target: { models: [resnet50] }
    downtime: ["Mon-Fri 20:00-07:00 Europe/Berlin", "Sat-Sun 00:00-24:00 Nowhere/Land"]
guardrails: { maxGpusTotal: 16, maxGpusPerPool: 8, maxNodes: 16, maxDollarsPerHour: 60 }
`;

    // Act
    const issues = issuesOf(text);

    // Assess
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'models.resnet50.gpuClass',
        line: 9,
        message: expect.stringMatching(/t4/),
      }),
      expect.objectContaining({
        path: 'models.resnet50.replicas',
        line: 9,
        message: 'min (3) must not exceed max (2)',
      }),
      expect.objectContaining({
        path: 'schedules.0.downtime.1',
        line: 13,
        message: expect.stringMatching(/Nowhere\/Land/),
      }),
    ]);
  });

  it('reports YAML syntax errors with line and column, as a ConfigurationError', () => {
    // Act
    let caught: unknown;
    try {
      loadPolicy(
        'apiVersion: inferplane.dev/v1\nkind: [ControlPlanePolicy\ncluster: {}\n',
        'gs://acme/policy.yaml',
      );
    } catch (err) {
      caught = err;
    }

    // Assess
    expect(caught).toBeInstanceOf(ConfigurationError);
    const err = caught as InvalidPolicyError;
    expect(err.reason).toBe('INVALID_POLICY');
    expect(err.message).toMatch(
      /^Invalid policy gs:\/\/acme\/policy\.yaml: \(root\): YAML syntax error at line \d+, column \d+: /,
    );
    expect(err.issues[0]).toMatchObject({ path: '', line: expect.any(Number), column: expect.any(Number) });
  });
});

describe('resolveModelPolicy', () => {
  const policy = loadPolicy(exampleText);

  it('merges a model override field by field over modelDefaults', () => {
    expect(resolveModelPolicy(policy, 'bert-base')).toEqual({
      name: 'bert-base',
      gpuClass: 'l4',
      maxBatchSize: 32,
      dynamicBatching: { maxQueueDelayMicroseconds: 100 },
      instanceCount: 1,
      replicas: { min: 1, max: 4 },
      autoscaling: { metric: 'queue-time', target: 20000 },
      readinessTimeoutSeconds: 600,
    });
  });

  it('replaces nested fields the model sets', () => {
    expect(resolveModelPolicy(policy, 'resnet50')).toMatchObject({
      gpuClass: 'a100-40gb',
      replicas: { min: 2, max: 8 },
    });
  });

  it('gives modelDefaults to a model without overrides, without sharing its objects', () => {
    const resolved = resolveModelPolicy(policy, 'unknown-model');
    expect(resolved).toEqual({ name: 'unknown-model', ...policy.modelDefaults });
    resolved.replicas.max = 99;
    expect(policy.modelDefaults.replicas.max).toBe(4);
  });
});

describe('policy JSON Schema', () => {
  const committedPath = fileURLToPath(new URL('../../shared/policy/policy.schema.json', import.meta.url));

  // Compared as data, not text, so the formatter may lay the committed file out as it likes.
  it('matches the committed shared/policy/policy.schema.json (rewrite: UPDATE_POLICY_SCHEMA=1 npx vitest run test/policy)', () => {
    // Prepare
    const exported = exportPolicyJsonSchema();
    if (process.env.UPDATE_POLICY_SCHEMA === '1') {
      writeFileSync(committedPath, `${JSON.stringify(exported, null, 2)}\n`);
    }

    // Act
    const committed: unknown = JSON.parse(readFileSync(committedPath, 'utf8'));

    // Assess
    expect(committed).toEqual(exported);
  });

  it('describes the fields other components rely on', () => {
    const schema = exportPolicyJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        'cluster',
        'gpuClasses',
        'modelDefaults',
        'models',
        'alertRules',
        'schedules',
        'security',
        'guardrails',
      ]),
    );
    expect(schema.required).toEqual(expect.arrayContaining(['apiVersion', 'kind', 'cluster', 'guardrails']));
    expect(schema.required).not.toContain('modelDefaults');
  });
});
