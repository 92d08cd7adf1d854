/**
 * Loads the policy file: YAML syntax, then structure (zod) and cross-field rules, reporting every
 * problem of the file in one error with its path and, where known, its line.
 */
import { z } from 'zod';
import { ConfigurationError } from '../runtime/errors';
import {
  type LocatedIssue,
  locateZodIssues,
  parseLocatedYaml,
  yamlFieldErrors,
} from '../runtime/yaml-issues';
import { crossFieldIssues } from './checks';
import { type ModelPolicy, type Policy, policySchema } from './schema';

export type PolicyIssue = LocatedIssue;

/** A policy file that cannot be used; `issues` lists every problem. */
export class InvalidPolicyError extends ConfigurationError {
  override name = 'InvalidPolicyError';
  readonly issues: readonly PolicyIssue[];

  constructor(source: string, issues: readonly PolicyIssue[]) {
    const list = issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
    super('INVALID_POLICY', `Invalid policy ${source}: ${list}`, {
      details: { source, issues: issues.map((i) => ({ ...i })) },
    });
    this.issues = issues;
  }
}

/**
 * @param source where the text came from (file path or gs:// URI), for messages only.
 * @throws InvalidPolicyError listing every problem.
 */
export function loadPolicy(text: string, source = 'policy'): Policy {
  const { yaml, syntaxIssues } = parseLocatedYaml(text);
  if (syntaxIssues.length > 0) throw new InvalidPolicyError(source, syntaxIssues);

  const data: unknown = yaml.doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new InvalidPolicyError(source, [{ path: '', message: 'the policy must be a YAML mapping' }]);
  }

  const parsed = policySchema.safeParse(data, { error: yamlFieldErrors });
  const crossField = crossFieldIssues(data);
  if (!parsed.success || crossField.length > 0) {
    throw new InvalidPolicyError(source, locateZodIssues(parsed.error?.issues ?? [], yaml, crossField));
  }
  return parsed.data;
}

/** The model's effective policy: modelDefaults with the model's overrides, nested objects field by field. */
export function resolveModelPolicy(policy: Policy, modelName: string): ModelPolicy & { name: string } {
  const d = policy.modelDefaults;
  const o = policy.models[modelName] ?? {};
  return {
    name: modelName,
    gpuClass: o.gpuClass ?? d.gpuClass,
    maxBatchSize: o.maxBatchSize ?? d.maxBatchSize,
    dynamicBatching: { ...d.dynamicBatching, ...definedOnly(o.dynamicBatching) },
    instanceCount: o.instanceCount ?? d.instanceCount,
    replicas: { ...d.replicas, ...definedOnly(o.replicas) },
    autoscaling: { ...d.autoscaling, ...definedOnly(o.autoscaling) },
    readinessTimeoutSeconds: o.readinessTimeoutSeconds ?? d.readinessTimeoutSeconds,
  };
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** JSON Schema of the file as written (defaults make fields optional), for editors. */
export function exportPolicyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(policySchema, { io: 'input', unrepresentable: 'any' });
  return {
    ...schema,
    $id: 'https://inferplane.dev/schemas/policy.schema.json',
    title: 'inferplane ControlPlanePolicy',
  };
}
