/**
 * Error taxonomy. Delivery depends on it:
 * - RetryableError: rethrown by the handler, so the platform redelivers the event.
 * - PermanentError: bad input or a refused plan; logged, published as a rejection event, and the
 *   event is acknowledged, so a poison message never loops.
 * Errors that are neither (programming errors, unknown client failures) are treated as retryable
 * by the runtime: a redelivery is cheaper than a lost event, and the idempotency layer makes it safe.
 */
export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError';
  /** Machine-readable reason, stable across releases (used in rejection events and logs). */
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    reason: string,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.details = options?.details;
  }
}

export class RetryableError extends ControlPlaneError {
  override name = 'RetryableError';
}

export class PermanentError extends ControlPlaneError {
  override name = 'PermanentError';
}

/** Input that fails validation. `issues` lists every problem, each with its real path. */
export class ValidationError extends PermanentError {
  override name = 'ValidationError';
  readonly issues: readonly ValidationIssue[];

  constructor(
    what: string,
    issues: readonly ValidationIssue[],
    options?: { cause?: unknown; reason?: string },
  ) {
    const list = issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
    super(options?.reason ?? 'INVALID_INPUT', `${what} is invalid: ${list}`, {
      cause: options?.cause,
      details: { issues: issues.map((i) => ({ ...i })) },
    });
    this.issues = issues;
  }
}

/** One bound of `shared/deploy/limits.ts` that an input went over. */
export interface LimitIssue extends ValidationIssue {
  /** The limit's name in `DeployLimits` (`maxRank`, `maxTensorsPerModel`, ...). */
  limit: string;
  /** What the input had (a count, a size, a value). */
  value: number | string;
  /** The limit's value. */
  max: number | string;
}

/**
 * Input over one of the deploy limits: reason `LIMIT_EXCEEDED`, and every issue names the limit,
 * the value seen and the bound, at the path of the offending field.
 */
export class LimitExceededError extends ValidationError {
  override name = 'LimitExceededError';
  declare readonly issues: readonly LimitIssue[];

  constructor(what: string, issues: readonly LimitIssue[], options?: { cause?: unknown }) {
    super(what, issues, { ...options, reason: 'LIMIT_EXCEEDED' });
  }
}

/** A LimitIssue whose message says the limit, the value and the bound in one sentence. */
export function limitIssue(
  path: string,
  limit: string,
  value: number | bigint | string,
  max: number | bigint | string,
  what: string,
): LimitIssue {
  const v = typeof value === 'bigint' ? value.toString() : value;
  const m = typeof max === 'bigint' ? max.toString() : max;
  return { path, limit, value: v, max: m, message: `${what} is ${v}, over the limit ${limit} = ${m}` };
}

export interface ValidationIssue {
  /** Dotted path to the offending field, e.g. `message.data.incident.state`. */
  path: string;
  message: string;
}

/** Configuration (environment or policy file) that cannot be used. Fatal at load time. */
export class ConfigurationError extends PermanentError {
  override name = 'ConfigurationError';
}

export function isPermanent(err: unknown): err is PermanentError {
  return err instanceof PermanentError;
}

export function isRetryable(err: unknown): boolean {
  return !isPermanent(err);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

// C0 and C1 controls, and the Unicode format characters that reorder or hide text (bidi
// embeddings, overrides and isolates, zero-width characters, the BOM, line and paragraph separators).
const UNSAFE_CHARACTERS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/g;

/**
 * User bytes made safe to quote in a message or a log line: control characters and the
 * invisible or reordering format characters (U+202E RIGHT-TO-LEFT OVERRIDE, ...) become `\\u202e`
 * escapes, so a quoted name reads as what it is. Long values are cut at `max` characters.
 */
export function escapeUserText(value: string, max = 200): string {
  const cut = value.length > max ? `${value.slice(0, max)}...` : value;
  return cut.replace(UNSAFE_CHARACTERS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `escapeUserText` in double quotes: how messages quote a name the user chose. */
export function quoteUserText(value: string, max = 200): string {
  return `"${escapeUserText(value, max).replace(/"/g, '\\"')}"`;
}
