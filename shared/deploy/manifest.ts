/**
 * `model.yaml`: the optional manifest uploaded next to a model version
 * (`gs://<incoming>/<model>/<version>/model.yaml`). It is the commit marker of a multi-file model
 * (the deploy waits for it, then checks that every listed file exists) and the place where a user
 * overrides the policy for one version. camelCase fields; unknown fields are refused, so a typo is
 * an error rather than a silently ignored setting.
 */
import { z } from 'zod';
import type { ModelPolicy } from '../policy/schema';
import { PermanentError, ValidationError, type ValidationIssue } from '../runtime/errors';
import {
  type LocatedIssue,
  locateYamlIssues,
  locateZodIssues,
  parseLocatedYaml,
  yamlFieldErrors,
} from '../runtime/yaml-issues';
import { TRITON_DATA_TYPES, type TritonDataType } from '../triton/model-config';
import { DEFAULT_DEPLOY_LIMITS, type DeployLimits } from './limits';

/** Backends the deploy function can publish (TensorFlow is legacy in Triton and not offered). */
export const DEPLOY_BACKENDS = [
  'onnxruntime',
  'tensorrt',
  'pytorch',
  'python',
  'ensemble',
  'openvino',
] as const;
export type DeployBackend = (typeof DEPLOY_BACKENDS)[number];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MODEL_NAME = /^[A-Za-z0-9_.-]+$/;
// C0 and C1 control characters: never part of a legitimate object name.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why a relative path inside a version directory is unsafe, or undefined when it is fine. */
export function relativePathProblem(path: string): string | undefined {
  if (path.length === 0) return 'is empty';
  if (CONTROL.test(path)) return 'contains a control character';
  if (path.includes('\\')) return "contains a backslash; use '/' between directories";
  if (path.startsWith('/')) return 'must be relative to the version directory, not absolute';
  const segments = path.split('/');
  if (segments.some((s) => s === '')) return "has an empty segment ('//' or a trailing '/')";
  if (segments.some((s) => s === '.' || s === '..')) return "must not contain '.' or '..' segments";
  return undefined;
}

const relativePath = z.string().superRefine((p, ctx) => {
  const problem = relativePathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `path '${p}' ${problem}` });
});

const count = z.int().min(0);
const positive = z.int().min(1);
const dataType = z.enum(TRITON_DATA_TYPES as unknown as [TritonDataType, ...TritonDataType[]], {
  error: `must be a Triton data type: ${TRITON_DATA_TYPES.join(', ')}`,
});
const dim = z.int().min(-1);

const tensorSchema = z.strictObject({
  /** Tensor name as the model knows it (PyTorch: INPUT__0, OUTPUT__0, ...). */
  name: z.string().min(1),
  /** Triton data type, TYPE_FP32 etc. */
  dataType,
  /** Shape without the batch dimension when maxBatchSize > 0; -1 marks a variable dimension. */
  dims: z.array(dim).min(1, 'needs at least one dimension (a scalar is dims [1] with reshape [])'),
  /** Shape the model sees, when it differs from dims (Triton's `reshape { shape }`). */
  reshape: z.array(dim).optional(),
  /** The input may be left out of a request. */
  optional: z.boolean().optional(),
});

const warmupInputSchema = z
  .strictObject({
    dataType,
    dims: z.array(z.int().min(1)),
    zeroData: z.literal(true).optional(),
    randomData: z.literal(true).optional(),
    /** A file in the version directory's `warmup/` folder, as Triton expects. */
    inputDataFile: z.string().min(1).optional(),
  })
  .superRefine((w, ctx) => {
    const sources = [w.zeroData, w.randomData, w.inputDataFile].filter((s) => s !== undefined).length;
    if (sources !== 1) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of zeroData, randomData, inputDataFile' });
    }
  });

const versionPolicySchema = z.union(
  [
    z.literal('all'),
    z.strictObject({ latest: positive }),
    z.strictObject({ all: z.literal(true) }),
    z.strictObject({ specific: z.array(positive).min(1) }),
  ],
  { error: "must be 'all', { latest: N }, { all: true } or { specific: [versions] }" },
);

const stringMap = z.record(z.string().min(1), z.string().min(1));

export const manifestSchema = z
  .strictObject({
    /**
     * The model's backend. Optional when the version directory holds a default model file
     * (model.onnx, model.plan, model.pt, model.py); required for ensembles and OpenVINO.
     */
    backend: z.enum(DEPLOY_BACKENDS).optional(),
    /**
     * Paths, relative to the version directory, that must all exist before the model is published:
     * the manifest is the commit marker of a multi-file model (for example `model.onnx/model.onnx`
     * and `model.onnx/weights.bin`). Upload the manifest last.
     */
    files: z.array(relativePath).optional(),
    /** GPU class from the policy (`l4`, ...); defaults to the policy's. */
    gpuClass: z.string().min(1).optional(),
    /** Triton's max_batch_size; 0 turns batching off. Defaults to the policy's. */
    maxBatchSize: count.optional(),
    /** Triton's dynamic batcher; used only when maxBatchSize > 0. */
    dynamicBatching: z
      .strictObject({
        maxQueueDelayMicroseconds: count.optional(),
        /** Leave unset except for TensorRT models with several optimization profiles. */
        preferredBatchSize: z.array(positive).min(1).optional(),
        /** Responses in request order. */
        preserveOrdering: z.boolean().optional(),
      })
      .optional(),
    /** Model instances per Triton server (Triton's instance_group). */
    instances: z
      .strictObject({ count: positive.optional(), kind: z.enum(['gpu', 'cpu']).optional() })
      .optional(),
    /** Triton server replicas (pods) serving the model. */
    replicas: z.strictObject({ min: positive.optional(), max: positive.optional() }).optional(),
    /** Extra names that route to this version, DNS labels such as `prod` or `canary`. */
    aliases: z
      .array(z.string().regex(DNS_LABEL, 'must be a DNS label (lowercase letters, digits, -)'))
      .optional(),
    /**
     * Versions Triton keeps loaded. Unset (the usual case): only the version being deployed, which
     * makes publishing atomic. Set it to serve several versions side by side.
     */
    versionPolicy: versionPolicySchema.optional(),
    /** Warm-up requests Triton runs before the model is ready (Triton's model_warmup). */
    warmup: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          batchSize: count,
          inputs: z.record(z.string().min(1), warmupInputSchema),
          count: positive.optional(),
        }),
      )
      .optional(),
    /** Inputs, for backends that need a full config (PyTorch, Python, ensemble). */
    inputs: z.array(tensorSchema).min(1).optional(),
    /** Outputs, for backends that need a full config. */
    outputs: z.array(tensorSchema).min(1).optional(),
    /** Ensemble pipeline (backend: ensemble). */
    ensemble: z
      .strictObject({
        steps: z
          .array(
            z.strictObject({
              model: z.string().regex(MODEL_NAME, 'must be a model name ([A-Za-z0-9_.-])'),
              /** -1: the latest loaded version of that model. */
              version: z.int().min(-1).default(-1),
              /** Step model's input name -> ensemble tensor name. */
              inputMap: stringMap,
              /** Step model's output name -> ensemble tensor name. */
              outputMap: stringMap,
            }),
          )
          .min(1),
      })
      .optional(),
    /** Backend parameters (Triton's `parameters { key, value { string_value } }`); values become strings. */
    parameters: z
      .record(
        z.string().min(1),
        z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v)),
      )
      .optional(),
    /** File name Triton loads in the version directory instead of the backend's default. */
    defaultModelFilename: z
      .string()
      .min(1)
      .refine((f) => relativePathProblem(f) === undefined && !f.includes('/'), 'must be a plain file name')
      .optional(),
  })
  .superRefine((m, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if ((m.inputs === undefined) !== (m.outputs === undefined)) {
      issue([m.inputs === undefined ? 'inputs' : 'outputs'], 'inputs and outputs are declared together');
    }
    const names = new Map<string, string>();
    for (const side of ['inputs', 'outputs'] as const) {
      (m[side] ?? []).forEach((t, i) => {
        const seen = names.get(t.name);
        if (seen) issue([side, i, 'name'], `tensor name '${t.name}' is already used by ${seen}`);
        else names.set(t.name, `${side}.${i}`);
      });
    }
    if (m.ensemble && m.backend !== 'ensemble') issue(['ensemble'], 'ensemble needs backend: ensemble');
    if (m.backend === 'ensemble' && m.instances) {
      issue(['instances'], 'an ensemble has no instances of its own; set them on its steps');
    }
    if (m.replicas?.min !== undefined && m.replicas.max !== undefined && m.replicas.min > m.replicas.max) {
      issue(['replicas', 'min'], `min ${m.replicas.min} is above max ${m.replicas.max}`);
    }
    const files = m.files ?? [];
    files.forEach((f, i) => {
      if (files.indexOf(f) !== i) issue(['files', i], `'${f}' is listed twice`);
    });
    if (m.files?.includes('model.yaml')) {
      issue(['files', m.files.indexOf('model.yaml')], 'the manifest itself is not a model file');
    }
    (m.aliases ?? []).forEach((a, i, all) => {
      if (all.indexOf(a) !== i) issue(['aliases', i], `alias '${a}' is listed twice`);
    });
  });

export type Manifest = z.output<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;

export type ManifestIssue = LocatedIssue;

/** model.yaml is refused; `issues` lists every problem with its path and line. */
export class InvalidManifestError extends ValidationError {
  override name = 'InvalidManifestError';
  override readonly issues: readonly ManifestIssue[];

  constructor(issues: readonly ManifestIssue[]) {
    super(
      'model.yaml',
      issues.map((i) => ({
        path: i.path,
        message: i.line === undefined ? i.message : `${i.message} (line ${i.line}, column ${i.column})`,
      })),
    );
    this.issues = issues;
  }
}

export type ManifestLimits = Pick<
  DeployLimits,
  'maxManifestBytes' | 'maxFilesPerModel' | 'maxManifestAliasCount'
>;

/**
 * Parses model.yaml.
 * @throws PermanentError FILE_TOO_LARGE over `maxManifestBytes`; InvalidManifestError (a
 *   ValidationError, reason INVALID_INPUT) listing every problem with its path and line.
 */
export function parseManifest(text: string, limits: Partial<ManifestLimits> = {}): Manifest {
  const max = { ...DEFAULT_DEPLOY_LIMITS, ...definedOnly(limits) };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > max.maxManifestBytes) {
    throw new PermanentError(
      'FILE_TOO_LARGE',
      `model.yaml is ${bytes} bytes, over the ${max.maxManifestBytes}-byte limit for a manifest (maxManifestBytes)`,
      { details: { sizeBytes: bytes, limitBytes: max.maxManifestBytes } },
    );
  }

  const { yaml, syntaxIssues } = parseLocatedYaml(text);
  if (syntaxIssues.length > 0) throw new InvalidManifestError(syntaxIssues);

  let data: unknown;
  try {
    // maxAliasCount bounds the expansion of aliases: a few kilobytes of `*a` can otherwise
    // expand into gigabytes ("billion laughs").
    data = yaml.doc.toJS({ maxAliasCount: max.maxManifestAliasCount });
  } catch (err) {
    throw new InvalidManifestError([
      {
        path: '',
        message: `YAML aliases expand too much (more than ${max.maxManifestAliasCount} alias uses, the limit maxManifestAliasCount): ${err instanceof Error ? err.message : String(err)}`,
      },
    ]);
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new InvalidManifestError([{ path: '', message: 'model.yaml must be a YAML mapping of fields' }]);
  }

  // zod drops a `__proto__` key of a map silently; a setting must never vanish without a word.
  const protoKeys: ValidationIssue[] = [];
  findProtoKeys(data, '', protoKeys);
  if (protoKeys.length > 0) {
    throw new InvalidManifestError(locateYamlIssues(protoKeys, yaml));
  }

  const parsed = manifestSchema.safeParse(data, { error: yamlFieldErrors });
  const limitIssues: ValidationIssue[] = [];
  if (parsed.success && (parsed.data.files?.length ?? 0) > max.maxFilesPerModel) {
    limitIssues.push({
      path: 'files',
      message: `lists ${parsed.data.files?.length} files, over the limit of ${max.maxFilesPerModel} (maxFilesPerModel)`,
    });
  }
  if (!parsed.success || limitIssues.length > 0) {
    throw new InvalidManifestError(locateZodIssues(parsed.error?.issues ?? [], yaml, limitIssues));
  }
  return parsed.data;
}

/**
 * The files of `manifest.files` not yet present. `present` are object paths relative to the
 * version directory. An empty result means the multi-file model is complete.
 */
export function missingManifestFiles(manifest: Pick<Manifest, 'files'>, present: Iterable<string>): string[] {
  const have = new Set(present);
  return (manifest.files ?? []).filter((f) => !have.has(f));
}

/**
 * The model's policy with the manifest's overrides (gpuClass, maxBatchSize, queue delay,
 * instance count, replicas), for the rollout; the Triton config itself is built by buildModelConfig.
 * @throws PermanentError INVALID_REPLICAS when the merged min is above the merged max.
 */
export function applyManifestToPolicy<P extends ModelPolicy>(policy: P, manifest?: Manifest): P {
  if (!manifest) return policy;
  const replicas = { ...policy.replicas, ...definedOnly(manifest.replicas ?? {}) };
  if (replicas.min > replicas.max) {
    throw new PermanentError(
      'INVALID_REPLICAS',
      `model.yaml sets replicas min ${replicas.min} and max ${replicas.max} (with the policy's values for what it leaves out); min must not be above max`,
    );
  }
  return {
    ...policy,
    gpuClass: manifest.gpuClass ?? policy.gpuClass,
    maxBatchSize: manifest.maxBatchSize ?? policy.maxBatchSize,
    dynamicBatching: {
      ...policy.dynamicBatching,
      ...definedOnly({ maxQueueDelayMicroseconds: manifest.dynamicBatching?.maxQueueDelayMicroseconds }),
    },
    instanceCount: manifest.instances?.count ?? policy.instanceCount,
    replicas,
  };
}

function findProtoKeys(value: unknown, path: string, issues: ValidationIssue[], depth = 0): void {
  if (typeof value !== 'object' || value === null || depth > 32) return;
  for (const [k, v] of Object.entries(value)) {
    const p = path === '' ? k : `${path}.${k}`;
    if (k === '__proto__') issues.push({ path: p, message: "'__proto__' is not allowed as a key" });
    else findProtoKeys(v, p, issues, depth + 1);
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
