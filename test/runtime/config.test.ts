import { describe, expect, it } from 'vitest';
import {
  CONFIG_REFERENCE,
  configReferenceMarkdown,
  configSchema,
  loadConfig,
} from '../../shared/runtime/config';
import { ConfigurationError } from '../../shared/runtime/errors';

const minimal = {
  INFERPLANE_PROJECT: 'my-proj',
  INFERPLANE_CLUSTER: 'inference',
  INFERPLANE_REPOSITORY_BUCKET: 'acme-triton-repo',
};

function configError(env: Record<string, string | undefined>): ConfigurationError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigurationError) return err;
    throw err;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('applies every default to a minimal environment', () => {
    // Act
    const config = loadConfig(minimal);

    // Assess
    expect(config).toEqual({
      project: 'my-proj',
      location: 'us-central1',
      cluster: 'inference',
      namespace: 'triton',
      repositoryBucket: 'acme-triton-repo',
      stateBucket: 'acme-triton-repo',
      policy: './policy.yaml',
      eventsTopic: undefined,
      dryRun: false,
      logLevel: 'INFO',
      operationDeadlineSeconds: 480,
      endpoints: { storage: undefined, gke: undefined, pubsubEmulatorHost: undefined },
      accessToken: undefined,
      tritonUrl: 'http://{podIP}:8000',
    });
  });

  it('reads every variable of a full local-cloud environment', () => {
    // Prepare
    const env = {
      ...minimal,
      INFERPLANE_LOCATION: 'europe-west4-a',
      INFERPLANE_NAMESPACE: 'serving',
      INFERPLANE_STATE_BUCKET: 'acme-state',
      INFERPLANE_POLICY: 'gs://acme-state/policy.yaml',
      INFERPLANE_EVENTS_TOPIC: 'projects/my-proj/topics/inferplane-events',
      INFERPLANE_DRY_RUN: '1',
      INFERPLANE_LOG_LEVEL: 'debug',
      INFERPLANE_OPERATION_DEADLINE_SECONDS: '120',
      STORAGE_EMULATOR_HOST: '127.0.0.1:9023',
      INFERPLANE_GKE_ENDPOINT: 'http://127.0.0.1:9024',
      INFERPLANE_ACCESS_TOKEN: 'local-token',
      INFERPLANE_TRITON_URL: 'http://127.0.0.1:8000',
      PUBSUB_EMULATOR_HOST: 'localhost:8085',
    };

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config).toMatchObject({
      location: 'europe-west4-a',
      namespace: 'serving',
      stateBucket: 'acme-state',
      policy: 'gs://acme-state/policy.yaml',
      eventsTopic: 'projects/my-proj/topics/inferplane-events',
      dryRun: true,
      logLevel: 'DEBUG',
      operationDeadlineSeconds: 120,
      endpoints: {
        storage: 'http://127.0.0.1:9023',
        gke: 'http://127.0.0.1:9024',
        pubsubEmulatorHost: 'localhost:8085',
      },
      accessToken: 'local-token',
      tritonUrl: 'http://127.0.0.1:8000',
    });
  });

  it('prefers INFERPLANE_STORAGE_ENDPOINT over STORAGE_EMULATOR_HOST', () => {
    const config = loadConfig({
      ...minimal,
      STORAGE_EMULATOR_HOST: 'http://127.0.0.1:1111/',
      INFERPLANE_STORAGE_ENDPOINT: 'http://127.0.0.1:2222',
    });
    expect(config.endpoints.storage).toBe('http://127.0.0.1:2222');
  });

  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ])('reads INFERPLANE_DRY_RUN=%s as %s', (value, expected) => {
    expect(loadConfig({ ...minimal, INFERPLANE_DRY_RUN: value }).dryRun).toBe(expected);
  });

  it.each([
    'http://{podIP}:8000',
    'http://127.0.0.1:9000/pools/{pool}/pods/{pod}',
    'https://{pod}.{pool}.triton.internal:8443',
  ])('accepts the Triton URL template %s', (template) => {
    expect(loadConfig({ ...minimal, INFERPLANE_TRITON_URL: template }).tritonUrl).toBe(template);
  });

  it('treats empty values as unset', () => {
    const config = loadConfig({ ...minimal, INFERPLANE_NAMESPACE: '', INFERPLANE_STATE_BUCKET: '  ' });
    expect(config.namespace).toBe('triton');
    expect(config.stateBucket).toBe('acme-triton-repo');
  });

  it('names every missing and bad variable in one error', () => {
    // Prepare
    const env = {
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_OPERATION_DEADLINE_SECONDS: '-5',
      INFERPLANE_DRY_RUN: 'yes',
    };

    // Act
    const err = configError(env);

    // Assess
    expect(err.reason).toBe('INVALID_CONFIGURATION');
    expect(err.message).toBe(
      'Invalid configuration: INFERPLANE_PROJECT is required; INFERPLANE_REPOSITORY_BUCKET is required; ' +
        'INFERPLANE_DRY_RUN must be one of true, false, 1, 0; ' +
        'INFERPLANE_OPERATION_DEADLINE_SECONDS must be a positive integer',
    );
  });

  it.each([
    ['INFERPLANE_DRY_RUN', 'TRUE'],
    ['INFERPLANE_DRY_RUN', 'yes'],
    ['INFERPLANE_LOG_LEVEL', 'verbose'],
    ['INFERPLANE_OPERATION_DEADLINE_SECONDS', '0'],
    ['INFERPLANE_OPERATION_DEADLINE_SECONDS', '1.5'],
    ['INFERPLANE_REPOSITORY_BUCKET', 'Bad_Bucket'],
    ['INFERPLANE_NAMESPACE', 'Triton'],
    ['INFERPLANE_GKE_ENDPOINT', '127.0.0.1:9000'],
    ['INFERPLANE_TRITON_URL', 'ftp://triton'],
    ['INFERPLANE_TRITON_URL', 'http://{podIP:8000'],
    ['INFERPLANE_TRITON_URL', 'http://{node}:8000'],
    ['INFERPLANE_TRITON_URL', '{podIP}:8000'],
    ['PUBSUB_EMULATOR_HOST', 'http://localhost:8085'],
    ['INFERPLANE_EVENTS_TOPIC', 'projects/p/subscriptions/s'],
  ])('refuses %s=%s, naming that variable only', (name, value) => {
    const err = configError({ ...minimal, [name]: value });
    expect(err.message).toMatch(new RegExp(`^Invalid configuration: ${name} [^;]+$`));
  });
});

describe('CONFIG_REFERENCE', () => {
  it('documents exactly the variables the schema reads', () => {
    const documented = CONFIG_REFERENCE.map((v) => v.name).sort();
    const read = Object.keys(configSchema.in.shape).sort();
    expect(documented).toEqual(read);
  });

  it('marks as required exactly the variables whose absence is refused', () => {
    const err = configError({});
    const missing = err.message
      .replace('Invalid configuration: ', '')
      .split('; ')
      .map((part) => part.split(' ')[0]);
    expect(missing.sort()).toEqual(
      CONFIG_REFERENCE.filter((v) => v.required)
        .map((v) => v.name)
        .sort(),
    );
  });

  it('renders one markdown table row per variable', () => {
    const lines = configReferenceMarkdown().split('\n');
    expect(lines).toHaveLength(CONFIG_REFERENCE.length + 2);
    expect(lines).toContain(
      '| `INFERPLANE_NAMESPACE` | no | `triton` | Kubernetes namespace of the Triton workloads. |',
    );
    expect(lines).toContain(
      '| `INFERPLANE_PROJECT` | yes |  | Google Cloud project that hosts the GKE cluster. |',
    );
  });
});
