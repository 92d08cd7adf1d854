/**
 * Kubernetes API errors as the apiserver writes them: a `Status` body whose `reason` and `code`
 * callers branch on (client-node surfaces them as `ApiException.code` and the raw body text).
 */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
}

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): KubeStatus {
    return failureStatus(this.code, this.reason, this.message, this.details);
  }
}

export function failureStatus(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/** `deployments.apps` / `configmaps`: how the apiserver names a resource in messages. */
export function qualifiedResource(plural: string, group: string): string {
  return group ? `${plural}.${group}` : plural;
}

export function notFound(plural: string, group: string, name: string): KubeApiError {
  return new KubeApiError(404, 'NotFound', `${qualifiedResource(plural, group)} "${name}" not found`, {
    name,
    ...(group ? { group } : {}),
    kind: plural,
  });
}

export function alreadyExists(plural: string, group: string, name: string): KubeApiError {
  return new KubeApiError(
    409,
    'AlreadyExists',
    `${qualifiedResource(plural, group)} "${name}" already exists`,
    { name, ...(group ? { group } : {}), kind: plural },
  );
}

export function staleConflict(plural: string, group: string, name: string): KubeApiError {
  return new KubeApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(plural, group)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, ...(group ? { group } : {}), kind: plural },
  );
}

export function badRequest(message: string): KubeApiError {
  return new KubeApiError(400, 'BadRequest', message);
}

/** 422 with one cause per field, worded like apimachinery's field.ErrorList. */
export function invalid(
  kind: string,
  group: string,
  name: string,
  causes: readonly StatusCause[],
): KubeApiError {
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const joined = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  return new KubeApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, {
    name,
    ...(group ? { group } : {}),
    kind,
    causes: [...causes],
  });
}

/** The body for a fault injected by the common server (503 by default). */
export function injectedStatus(code: number): KubeStatus {
  const reasons: Record<number, string> = {
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return failureStatus(code, reasons[code] ?? 'InternalError', 'injected fault');
}
