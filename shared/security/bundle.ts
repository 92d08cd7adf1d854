/**
 * Security policy bundles: YAML files uploaded to the security bucket as `bundles/<name>.yaml`,
 * `kind: SecurityBundle`. A valid bundle replaces the policy file's `security.networkPolicy` until
 * another bundle is applied; a bad one is refused with every problem named, before anything
 * changes. `shared/security/bundle.schema.json` is its JSON Schema, for editors.
 *
 * ```yaml
 * apiVersion: inferplane.dev/v1
 * kind: SecurityBundle
 * metadata: { name: tighten-2026-12 }
 * networkPolicy:
 *   allowNamespaces: [gateway]
 *   allowCidrs: [10.8.0.0/28]
 * ```
 */
import { z } from 'zod';
import { networkPolicySchema } from '../policy/schema';
import { PermanentError } from '../runtime/errors';
import {
  type LocatedIssue,
  locateZodIssues,
  parseLocatedYaml,
  yamlFieldErrors,
} from '../runtime/yaml-issues';

/** Bundles are the objects under this prefix; any other object of the bucket is acknowledged and skipped. */
export const BUNDLE_PREFIX = 'bundles/';
const BUNDLE_NAME = /^bundles\/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)\.ya?ml$/;
/** A bundle larger than this is refused unread (a real one is a few hundred bytes). */
export const MAX_BUNDLE_BYTES = 64 * 1024;

export const securityBundleSchema = z.strictObject({
  $schema: z.string().optional(),
  apiVersion: z.literal('inferplane.dev/v1'),
  kind: z.literal('SecurityBundle'),
  metadata: z
    .strictObject({
      name: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a lower-case DNS label'),
      description: z.string().max(500).optional(),
    })
    .optional(),
  networkPolicy: networkPolicySchema,
});

export type SecurityBundle = z.output<typeof securityBundleSchema>;

/** Which bundle an object name is, or why it is not one. */
export function classifyBundleObject(
  name: string,
): { kind: 'bundle'; bundle: string } | { kind: 'ignore'; reason: string } {
  if (!name.startsWith(BUNDLE_PREFIX))
    return { kind: 'ignore', reason: `${name} is not under ${BUNDLE_PREFIX}` };
  const m = BUNDLE_NAME.exec(name);
  if (!m) {
    return { kind: 'ignore', reason: `${name} is not a bundle name (bundles/<lower-case-name>.yaml)` };
  }
  return { kind: 'bundle', bundle: m[1] as string };
}

/** A bundle that cannot be used; `issues` names every problem with its path and line. */
export class InvalidBundleError extends PermanentError {
  override name = 'InvalidBundleError';
  readonly issues: readonly LocatedIssue[];
  constructor(source: string, issues: readonly LocatedIssue[]) {
    const list = issues
      .map((i) => `${i.path || '(root)'}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`)
      .join('; ');
    super('INVALID_BUNDLE', `Security bundle ${source} is invalid: ${list}`, {
      details: { source, issues: issues.map((i) => ({ ...i })) },
    });
    this.issues = issues;
  }
}

/** @throws InvalidBundleError listing every problem of the file. */
export function parseSecurityBundle(text: string, source: string): SecurityBundle {
  if (Buffer.byteLength(text) > MAX_BUNDLE_BYTES) {
    throw new InvalidBundleError(source, [
      { path: '', message: `a bundle is at most ${MAX_BUNDLE_BYTES} bytes` },
    ]);
  }
  const { yaml, syntaxIssues } = parseLocatedYaml(text);
  if (syntaxIssues.length > 0) throw new InvalidBundleError(source, syntaxIssues);
  const data: unknown = yaml.doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new InvalidBundleError(source, [{ path: '', message: 'a bundle must be a YAML mapping' }]);
  }
  const parsed = securityBundleSchema.safeParse(data, { error: yamlFieldErrors });
  if (!parsed.success) throw new InvalidBundleError(source, locateZodIssues(parsed.error.issues, yaml, []));
  return parsed.data;
}

/** JSON Schema of a bundle as written, for editors. */
export function exportBundleJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(securityBundleSchema, { io: 'input', unrepresentable: 'any' });
  return {
    ...schema,
    $id: 'https://inferplane.dev/schemas/security-bundle.schema.json',
    title: 'inferplane SecurityBundle',
  };
}

/** The record of the bundle in force (in the state bucket): what the next ticks apply. */
export const activeBundleRecordSchema = z.strictObject({
  bucket: z.string().min(1),
  name: z.string().min(1),
  generation: z.string().regex(/^\d+$/),
  appliedAt: z.string().min(1),
});
export type ActiveBundleRecord = z.output<typeof activeBundleRecordSchema>;

export const ACTIVE_BUNDLE_OBJECT = '_inferplane/security/active-bundle.json';
