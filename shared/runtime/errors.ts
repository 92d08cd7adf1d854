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

  constructor(what: string, issues: readonly ValidationIssue[], options?: { cause?: unknown }) {
    const list = issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
    super('INVALID_INPUT', `${what} is invalid: ${list}`, {
      cause: options?.cause,
      details: { issues: issues.map((i) => ({ ...i })) },
    });
    this.issues = issues;
  }
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
