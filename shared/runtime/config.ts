/**
 * Process configuration, read once from the environment at cold start. Everything is validated up
 * front and every problem is reported in one error, so a bad deployment fails on its first
 * invocation with the full list instead of one variable per redeploy.
 */
import { z } from 'zod';
import { ConfigurationError, type ValidationIssue } from './errors';
import type { Severity } from './log';

export type Env = Record<string, string | undefined>;

export interface ConfigReferenceEntry {
  name: string;
  required: boolean;
  /** Default as shown to users; `undefined` when the variable is optional without a default. */
  default: string | undefined;
  description: string;
}

/** One row per variable; the README table is generated from it (a test keeps it in sync with the schema). */
export const CONFIG_REFERENCE: readonly ConfigReferenceEntry[] = [
  {
    name: 'INFERPLANE_PROJECT',
    required: true,
    default: undefined,
    description: 'Google Cloud project that hosts the GKE cluster.',
  },
  {
    name: 'INFERPLANE_LOCATION',
    required: false,
    default: 'us-central1',
    description: 'Region or zone of the GKE cluster.',
  },
  {
    name: 'INFERPLANE_CLUSTER',
    required: true,
    default: undefined,
    description: 'Name of the GKE cluster that runs Triton.',
  },
  {
    name: 'INFERPLANE_NAMESPACE',
    required: false,
    default: 'triton',
    description: 'Kubernetes namespace of the Triton workloads.',
  },
  {
    name: 'INFERPLANE_REPOSITORY_BUCKET',
    required: true,
    default: undefined,
    description: 'Cloud Storage bucket that holds the Triton model repository.',
  },
  {
    name: 'INFERPLANE_STATE_BUCKET',
    required: false,
    default: '(INFERPLANE_REPOSITORY_BUCKET)',
    description: 'Bucket for control-plane state: idempotency records and the model registry.',
  },
  {
    name: 'INFERPLANE_POLICY',
    required: false,
    default: './policy.yaml',
    description: 'Path or gs:// URI of the control-plane policy file.',
  },
  {
    name: 'INFERPLANE_EVENTS_TOPIC',
    required: false,
    default: undefined,
    description:
      'Pub/Sub topic (name or projects/P/topics/T) for outbound events; unset: none are published.',
  },
  {
    name: 'INFERPLANE_DRY_RUN',
    required: false,
    default: 'false',
    description: 'When true, decisions are logged but nothing is changed (true/false/1/0).',
  },
  {
    name: 'INFERPLANE_LOG_LEVEL',
    required: false,
    default: 'INFO',
    description: 'Lowest log severity written: DEBUG, INFO, NOTICE, WARNING, ERROR or CRITICAL.',
  },
  {
    name: 'INFERPLANE_OPERATION_DEADLINE_SECONDS',
    required: false,
    default: '480',
    description:
      'How long one invocation waits for a GKE operation before retrying later (below the 540 s limit).',
  },
  {
    name: 'INFERPLANE_STORAGE_ENDPOINT',
    required: false,
    default: undefined,
    description:
      'Cloud Storage endpoint override (local cloud); takes precedence over STORAGE_EMULATOR_HOST.',
  },
  {
    name: 'STORAGE_EMULATOR_HOST',
    required: false,
    default: undefined,
    description:
      'Cloud Storage emulator host, as read by the official client; used when no endpoint override is set.',
  },
  {
    name: 'INFERPLANE_GKE_ENDPOINT',
    required: false,
    default: undefined,
    description: 'GKE (container.googleapis.com) endpoint override (local cloud); unset: production API.',
  },
  {
    name: 'INFERPLANE_MONITORING_ENDPOINT',
    required: false,
    default: undefined,
    description:
      'Cloud Monitoring (monitoring.googleapis.com) endpoint override (local cloud); unset: production API.',
  },
  {
    name: 'INFERPLANE_ACCESS_TOKEN',
    required: false,
    default: undefined,
    description:
      'A fixed OAuth access token for the GKE API and the cluster apiserver (the local cloud, or a short test); unset: Application Default Credentials. The apiserver is always found through the GKE API (endpoint and CA).',
  },
  {
    name: 'INFERPLANE_TRITON_URL',
    required: false,
    default: 'http://{podIP}:8000',
    description:
      'Triton HTTP URL of one Triton pod, where {pool} stands for the GPU pool name, {pod} for the pod name and {podIP} for its IP; a new model version is loaded on every ready pod of the pool (found through the Kubernetes API).',
  },
  {
    name: 'INFERPLANE_SECURITY_BUCKET',
    required: false,
    default: undefined,
    description:
      'Bucket whose `bundles/<name>.yaml` objects are security policy bundles for rotateSecurity; unset: the bundle trigger is off.',
  },
  {
    name: 'PUBSUB_EMULATOR_HOST',
    required: false,
    default: undefined,
    description: 'Pub/Sub emulator host:port, as read by the official client (local cloud).',
  },
];

/** Pod IPs are routable from the VPC on VPC-native GKE (Cloud Run reaches them by Direct VPC egress). */
export const DEFAULT_TRITON_URL = 'http://{podIP}:8000';

export const LOG_LEVELS = ['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL'] as const;

const required = (what = 'a non-empty string') =>
  z.string({ error: (iss) => (iss.input === undefined ? 'is required' : `must be ${what}`) });

const optionalString = () => z.string().optional();

// Bucket naming rules (simplified): lower-case letters, digits, dashes, underscores and dots.
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const TOPIC = /^(projects\/[^/\s]+\/topics\/)?[A-Za-z][\w.~+%-]{2,254}$/;
const HOST_PORT = /^[^\s/:]+:\d{1,5}$/;

const bucket = (isRequired: boolean) => {
  const s = isRequired ? required() : z.string();
  return s.regex(BUCKET, 'must be a Cloud Storage bucket name (lower-case letters, digits, - _ .)');
};

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'], { error: 'must be one of true, false, 1, 0' })
    .optional()
    .transform((v) => (v === undefined ? fallback : v === 'true' || v === '1'));

const httpUrl = () =>
  z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    }, 'must be an http(s) URL')
    .optional();

/** Schema over the raw environment; the output is the typed `Config`. */
export const configSchema = z
  .object({
    INFERPLANE_PROJECT: required().regex(/^[^\s/]+$/, 'must be a project id (no spaces or slashes)'),
    INFERPLANE_LOCATION: z
      .string()
      .regex(/^[a-z]+-[a-z]+\d+(-[a-z])?$/, 'must be a region or zone such as us-central1 or us-central1-a')
      .default('us-central1'),
    INFERPLANE_CLUSTER: required().regex(DNS_LABEL, 'must be a GKE cluster name'),
    INFERPLANE_NAMESPACE: z
      .string()
      .regex(DNS_LABEL, 'must be a Kubernetes namespace name')
      .default('triton'),
    INFERPLANE_REPOSITORY_BUCKET: bucket(true),
    INFERPLANE_STATE_BUCKET: bucket(false).optional(),
    INFERPLANE_POLICY: z.string().default('./policy.yaml'),
    INFERPLANE_EVENTS_TOPIC: z
      .string()
      .regex(TOPIC, 'must be a topic name or projects/P/topics/T')
      .optional(),
    INFERPLANE_DRY_RUN: bool(false),
    INFERPLANE_LOG_LEVEL: z
      .string()
      .transform((v) => v.toUpperCase())
      .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }))
      .default('INFO'),
    INFERPLANE_OPERATION_DEADLINE_SECONDS: z
      .string()
      .regex(/^[1-9]\d{0,5}$/, 'must be a positive integer')
      .transform(Number)
      .default(480),
    INFERPLANE_STORAGE_ENDPOINT: httpUrl(),
    STORAGE_EMULATOR_HOST: optionalString(),
    INFERPLANE_GKE_ENDPOINT: httpUrl(),
    INFERPLANE_MONITORING_ENDPOINT: httpUrl(),
    INFERPLANE_ACCESS_TOKEN: optionalString(),
    INFERPLANE_TRITON_URL: z
      .string()
      .refine((v) => {
        try {
          const filled = v
            .replaceAll('{pool}', 'pool')
            .replaceAll('{pod}', 'pod')
            .replaceAll('{podIP}', '10.0.0.1');
          // A brace left over is an unknown or broken placeholder, which would reach Triton as is.
          if (/[{}]/.test(filled)) return false;
          const u = new URL(filled);
          return u.protocol === 'http:' || u.protocol === 'https:';
        } catch {
          return false;
        }
      }, 'must be an http(s) URL, optionally with {pool}, {pod} and {podIP}')
      .optional(),
    PUBSUB_EMULATOR_HOST: z.string().regex(HOST_PORT, 'must be host:port').optional(),
    INFERPLANE_SECURITY_BUCKET: bucket(false).optional(),
  })
  .transform(
    (e): Config => ({
      project: e.INFERPLANE_PROJECT,
      location: e.INFERPLANE_LOCATION,
      cluster: e.INFERPLANE_CLUSTER,
      namespace: e.INFERPLANE_NAMESPACE,
      repositoryBucket: e.INFERPLANE_REPOSITORY_BUCKET,
      stateBucket: e.INFERPLANE_STATE_BUCKET ?? e.INFERPLANE_REPOSITORY_BUCKET,
      policy: e.INFERPLANE_POLICY,
      eventsTopic: e.INFERPLANE_EVENTS_TOPIC,
      dryRun: e.INFERPLANE_DRY_RUN,
      logLevel: e.INFERPLANE_LOG_LEVEL,
      operationDeadlineSeconds: e.INFERPLANE_OPERATION_DEADLINE_SECONDS,
      endpoints: {
        storage: e.INFERPLANE_STORAGE_ENDPOINT ?? emulatorUrl(e.STORAGE_EMULATOR_HOST),
        gke: e.INFERPLANE_GKE_ENDPOINT,
        monitoring: e.INFERPLANE_MONITORING_ENDPOINT,
        pubsubEmulatorHost: e.PUBSUB_EMULATOR_HOST,
      },
      accessToken: e.INFERPLANE_ACCESS_TOKEN,
      tritonUrl: e.INFERPLANE_TRITON_URL ?? DEFAULT_TRITON_URL,
      securityBucket: e.INFERPLANE_SECURITY_BUCKET,
    }),
  );

export interface Config {
  project: string;
  location: string;
  cluster: string;
  namespace: string;
  repositoryBucket: string;
  /** Idempotency records and the registry; defaults to the repository bucket. */
  stateBucket: string;
  /** Path or gs:// URI of the policy file. */
  policy: string;
  eventsTopic: string | undefined;
  dryRun: boolean;
  logLevel: Severity;
  operationDeadlineSeconds: number;
  /** Local-cloud overrides; each `undefined` means the production endpoint and credentials. */
  endpoints: {
    /** Full URL (`http://127.0.0.1:PORT`), from INFERPLANE_STORAGE_ENDPOINT or STORAGE_EMULATOR_HOST. */
    storage: string | undefined;
    gke: string | undefined;
    monitoring: string | undefined;
    pubsubEmulatorHost: string | undefined;
  };
  /** A fixed access token instead of ADC (never logged: registered as a secret at load). */
  accessToken: string | undefined;
  /** Template of one Triton pod's URL: `{pool}`, `{pod}`, `{podIP}`. */
  tritonUrl: string;
  /** Bucket of security bundles (`bundles/<name>.yaml`); undefined: the bundle trigger is off. */
  securityBucket: string | undefined;
}

/** The storage client accepts STORAGE_EMULATOR_HOST with or without a scheme; give adapters a URL. */
function emulatorUrl(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  return /^https?:\/\//.test(host) ? host.replace(/\/+$/, '') : `http://${host}`;
}

/**
 * Reads and validates the configuration. Empty values count as unset (a deployment template that
 * renders `VAR=` means "not configured", not "configured to nothing").
 * @throws ConfigurationError naming every missing or bad variable.
 */
export function loadConfig(env: Env = process.env): Config {
  const input: Record<string, string> = {};
  for (const { name } of CONFIG_REFERENCE) {
    const value = env[name]?.trim();
    if (value !== undefined && value !== '') input[name] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues: ValidationIssue[] = parsed.error.issues.map((i) => ({
    path: i.path.map(String).join('.'),
    message: i.message,
  }));
  throw new ConfigurationError(
    'INVALID_CONFIGURATION',
    `Invalid configuration: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
    { details: { issues } },
  );
}

/** The README's configuration table, generated so it cannot drift from `CONFIG_REFERENCE`. */
export function configReferenceMarkdown(): string {
  const rows = CONFIG_REFERENCE.map(
    (v) =>
      `| \`${v.name}\` | ${v.required ? 'yes' : 'no'} | ${v.default === undefined ? '' : `\`${v.default}\``} | ${v.description} |`,
  );
  return ['| Variable | Required | Default | Description |', '|---|---|---|---|', ...rows].join('\n');
}
