/** Errors in the shape Google APIs put on the wire: `{"error":{code,message,status,details}}`. */

const HTTP_OF_STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  INTERNAL: 500,
  UNKNOWN: 500,
  NOT_IMPLEMENTED: 501,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

/** The canonical status Google uses for an HTTP code, for injected faults. */
export function statusOfHttp(code: number): string {
  const byCode: Record<number, string> = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    409: 'ABORTED',
    429: 'RESOURCE_EXHAUSTED',
    499: 'CANCELLED',
    500: 'INTERNAL',
    501: 'UNIMPLEMENTED',
    503: 'UNAVAILABLE',
    504: 'DEADLINE_EXCEEDED',
  };
  return byCode[code] ?? (code >= 500 ? 'UNKNOWN' : 'FAILED_PRECONDITION');
}

export class GkeApiError extends Error {
  override name = 'GkeApiError';
  readonly status: string;
  readonly httpStatus: number;
  readonly details: readonly Record<string, unknown>[];

  constructor(status: string, message: string, details: readonly Record<string, unknown>[] = []) {
    super(message);
    this.status = status;
    this.httpStatus = HTTP_OF_STATUS[status] ?? 500;
    this.details = details;
  }

  toJSON(): { error: Record<string, unknown> } {
    return {
      error: {
        code: this.httpStatus,
        message: this.message,
        status: this.status,
        ...(this.details.length > 0 ? { details: this.details } : {}),
      },
    };
  }
}

export function invalidArgument(problems: readonly string[]): GkeApiError {
  return new GkeApiError('INVALID_ARGUMENT', problems.join(' '));
}

export function notFound(what: string): GkeApiError {
  return new GkeApiError('NOT_FOUND', `Not found: ${what}.`);
}

/** What the real API answers when a cluster already runs a mutating operation. */
export function clusterBusy(operationId: string, clusterName: string): GkeApiError {
  return new GkeApiError('FAILED_PRECONDITION', `Cluster is running incompatible operation ${operationId}.`, [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'CLUSTER_ALREADY_HAS_OPERATION',
      domain: 'container.googleapis.com',
      metadata: { operation: operationId, cluster: clusterName },
    },
  ]);
}
