/**
 * Loads the policy file: YAML syntax, then structure (zod) and cross-field rules, reporting every
 * problem of the file in one error with its path and, where known, its line.
 */
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigurationError, type ValidationIssue } from '../runtime/errors';
import { crossFieldIssues } from './checks';
import { type ModelPolicy, type Policy, policySchema } from './schema';

export interface PolicyIssue extends ValidationIssue {
  /** 1-based position in the file, when the path (or its nearest parent) exists in it. */
  line?: number;
  column?: number;
}

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
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InvalidPolicyError(
      source,
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return {
          path: '',
          message: `YAML syntax error at line ${line}, column ${col}: ${e.message.split('\n')[0]}`,
          line,
          column: col,
        };
      }),
    );
  }

  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new InvalidPolicyError(source, [{ path: '', message: 'the policy must be a YAML mapping' }]);
  }

  const parsed = policySchema.safeParse(data, {
    error: (iss) => (iss.code === 'invalid_type' && iss.input === undefined ? 'is required' : undefined),
  });
  const issues: ValidationIssue[] = [
    ...(parsed.success ? [] : parsed.error.issues.flatMap(toIssues)),
    ...crossFieldIssues(data),
  ];
  if (issues.length > 0 || !parsed.success) {
    const located = issues.map((issue, order) => ({
      issue: locate(issue, doc.contents, lineCounter),
      order,
    }));
    // File order reads best; issues without a position keep their relative order at the end.
    located.sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || a.order - b.order);
    throw new InvalidPolicyError(
      source,
      located.map((l) => l.issue),
    );
  }
  return parsed.data;
}

function toIssues(issue: z.core.$ZodIssue): ValidationIssue[] {
  const path = issue.path.map(String);
  // One issue per unknown field, at the field itself: that is what the user has to delete or fix.
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path: [...path, k].join('.'), message: 'unknown field' }));
  }
  return [{ path: path.join('.'), message: issue.message }];
}

/** Finds the line of the issue's field, or of its nearest parent that the file contains. */
function locate(issue: ValidationIssue, contents: unknown, lineCounter: LineCounter): PolicyIssue {
  const segments = issue.path === '' ? [] : issue.path.split('.');
  for (let n = segments.length; n > 0; n--) {
    const offset = offsetOf(contents, segments.slice(0, n));
    if (offset !== undefined) {
      const { line, col } = lineCounter.linePos(offset);
      return { ...issue, line, column: col };
    }
  }
  return issue;
}

/** Offset of a mapping entry's key (where a reader looks for a field) or of a sequence item. */
function offsetOf(root: unknown, segments: string[]): number | undefined {
  let node: unknown = root;
  let offset: number | undefined;
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
      if (!pair) return undefined;
      offset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
      node = pair.value;
    } else if (isSeq(node) && /^\d+$/.test(segment)) {
      const item: unknown = node.items[Number(segment)];
      if (!isNode(item)) return undefined;
      offset = item.range?.[0];
      node = item;
    } else {
      return undefined;
    }
  }
  return offset;
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
